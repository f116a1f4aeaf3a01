"""Real human label noise: CIFAR-10N and CIFAR-100N (Wei et al., ICLR 2022), the CIFAR training
sets re-annotated on Amazon Mechanical Turk. Corruption ``human:NAME`` trains on one published
label set: ``aggre``, ``rand1``, ``rand2``, ``rand3``, ``worst`` (CIFAR-10), ``noisy``
(CIFAR-100).

The label files are the published ones, ``CIFAR-10_human.pt`` and ``CIFAR-100_human.pt`` (a
dict of NumPy label vectors saved with ``torch.save``), read from ``--data-root`` or fetched
with ``--download``. They are read with ``torch.load(weights_only=True)``, which admits only
arrays, never arbitrary objects, and checked: one label per training image, in range, and the
file's ``clean_label`` equal to the data set's own labels (the same image order).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import DatasetError
from .corruptions import HUMAN_LABELS

FILES = {"cifar10": "CIFAR-10_human.pt", "cifar100": "CIFAR-100_human.pt"}
URL = "https://github.com/UCSC-REAL/cifar-10-100n/raw/main/data/"


def _safe_load(path: Path) -> dict:
    from numpy._core.multiarray import _reconstruct

    allowed = [np.ndarray, np.dtype, _reconstruct, (_reconstruct, "numpy.core.multiarray._reconstruct"),
               *{type(np.dtype(t)) for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.int_)}]
    try:
        with torch.serialization.safe_globals(allowed):
            obj = torch.load(path, weights_only=True)
    except Exception as e:  # noqa: BLE001 (any unreadable or unsafe file is one clear error)
        raise DatasetError(f"{path} is not a CIFAR-N label file ({type(e).__name__}: "
                           f"{str(e).splitlines()[0][:160] if str(e) else ''})") from None
    if not isinstance(obj, dict):
        raise DatasetError(f"{path} is not a CIFAR-N label file (no dict of label vectors)")
    return obj


def load_human_labels(name: str, dataset: str, root, download: bool, y_train, num_classes: int) -> np.ndarray:
    """The human label set ``name`` for ``dataset``'s training split (aligned with ``y_train``)."""
    want, key = HUMAN_LABELS[name]
    if dataset != want:
        raise DatasetError(f"human:{name} labels exist for {want} only, not {dataset}")
    path = Path(root) / FILES[dataset]
    if not path.exists():
        if not download:
            raise DatasetError(f"human:{name} needs {path} (CIFAR-N's labels): pass --download to fetch it, "
                               "or put the published file there")
        try:
            torch.hub.download_url_to_file(URL + FILES[dataset], str(path), progress=False)
        except OSError as e:
            raise DatasetError(f"human:{name}: download of {URL + FILES[dataset]} failed ({e})") from None
    obj = _safe_load(path)
    y = np.asarray(y_train, dtype=np.int64)
    for k in ("clean_label", key):
        v = obj.get(k)
        if not isinstance(v, np.ndarray) or v.shape != y.shape or not np.issubdtype(v.dtype, np.integer):
            raise DatasetError(f"{path}: {k!r} is not one integer label per training image ({len(y)})")
    if not np.array_equal(obj["clean_label"], y):
        raise DatasetError(f"{path}: its clean labels differ from {dataset}'s training labels "
                           "(another image order or another data set)")
    noisy = obj[key].astype(np.int64)
    if noisy.min() < 0 or noisy.max() >= num_classes:
        raise DatasetError(f"{path}: {key!r} has labels outside [0, {num_classes})")
    return noisy
