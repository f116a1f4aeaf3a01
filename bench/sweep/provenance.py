"""Where a row came from: the project's version and git commit (with a dirty flag when run
from a checkout with uncommitted changes), the library versions, read once per process."""
from __future__ import annotations

import functools
import subprocess
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent   # bench/sweep/provenance.py -> the checkout


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


@functools.lru_cache(maxsize=1)
def provenance() -> dict:
    """``code_version`` ("0.1.0+<commit>[-dirty]", or the bare version outside a checkout) and
    the torch / torchvision / ray versions."""
    commit = _git("rev-parse", "--short=12", "HEAD") if (ROOT / ".git").exists() else None
    code = _version("reweight-bench") or "unknown"
    if commit:
        dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
        code += f"+{commit}" + ("-dirty" if dirty else "")
    return {"code_version": code, "torch_version": _version("torch"),
            "torchvision_version": _version("torchvision"), "ray_version": _version("ray")}
