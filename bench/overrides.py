"""``--set KEY=VALUE``: a run's own choices over a profile's settings and the methods'
hyper-parameters, checked before anything runs.

KEY is a trial setting (``model``, ``epochs``, ``batch_size``, ...), an optimiser setting
(``optim.lr``, ...) or ``METHOD.HYPER_PARAMETER`` (``fsr.dictionary_size``); VALUE is read as
JSON (``5``, ``0.1``, ``true``, ``null``, ``[1, 2]``), else as a plain string. The choices are
recorded in each trial's config (``set``), so such trials get their own ids and never share
a report cell with the profile's defaults.
"""
from __future__ import annotations

import json
import numbers

from methods import METHODS, get_method_class

from .checks import UsageError
from .models import MODELS


def _int(lo):
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo), f"an integer >= {lo}"


def _number(lo, hi=float("inf"), hi_open=False):
    ok = lambda v: (isinstance(v, numbers.Real) and not isinstance(v, bool) and lo <= v
                    and (v < hi if hi_open else v <= hi))
    return ok, f"a number in [{lo:g}, {hi:g}{')' if hi_open else ']'}"


def _or_null(check):
    ok, what = check
    return (lambda v: v is None or ok(v)), what + " or null"


#: the settings a run may choose, each with its check and what it expects
SETTINGS = {
    "model": ((lambda v: v in MODELS), "one of " + ", ".join(MODELS)),
    "epochs": _int(1),
    "batch_size": _int(1),
    "eval_batch_size": _int(1),
    "train_limit": _or_null(_int(1)),
    "reward_per_class": _int(0),
    "reward_total": _or_null(_int(1)),
    "ema_decay": _or_null(_number(0, 1, hi_open=True)),
    "optim.lr": _number(0, float("inf")),
    "optim.momentum": _number(0, 1),
    "optim.weight_decay": _number(0),
    "optim.nesterov": ((lambda v: isinstance(v, bool)), "true or false"),
}


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def _same_kind(value, default) -> bool:
    """A hyper-parameter's value is of its default's kind (numbers: int or float)."""
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, numbers.Real):
        return isinstance(value, numbers.Real)
    return isinstance(value, type(default))


def parse_sets(items, methods_in_run) -> dict:
    """{KEY: value} from ``--set`` items; a bad one raises UsageError (one line)."""
    out = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"--set expects KEY=VALUE, not {item!r}")
        value = _value(text.strip())
        head, _, name = key.partition(".")
        if key in SETTINGS:
            ok, what = SETTINGS[key]
            if not ok(value):
                raise UsageError(f"--set {key}: expected {what}, not {text.strip()!r}")
        elif name and (head in METHODS or head in methods_in_run):
            cls = get_method_class(head)
            if name in cls.renamed:
                raise UsageError(f"--set {key}: {head}'s {name!r} is now called {cls.renamed[name]!r}")
            if name not in cls.defaults:
                raise UsageError(f"--set {key}: {head} has no hyper-parameter {name!r} "
                                 f"(known: {', '.join(sorted(cls.defaults))})")
            if not _same_kind(value, cls.defaults[name]):
                raise UsageError(f"--set {key}: expected a value like its default {cls.defaults[name]!r}, "
                                 f"not {text.strip()!r}")
            if head not in methods_in_run:
                raise UsageError(f"--set {key}: method {head} is not in this run ({', '.join(methods_in_run)})")
        else:
            raise UsageError(f"--set: unknown key {key!r}; a setting ({', '.join(SETTINGS)}) or METHOD.NAME "
                             "(a hyper-parameter, e.g. fsr.dictionary_size)")
        out[key] = value
    return dict(sorted(out.items()))


def apply(cfg: dict, sets: dict) -> None:
    """Apply ``sets`` to one trial's config (in place) and record the ones that apply to it
    (another method's hyper-parameters leave a trial, and its id, as they are)."""
    applied = {}
    for key, value in (sets or {}).items():
        head, _, name = key.partition(".")
        if head == "optim":
            cfg["optim"] = {**cfg["optim"], name: value}
        elif name and cfg["method"] == head:
            cfg["hparams"] = {**cfg["hparams"], name: value}
        elif not name:
            cfg[key] = value
        else:
            continue
        applied[key] = value
    if applied:
        cfg["set"] = applied
