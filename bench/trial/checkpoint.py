"""Trial checkpoints: a killed trial resumes from its last saved epoch and ends exactly as an
uninterrupted one would (bit for bit on CPU).

A checkpoint is one file, ``CHECKPOINT_DIR/<trial id>.pt``, replaced atomically every N epochs
and removed when the trial finishes. It is named by the trial id (the hash of the trial's
configuration), so a ``--resume`` that starts a new Ray Tune experiment still finds it. It
holds the method's state (model, optimisers, per-sample state, generators), the harness's
position and accumulators, and every random generator the run draws from.

It holds only what ``torch.load(weights_only=True)`` reads (tensors, numbers, strings, lists,
dicts; numpy's generator state as a tensor), and is read that way: a file planted in its place
runs no code. A file that does not load is moved aside (``<id>.pt.bad-<time>``) with a warning,
and the trial starts again from epoch 0.
"""
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch


def path_for(cfg: dict) -> Path | None:
    """Where this trial's checkpoint lives, or None when the trial does not checkpoint."""
    if not cfg.get("checkpoint_dir") or not cfg.get("checkpoint_every") or not cfg.get("trial_id"):
        return None
    return Path(cfg["checkpoint_dir"]) / f"{cfg['trial_id']}.pt"


def rng_state(gen: torch.Generator) -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()   # keys: a numpy array, kept as a tensor
    return {"gen": gen.get_state(), "torch": torch.get_rng_state(),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(gen: torch.Generator, state: dict) -> None:
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)       # a kill mid-write leaves the previous checkpoint whole


def load(path: Path | None) -> dict | None:
    """The checkpoint at ``path`` (tensors and plain values only), or None when there is none or
    it does not load (then it is moved aside)."""
    if path is None or not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:   # garbage, a truncated file, or one that would run code
        set_aside(path, exc)
        return None


def set_aside(path: Path, exc: Exception) -> Path:
    """Move a checkpoint that cannot be used to ``<id>.pt.bad-<time>`` (kept for a look, never
    read again), with a warning; the trial starts from epoch 0."""
    bad = path.with_name(f"{path.name}.bad-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, bad)
    warnings.warn(f"checkpoint {path} cannot be used ({_reason(exc)}); moved to {bad.name}, "
                  "the trial starts again from epoch 0", RuntimeWarning, stacklevel=2)
    return bad


def _reason(exc: Exception) -> str:
    """The line of ``exc`` that says what is wrong (torch's weights-only refusal is many lines
    of advice around one: 'Unsupported global: GLOBAL io.open ...')."""
    text = str(exc).split("WeightsUnpickler error:")[-1].strip()
    return f"{type(exc).__name__}: {text.splitlines()[0].split('. ')[0][:200] if text else ''}"
