"""Any image classification set in ImageFolder layout: ``ROOT/train/CLASS/*.png`` and
``ROOT/test/CLASS/*.png`` (the same class folders in both). Loaded once into tensors; inputs are
normalised per channel with the training split's mean and standard deviation.

All images must share one size, unless a resize is asked for: ``resize=S`` (or ``"S"``) for S x S,
``"HxW"`` for height H and width W, passed to ``load_dataset("folder", root, resize=...)`` or set
in the environment as ``REWEIGHT_BENCH_RESIZE`` (which reaches Ray workers started from the same
shell, with no change to a trial's config).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from .base import Dataset, DatasetError

RESIZE_ENV = "REWEIGHT_BENCH_RESIZE"
MIN_CROP_SIZE = 16  # smaller images get no crop/flip augmentation


def parse_resize(value) -> tuple[int, int] | None:
    """None/"" -> None; 32 or "32" -> (32, 32); "32x48" or (32, 48) -> (height, width)."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (tuple, list)):
            h, w = (int(v) for v in value)
        elif isinstance(value, str) and "x" in value.lower():
            h, w = (int(v) for v in value.lower().split("x"))
        else:
            h = w = int(value)
    except (TypeError, ValueError):
        raise DatasetError(f"bad resize {value!r}: expected SIZE or HEIGHTxWIDTH, e.g. 32 or 32x48") from None
    if h <= 0 or w <= 0:
        raise DatasetError(f"bad resize {value!r}: sizes must be positive")
    return h, w


def _read_split(root: Path, split: str, size: tuple[int, int] | None):
    from PIL import Image, UnidentifiedImageError
    from torchvision.datasets import ImageFolder

    path = root / split
    if not path.is_dir():
        raise DatasetError(f"image folder {root} has no {split}/ directory: --data-root DIR must hold "
                           f"train/ and test/, each with one sub-folder of images per class")
    try:
        folder = ImageFolder(str(path))
    except (FileNotFoundError, RuntimeError) as e:
        raise DatasetError(f"bad image folder {path}: {' '.join(str(e).split())}") from None

    def read(sample):
        file, _ = sample
        try:
            img = folder.loader(file)  # PIL image, converted to RGB
            if size is not None and img.size != (size[1], size[0]):
                img = img.resize((size[1], size[0]), Image.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError) as e:
            raise DatasetError(f"cannot read image {file}: {' '.join(str(e).split())}") from None

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        arrays = list(pool.map(read, folder.samples))
    first = arrays[0].shape
    for (file, _), a in zip(folder.samples, arrays):
        if a.shape != first:
            raise DatasetError(f"images differ in size ({folder.samples[0][0]} is {first[1]}x{first[0]}, "
                               f"{file} is {a.shape[1]}x{a.shape[0]} (width x height)); resize them with "
                               f"{RESIZE_ENV}=SIZE or load_dataset(..., resize=SIZE)")
    labels = torch.as_tensor(folder.targets, dtype=torch.int64)
    return folder.classes, np.stack(arrays), labels


def load_folder(root=None, download: bool = False, resize=None) -> Dataset:
    if root is None:
        raise DatasetError("dataset 'folder' needs --data-root DIR holding train/ and test/ in "
                           "ImageFolder layout (DIR/train/CLASS/IMAGE, DIR/test/CLASS/IMAGE)")
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"image folder {root} not found (--data-root DIR must hold train/ and test/)")
    size = parse_resize(resize if resize is not None else os.environ.get(RESIZE_ENV))
    classes, xtr, ytr = _read_split(root, "train", size)
    test_classes, xte, yte = _read_split(root, "test", size)
    if test_classes != classes:
        raise DatasetError(f"image folder {root}: train/ and test/ have different class folders "
                           f"({', '.join(sorted(set(classes) ^ set(test_classes)))} in one only)")
    if xtr.shape[1:] != xte.shape[1:]:
        raise DatasetError(f"image folder {root}: train images are {xtr.shape[2]}x{xtr.shape[1]} but test "
                           f"images {xte.shape[2]}x{xte.shape[1]}; pass a resize ({RESIZE_ENV}=SIZE)")
    to_x = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous().float().div_(255.0)
    x_train, x_test = to_x(xtr), to_x(xte)
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    x_train.sub_(mean).div_(std)
    x_test.sub_(mean).div_(std)
    h, w = x_train.shape[2:]
    return Dataset("folder", x_train, ytr, x_test, yte, len(classes), class_names=list(classes),
                   augment="crop_flip" if min(h, w) >= MIN_CROP_SIZE else "none")
