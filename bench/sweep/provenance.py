"""Where a row came from: the project's version and git commit (with a dirty flag when run
from a checkout with uncommitted changes), the library versions, read once per process; and the
machine a trial ran on (``machine``: its CPU's kernels change the arithmetic, so two machines of
one commit can give two numbers)."""
from __future__ import annotations

import functools
import os
import platform
import re
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


#: the CPU flags that decide which kernels torch runs (x86 vector and matrix extensions; ARM's)
VECTOR_FLAGS = re.compile(r"^(sse|sse\d.*|ssse3|avx.*|fma|f16c|amx.*|asimd.*|sve.*|sme\d*)$")


@functools.lru_cache(maxsize=1)
def _cpu() -> tuple[str, str]:
    """The CPU's model and its vector extensions (sorted, space-separated), from /proc/cpuinfo
    where there is one; else the platform's word for it and no flags."""
    model, flags = "", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "cpu model", "hardware") and not model:
                    model = value.strip()
                elif key in ("flags", "features") and not flags:
                    flags = {w for w in value.split() if VECTOR_FLAGS.match(w)}
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), " ".join(sorted(flags))


def machine() -> dict:
    """Where a trial runs: ``cpu`` (model), ``cpu_flags`` (its vector extensions: avx2, avx512f,
    amx_tile, ...), ``cpu_capability`` (the kernels torch picked: AVX2, AVX512, ...), ``cpus``,
    ``gpu`` (the CUDA device's name, "" without one) and torch's ``threads``. Never raises."""
    import torch

    cpu, flags = _cpu()
    out = {"cpu": cpu, "cpu_flags": flags, "cpus": os.cpu_count() or 0, "threads": torch.get_num_threads()}
    try:
        out["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except Exception:   # an older torch
        out["cpu_capability"] = ""
    try:
        out["gpu"] = torch.cuda.get_device_name() if torch.cuda.is_available() else ""
    except Exception:   # a driver that does not answer
        out["gpu"] = ""
    return out
