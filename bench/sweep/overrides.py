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

from methods import METHODS, get_method_class

from .checks import UsageError
from .profiles import SETTINGS


def _value(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


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
            domain = SETTINGS[key]
        elif name and (head in METHODS or head in methods_in_run):
            cls = get_method_class(head)
            if name in cls.renamed:
                raise UsageError(f"--set {key}: {head}'s {name!r} is now called {cls.renamed[name]!r}")
            if name not in cls.defaults:
                raise UsageError(f"--set {key}: {head} has no hyper-parameter {name!r} "
                                 f"(known: {', '.join(sorted(cls.defaults))})")
            domain = cls.domain(name)
            if head not in methods_in_run:
                raise UsageError(f"--set {key}: method {head} is not in this run ({', '.join(methods_in_run)})")
        else:
            raise UsageError(f"--set: unknown key {key!r}; a setting ({', '.join(SETTINGS)}) or METHOD.NAME "
                             "(a hyper-parameter, e.g. fsr.dictionary_size)")
        if not domain.contains(value):
            raise UsageError(f"--set {key}: expected {domain}, not {text.strip()!r}")
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
