"""Trial checkpoints: a killed trial resumes from its last saved epoch and ends exactly as an
uninterrupted one would (bit for bit on CPU).

A checkpoint is one file, ``CHECKPOINT_DIR/<trial id>.pt``, replaced atomically every N epochs
and removed when the trial finishes. It is named by the trial id (the hash of the trial's
configuration), so a ``--resume`` that starts a new Ray Tune experiment still finds it. It
holds the method's state (model, optimisers, per-sample state, generators), the harness's
position and accumulators, and every random generator the run draws from.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch


def path_for(cfg: dict) -> Path | None:
    """Where this trial's checkpoint lives, or None when the trial does not checkpoint."""
    if not cfg.get("checkpoint_dir") or not cfg.get("checkpoint_every") or not cfg.get("trial_id"):
        return None
    return Path(cfg["checkpoint_dir"]) / f"{cfg['trial_id']}.pt"


def rng_state(gen: torch.Generator) -> dict:
    return {"gen": gen.get_state(), "torch": torch.get_rng_state(), "numpy": np.random.get_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(gen: torch.Generator, state: dict) -> None:
    gen.set_state(state["gen"])
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)       # a kill mid-write leaves the previous checkpoint whole


def load(path: Path | None) -> dict | None:
    if path is None or not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)
