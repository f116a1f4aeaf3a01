"""Re-weighting methods behind one interface (methods.base.Method), and their registry.

A new method is one new file plus one line in METHODS. A user's own method needs neither:
``get_method_class("package.module:Class")`` imports any ``Method`` subclass, and an installed
package may register names under the ``reweight_bench.methods`` entry-point group.
"""
import importlib
from importlib.metadata import entry_points

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


ENTRY_POINT_GROUP = "reweight_bench.methods"


def _checked(obj, where: str) -> type[Method]:
    if not (isinstance(obj, type) and issubclass(obj, Method)):
        raise ValueError(f"{where} is not a methods.base.Method subclass")
    return obj


def plugin_methods() -> dict[str, type[Method]]:
    """The methods installed packages register under the ``reweight_bench.methods`` entry points."""
    return {ep.name: _checked(ep.load(), f"entry point {ep.name!r} ({ep.value})")
            for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in METHODS}


def get_method_class(name: str) -> type[Method]:
    """A built-in method, an installed plugin's, or ``"package.module:Class"``. Raises KeyError
    for an unknown name, ValueError (one line) for a module or class that cannot be used."""
    if name in METHODS:
        return METHODS[name]
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ValueError(f"method {name!r} cannot be imported ({type(e).__name__}: {e})") from None
        return _checked(obj, f"method {name!r}")
    plugins = plugin_methods()
    if name not in plugins:
        raise KeyError(f"unknown method {name!r}; known: {', '.join([*METHODS, *plugins])} "
                       "(or package.module:Class)")
    return plugins[name]


__all__ = ["ENTRY_POINT_GROUP", "METHODS", "Batch", "Context", "Method", "StepInfo", "get_method_class",
           "plugin_methods"]
