"""The data set registry: name -> loader(root=None, download=False, **options) -> Dataset."""
from __future__ import annotations

import inspect
from pathlib import Path

from .base import Dataset, DatasetError, files
from .cifar import cifar_identity, load_cifar10, load_cifar100
from .corruptions import parse
from .embedded import load_digits, load_mnist1d
from .folder import folder_identity, load_folder
from .human import FILES as HUMAN_FILES
from .synthetic import load_synthetic
from .webvision import load_webvision, webvision_identity

DATASETS = {
    "mnist1d": load_mnist1d,
    "digits": load_digits,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "folder": load_folder,
    "webvision": load_webvision,
    "synthetic": load_synthetic,
}
DEFAULT = "mnist1d"
#: (input shape, number of classes) of the data sets whose shape is fixed, for runs that only
#: need the shape (bench.costs.cost's synthetic inputs): nothing is loaded
SHAPES = {"mnist1d": ((1, 40), 10), "digits": ((1, 8, 8), 10), "cifar10": ((3, 32, 32), 10),
          "cifar100": ((3, 32, 32), 100), "webvision": ((3, 224, 224), 50)}


def load_dataset(name: str, root=None, download: bool = False, **options) -> Dataset:
    """Load a registered data set. ``options`` go to loaders that take them (``resize`` for
    "folder" and "webvision", ``imagenet_root`` for "webvision"); an option the loader does not
    know raises DatasetError."""
    _check_options(name, options)
    return DATASETS[name](root=root, download=download, **options)


def _check_options(name: str, options: dict) -> None:
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    known = inspect.signature(DATASETS[name]).parameters
    unknown = [k for k in options if k not in known]
    if unknown:
        raise DatasetError(f"dataset {name!r} takes no option {', '.join(unknown)}")


#: what each data set read from disk reads (its loader's options, without download); the others
#: (embedded, generated) are the same data everywhere
IDENTITIES = {"cifar10": lambda root=None: cifar_identity("cifar10", root),
              "cifar100": lambda root=None: cifar_identity("cifar100", root),
              "folder": folder_identity, "webvision": webvision_identity}


def identity(name: str, root=None, options: dict | None = None, corruption="clean") -> dict:
    """What data a trial of data set ``name`` (with ``corruption``) reads, as a small JSON-able
    dict for its identity: nothing for the embedded and generated sets; for data on disk the
    root as given, the number of files and a fingerprint of their names, sizes and times
    (datasets.base.files), the image size, and CIFAR-N's label file for human noise. It is of
    what lies there now: take it after any download."""
    options = options or {}
    _check_options(name, options)
    if name not in IDENTITIES:
        return {}
    ident = IDENTITIES[name](root, **options)
    if parse(corruption).noise_type == "human" and name in HUMAN_FILES:   # read from the same root
        ident["human_labels"] = files(Path(ident["root"]) / HUMAN_FILES[name])
    return ident
