"""Re-weighting methods behind one interface (methods.base.Method), and their registry.

A new method is one new file plus one line in METHODS.
"""
from .base import Batch, Context, Method, StepInfo
from .cb import ClassBalanced
from .elr import ELR
from .fsr import FSR, FSRDeferred
from .gce import GCE
from .l2r import L2R
from .mwn import MWN
from .softmax import Softmax

METHODS: dict[str, type[Method]] = {
    "softmax": Softmax,
    "cb": ClassBalanced,
    "fsr": FSR,
    "fsr_df": FSRDeferred,
    "l2r": L2R,
    "mwn": MWN,
    "gce": GCE,
    "elr": ELR,
}


def get_method_class(name: str) -> type[Method]:
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return METHODS[name]


__all__ = ["METHODS", "Batch", "Context", "Method", "StepInfo", "get_method_class"]
