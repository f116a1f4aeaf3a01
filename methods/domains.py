"""The valid values of a hyper-parameter or a trial setting, declared beside its default.

A domain says whether a value lies in it (``contains``) and, as ``str(domain)``, what it
expects ("an integer >= 1", "a number in [0, 1)"); domains combine with ``|``. Numbers are
finite (no NaN, no infinity) and never booleans; nothing raises on an odd value (a list, a
dict): it is simply outside. The bounds and choices are plain fields, so that a search space
can be read from the same declarations.

    domains = {"dictionary_size": Int(1), "score_momentum": Real(0, 1, hi_open=True),
               "reweight_start": Int(0) | Real(0, 1, lo_open=True, hi_open=True) | Choice("lr_decay")}
"""
from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass


class Domain:
    """A set of valid values: ``contains(value)``; ``str(domain)`` says what they are."""

    def contains(self, value) -> bool:
        raise NotImplementedError

    def __or__(self, other: "Domain") -> "Either":
        return Either((*_options(self), *_options(other)))


def _options(d: Domain) -> tuple:
    return d.options if isinstance(d, Either) else (d,)


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _range(kind: str, lo, hi, lo_open: bool, hi_open: bool) -> str:
    """ "a number in [0, 1)", "an integer >= 1", "a finite number > 0", "a finite number"."""
    if lo is not None and hi is not None:
        return f"{kind} in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:   # no upper bound: say that infinity is out
        return f"{kind.replace('a number', 'a finite number')} {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{kind} {'<' if hi_open else '<='} {hi:g}"
    return kind.replace("a number", "a finite number")


@dataclass(frozen=True)
class Real(Domain):
    """A finite number (an integer too) between ``lo`` and ``hi``, each bound closed unless open."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def contains(self, value) -> bool:
        if not _number(value):
            return False
        above = self.lo is None or (value > self.lo if self.lo_open else value >= self.lo)
        return above and (self.hi is None or (value < self.hi if self.hi_open else value <= self.hi))

    def __str__(self) -> str:
        return _range("a number", self.lo, self.hi, self.lo_open, self.hi_open)


@dataclass(frozen=True)
class Int(Domain):
    """An integer (not a float, not a boolean) in [lo, hi]."""

    lo: int | None = None
    hi: int | None = None

    def contains(self, value) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool) and (self.lo is None or value >= self.lo)
                and (self.hi is None or value <= self.hi))

    def __str__(self) -> str:
        return _range("an integer", self.lo, self.hi, False, False)


@dataclass(frozen=True)
class Bool(Domain):
    def contains(self, value) -> bool:
        return isinstance(value, bool)

    def __str__(self) -> str:
        return "true or false"


def show(value) -> str:
    """A value as the user writes it (JSON): -5, Infinity, "lr_decay", ["small_cnn"]."""
    return json.dumps(value, default=repr)


def _plain(value) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


class Choice(Domain):
    """One of the given values (strings, numbers, ``None``), compared by type and value."""

    def __init__(self, *values):
        self.values = values

    def contains(self, value) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)

    def __str__(self) -> str:
        shown = [_plain(v) for v in self.values]
        return shown[0] if len(shown) == 1 else "one of " + ", ".join(shown)

    def __repr__(self) -> str:
        return f"Choice{self.values!r}"


@dataclass(frozen=True)
class Text(Domain):
    """A non-empty string; ``what`` says what it names."""

    what: str = "a non-empty string"

    def contains(self, value) -> bool:
        return isinstance(value, str) and bool(value.strip())

    def __str__(self) -> str:
        return self.what


@dataclass(frozen=True)
class ListOf(Domain):
    """A non-empty list of values of ``item``."""

    item: Domain
    what: str = ""

    def contains(self, value) -> bool:
        return isinstance(value, list) and bool(value) and all(self.item.contains(v) for v in value)

    def __str__(self) -> str:
        return self.what or f"a list of ({self.item})"


@dataclass(frozen=True)
class Either(Domain):
    options: tuple

    def contains(self, value) -> bool:
        return any(d.contains(value) for d in self.options)

    def __str__(self) -> str:   # a choice's values one by one: "an integer >= 0, ... or lr_decay"
        parts = [p for d in self.options for p in (map(_plain, d.values) if isinstance(d, Choice) else [str(d)])]
        return ", ".join(parts[:-1]) + " or " + parts[-1]


@dataclass(frozen=True)
class Like(Domain):
    """An undeclared hyper-parameter (a user's own method): a value of its default's kind
    (numbers: any finite number; a default of ``None``: anything)."""

    default: object

    def contains(self, value) -> bool:
        d = self.default
        if d is None:
            return True
        if isinstance(d, bool) or isinstance(value, bool):
            return isinstance(value, bool) and isinstance(d, bool)
        if isinstance(d, numbers.Real):
            return _number(value)
        return isinstance(value, type(d))

    def __str__(self) -> str:
        return f"a value like its default {self.default!r}"


NULL = Choice(None)
