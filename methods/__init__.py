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


def _import(name: str):
    """The object ``package.module:Class`` names; ValueError (one line) for a name of another
    form or a module that fails to import for any reason (missing, raising, a syntax error)."""
    module, _, attr = name.partition(":")
    if not module.strip() or not attr.strip():
        raise ValueError(f"method {name!r}: empty {'module' if not module.strip() else 'class'} name; "
                         "expected package.module:Class")
    if module.startswith("."):
        raise ValueError(f"method {name!r}: a relative module name; expected an absolute package.module:Class")
    try:
        return getattr(importlib.import_module(module), attr)
    except Exception as e:  # noqa: BLE001 (the user's module may raise anything while it imports)
        why = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise ValueError(f"method {name!r} cannot be imported ({type(e).__name__}: {why})") from None


def get_method_class(name: str) -> type[Method]:
    """A built-in method, an installed plugin's, or ``"package.module:Class"``. Raises KeyError
    for an unknown name, ValueError (one line) for a module or class that cannot be used."""
    if name in METHODS:
        return METHODS[name]
    if ":" in name:
        return _checked(_import(name), f"method {name!r}")
    plugins = plugin_methods()
    if name not in plugins:
        raise KeyError(f"unknown method {name!r}; known: {', '.join([*METHODS, *plugins])} "
                       "(or package.module:Class)")
    return plugins[name]


__all__ = ["ENTRY_POINT_GROUP", "METHODS", "Batch", "Context", "Method", "StepInfo", "get_method_class",
           "plugin_methods"]
