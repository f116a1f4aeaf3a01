"""The data set registry: name -> loader(root=None, download=False, **options) -> Dataset."""
from __future__ import annotations

import inspect

from .base import Dataset, DatasetError
from .cifar import load_cifar10, load_cifar100
from .embedded import load_digits, load_mnist1d
from .folder import load_folder
from .synthetic import load_synthetic
from .webvision import load_webvision

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
#: need the shape (bench.cost's synthetic inputs): nothing is loaded
SHAPES = {"mnist1d": ((1, 40), 10), "digits": ((1, 8, 8), 10), "cifar10": ((3, 32, 32), 10),
          "cifar100": ((3, 32, 32), 100), "webvision": ((3, 224, 224), 50)}


def load_dataset(name: str, root=None, download: bool = False, **options) -> Dataset:
    """Load a registered data set. ``options`` go to loaders that take them (``resize`` for
    "folder" and "webvision", ``imagenet_root`` for "webvision"); an option the loader does not
    know raises DatasetError."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    loader = DATASETS[name]
    known = inspect.signature(loader).parameters
    unknown = [k for k in options if k not in known]
    if unknown:
        raise DatasetError(f"dataset {name!r} takes no option {', '.join(unknown)}")
    return loader(root=root, download=download, **options)
