"""Learning-rate schedules as pure functions of the (fractional) epoch t.

- ``cosine_restarts``: the FSR noise schedule: cosine periods of ``first`` (1), then each ``mult``
  (2) times the last, i.e. 1, 2, 4, ... epochs, the peak multiplied by ``decay`` (0.9) at each
  restart (the reference's ``tf.train.cosine_decay_restarts`` with ``first_decay_steps`` one
  epoch, ``t_mul`` = mult, ``m_mul`` = decay: google-research ieg/models/basemodel.py,
  ``set_lr_schedule``; ``cos_t_mul`` / ``cos_m_mul`` flags). With ``warmup`` W > 0 (epochs): first
  a warm-up rising linearly per step from 0 to the base rate over W epochs, and the restart
  clock starts after it (the reference's ``--warmup_epochs``: ``lr * step / warmup_steps``, then
  the restarts at ``step - warmup_steps``). W = 0 (the default) is the schedule without it, value
  for value.
- ``step``: the long-tail schedule of Cui et al.: a warm-up rising linearly per step from 0 to
  the base rate over ``warmup`` epochs, then the base rate times ``factors[k]`` from epoch
  ``milestones[k]`` on.
- ``constant``.
"""
from __future__ import annotations

import math


def cosine_restarts(lr: float, t: float, first: float = 1.0, mult: float = 2.0, decay: float = 0.9,
                    warmup: float = 0.0) -> float:
    if t < warmup:  # linear in the fractional epoch, i.e. per step, from 0
        return lr * t / warmup
    t -= warmup     # the restart clock starts after the warm-up (W = 0: t as it is)
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
