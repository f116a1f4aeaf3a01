"""The protocol a published number was measured under, and how it compares with one of our rows.

A ``Protocol`` is data (reports.paper keeps one per published row): the network and schedule in
words, where both come from, which epoch's accuracy it reports, and ``settings``: the part of
it we could verify, written in our trial configs' vocabulary (``epochs``, ``batch_size``,
``optim`` with ``lr`` / ``momentum`` / ``weight_decay`` / ``nesterov``, ``schedule`` as
bench.trial.schedules spells it, ``ema_decay``), so that it compares with a row's own settings
(reports.layouts.SuiteReport.protocols). Only what a protocol states is compared; the rest is
said to be not compared, never assumed equal.
"""
from __future__ import annotations

from dataclasses import dataclass

#: the trial settings a protocol is made of (besides the network, which is the table's)
KEYS = ("epochs", "batch_size", "optim", "schedule", "ema_decay")
OPTIM = ("lr", "momentum", "weight_decay", "nesterov")
NAMES = {"epochs": "epochs", "batch_size": "batch", "schedule": "schedule", "ema_decay": "EMA",
         "lr": "lr", "momentum": "momentum", "weight_decay": "weight decay", "nesterov": "Nesterov"}


@dataclass(frozen=True, eq=False)
class Protocol:
    network: str                   # as published, in words ("ResNet-34", "not verified (...)")
    schedule: str                  # the published training schedule, in words
    source: str                    # where the number and the protocol come from (paper table; repository, file)
    model: str | None = None       # the network in our model names; None: not verified
    settings: dict | None = None   # what we verified of it, in our config vocabulary (None: nothing)
    reported: str = "epoch not stated"   # which epoch's accuracy: "last epoch", "best epoch" or "epoch not stated"


def differences(proto: Protocol, model: str, ours: dict | None) -> list[str]:
    """The names of what differs between the protocol and our row (its network ``model``, its
    settings ``ours``), among what the protocol states."""
    diffs = ["network"] if proto.model is not None and proto.model != model else []
    if ours is None:
        return diffs
    for key, want in (proto.settings or {}).items():
        have = ours.get(key)
        if key == "optim":
            diffs += [NAMES[k] for k, v in want.items() if (have or {}).get(k) != v]
        elif key == "schedule":
            diffs += [] if isinstance(have, dict) and all(have.get(k) == v for k, v in want.items()) else ["schedule"]
        elif have != want:
            diffs.append(NAMES[key])
    return diffs


def not_compared(proto: Protocol) -> list[str]:
    """What the protocol does not state (so no comparison can say it is like ours)."""
    s = proto.settings or {}
    out = [] if proto.model is not None else ["network"]
    for key in KEYS:
        if key == "optim":
            out += [NAMES[k] for k in OPTIM if k not in s.get("optim", {})]
        elif key not in s:
            out.append(NAMES[key])
    return out


def status(proto: Protocol, model: str, label: str, ours: dict | None) -> str:
    """One phrase for the published row: how its protocol stands to our row ``label``'s."""
    diffs = differences(proto, model, ours)
    if ours is None:
        return "our protocol not declared" + (f"; differs in {', '.join(diffs)}" if diffs else "")
    if proto.settings is None:
        return (f"differs from {label} in network; " if diffs else "") + "protocol not verified"
    if diffs:
        return f"differs from {label} in {', '.join(diffs)}"
    return f"same protocol as {label}" if not not_compared(proto) else f"as {label} where compared"


def _schedule(s) -> str:
    if not isinstance(s, dict):
        return str(s)
    if s.get("name") == "step":
        w = s.get("warmup", 5)
        steps = ", ".join(f"x{f:g} from epoch {m}" for m, f in zip(s.get("milestones", ()), s.get("factors", ())))
        return (f"{w:g}-epoch linear warm-up, " if w else "no warm-up, ") + "step: " + steps
    if s.get("name") == "cosine_restarts":
        return "cyclic cosine (periods 1, 2, 4, ... epochs)"
    return ", ".join(f"{k} {v}" for k, v in s.items())


def describe(model: str, ours: dict | None) -> str:
    """Our row's protocol in words."""
    if ours is None:
        return f"{model}, settings not declared"
    o = ours.get("optim") or {}
    g = lambda v: f"{v:g}" if isinstance(v, (int, float)) else "?"
    sgd = (f"SGD lr {g(o.get('lr'))}, momentum {g(o.get('momentum'))}, weight decay {g(o.get('weight_decay'))}"
           f"{', Nesterov' if o.get('nesterov') else ''}")
    ema = f"EMA {ours['ema_decay']:g} of the weights evaluated" if ours.get("ema_decay") else "no EMA"
    return (f"{model}, {ours.get('epochs')} epochs, batch {ours.get('batch_size')}, {sgd}, "
            f"{_schedule(ours.get('schedule'))}, {ema}; the table shows the last epoch's accuracy")
