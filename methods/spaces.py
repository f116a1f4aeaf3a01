"""Search spaces: the ranges a tuning run (bench.sweep.tune) draws hyper-parameters from,
declared by each method beside its defaults and domains (``Method.search_space``).

A range draws a value with ``sample(rng)`` (a numpy Generator) and names its ``ends``, the
extreme values it can give, so that a space can be checked against the method's domains
before anything runs. ``check_space`` is that check: one line (ValueError) per misfit.

    search_space = {"q": Uniform(0.1, 0.9), "wnet_lr": LogUniform(1e-4, 1e-2)}
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .domains import show


@dataclass(frozen=True)
class Uniform:
    lo: float
    hi: float

    def sample(self, rng) -> float:
        return float(rng.uniform(self.lo, self.hi))

    @property
    def ends(self) -> tuple:
        return (float(self.lo), float(self.hi))

    def __str__(self) -> str:
        return f"uniform [{self.lo:g}, {self.hi:g}]"


@dataclass(frozen=True)
class LogUniform(Uniform):
    def sample(self, rng) -> float:
        return float(math.exp(rng.uniform(math.log(self.lo), math.log(self.hi))))

    def __str__(self) -> str:
        return f"log-uniform [{self.lo:g}, {self.hi:g}]"


@dataclass(frozen=True)
class IntRange:
    """An integer in [lo, hi], each equally likely."""

    lo: int
    hi: int

    def sample(self, rng) -> int:
        return int(rng.integers(self.lo, self.hi + 1))

    @property
    def ends(self) -> tuple:
        return (int(self.lo), int(self.hi))

    def __str__(self) -> str:
        return f"integer [{self.lo}, {self.hi}]"


class Pick:
    """One of the given values, each equally likely."""

    def __init__(self, *values):
        self.values = values

    def sample(self, rng):
        return self.values[int(rng.integers(len(self.values)))]

    @property
    def ends(self) -> tuple:
        return self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(show(v) for v in self.values)


RANGES = (Uniform, IntRange, Pick)


def check_space(cls, who: str) -> None:
    """Every key of ``cls.search_space`` is one of its hyper-parameters (``defaults``), every
    range one of RANGES whose ends lie in the key's domain (undeclared: of its default's kind,
    an integer for an integer); else ValueError, one line naming ``who.KEY``."""
    for key, r in cls.search_space.items():
        if key not in cls.defaults:
            raise ValueError(f"{who}: search space key {key!r} is not a hyper-parameter "
                             f"(known: {', '.join(sorted(cls.defaults))})")
        if not isinstance(r, RANGES) or (isinstance(r, Uniform) and not r.lo < r.hi) \
                or (isinstance(r, LogUniform) and r.lo <= 0) or (isinstance(r, IntRange) and r.lo > r.hi):
            raise ValueError(f"{who}.{key}: {r!r} is not a search range (Uniform, LogUniform, IntRange or Pick)")
        default, domain = cls.defaults[key], cls.domain(key)
        for end in r.ends:
            if not domain.contains(end):
                raise ValueError(f"{who}.{key}: the space's value {show(end)} is out of range: {domain}")
            if key not in cls.domains and type(default) is int and type(end) is not int:   # a Like domain
                raise ValueError(f"{who}.{key}: the space gives {show(end)} where the default {show(default)} is an integer")


def sample(space: dict, rng) -> dict:
    """One configuration: a value of each range, in the space's order (a fixed order of draws)."""
    return {key: r.sample(rng) for key, r in space.items()}
