"""Learning-rate schedules as pure functions of the (fractional) epoch t.

- ``cosine_restarts``: the FSR noise schedule: cosine periods of 1, 2, 4, ... epochs, the peak
  multiplied by ``decay`` (0.9) at each restart.
- ``step``: the long-tail schedule of Cui et al.: a warm-up rising linearly per step from 0 to
  the base rate over ``warmup`` epochs, then the base rate times ``factors[k]`` from epoch
  ``milestones[k]`` on.
- ``constant``.
"""
from __future__ import annotations

import math


def cosine_restarts(lr: float, t: float, first: float = 1.0, mult: float = 2.0, decay: float = 0.9) -> float:
    start, length, k = 0.0, first, 0
    while t >= start + length:
        start, length, k = start + length, length * mult, k + 1
    return 0.5 * lr * decay ** k * (1 + math.cos(math.pi * (t - start) / length))


def step(lr: float, t: float, warmup: float = 5, milestones=(160, 180), factors=(0.01, 0.0001)) -> float:
    if t < warmup:  # linear in the fractional epoch, i.e. per step, from 0
        return lr * t / warmup
    factor = 1.0
    for m, f in zip(milestones, factors):
        if t >= m:
            factor = f
    return lr * factor


def constant(lr: float, t: float) -> float:
    return lr


SCHEDULES = {"cosine_restarts": cosine_restarts, "step": step, "constant": constant}


def make_schedule(spec: dict, lr: float):
    """``spec = {"name": ..., **kwargs}`` -> function of the fractional epoch."""
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    fn = SCHEDULES[spec["name"]]
    return lambda t: fn(lr, t, **kwargs)
