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

from .base import Dataset, DatasetError, files
from .images import IMG_EXTENSIONS, bomb_checks, class_files, class_folders, existing_dir, read_image

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


def image_size(resize) -> tuple[int, int] | None:
    """The size images are resized to: ``resize``, else ``$REWEIGHT_BENCH_RESIZE``, else None."""
    return parse_resize(resize if resize is not None else os.environ.get(RESIZE_ENV))


def size_text(size: tuple[int, int] | None) -> str | None:
    return f"{size[0]}x{size[1]}" if size else None


def _read_split(root: Path, split: str, size: tuple[int, int] | None, classes=None):
    path = root / split
    if not existing_dir(path, "image folder"):
        raise DatasetError(f"image folder {root} has no {split}/ directory: --data-root DIR must hold "
                           f"train/ and test/, each with one sub-folder of images per class")
    return read_image_dir(path, size, classes)


def _choose(path: Path, names: list[str], classes) -> list[str]:
    if classes is None:
        return names
    keep = names[:classes] if isinstance(classes, int) else list(classes)
    missing = [c for c in keep if c not in names]
    if missing or (isinstance(classes, int) and len(names) < classes):
        raise DatasetError(f"image folder {path} lacks class folder(s) "
                           f"{', '.join(missing) or f'(has {len(names)}, needs {classes})'}")
    return keep


def read_image_dir(path: Path, size: tuple[int, int] | None, classes=None):
    """(class names, uint8 images (N, H, W, 3), labels) of an ImageFolder directory (read as
    datasets.images says: links, 16-bit images). ``classes``: an int k keeps the first k class
    folders in sorted order; a list of names keeps those, in that order (each must exist)."""
    names = _choose(path, class_folders(path), classes)
    samples = [(f, i) for i, c in enumerate(names) for f in class_files(path / c)]
    empty = sorted(set(names) - {names[i] for _, i in samples})
    if empty:
        raise DatasetError(f"bad image folder {path}: no image ({', '.join(IMG_EXTENSIONS)}) in class "
                           f"folder(s) {', '.join(empty)}")
    with bomb_checks(), ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        arrays = list(pool.map(lambda s: read_image(s[0], size), samples))
    first = arrays[0].shape
    for (file, _), a in zip(samples, arrays):
        if a.shape != first:
            raise DatasetError(f"images differ in size ({samples[0][0]} is {first[1]}x{first[0]}, "
                               f"{file} is {a.shape[1]}x{a.shape[0]} (width x height)); resize them with "
                               f"{RESIZE_ENV}=SIZE or load_dataset(..., resize=SIZE)")
    labels = torch.as_tensor([t for _, t in samples], dtype=torch.int64)
    return list(names), np.stack(arrays), labels


def to_normalised(train: np.ndarray, *others: np.ndarray) -> list[torch.Tensor]:
    """uint8 (N, H, W, C) arrays -> float (N, C, H, W), normalised per channel by the first's
    mean and standard deviation."""
    to_x = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).contiguous().float().div_(255.0)
    xs = [to_x(a) for a in (train, *others)]
    mean = xs[0].mean(dim=(0, 2, 3), keepdim=True)
    std = xs[0].std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return [x.sub_(mean).div_(std) for x in xs]


def load_folder(root=None, download: bool = False, resize=None) -> Dataset:
    if root is None:
        raise DatasetError("dataset 'folder' needs --data-root DIR holding train/ and test/ in "
                           "ImageFolder layout (DIR/train/CLASS/IMAGE, DIR/test/CLASS/IMAGE)")
    root = Path(root)
    if not existing_dir(root, "--data-root"):
        raise DatasetError(f"image folder {root} not found (--data-root DIR must hold train/ and test/)")
    size = image_size(resize)
    classes, xtr, ytr = _read_split(root, "train", size)
    test_classes, xte, yte = _read_split(root, "test", size)
    if test_classes != classes:
        raise DatasetError(f"image folder {root}: train/ and test/ have different class folders "
                           f"({', '.join(sorted(set(classes) ^ set(test_classes)))} in one only)")
    if xtr.shape[1:] != xte.shape[1:]:
        raise DatasetError(f"image folder {root}: train images are {xtr.shape[2]}x{xtr.shape[1]} but test "
                           f"images {xte.shape[2]}x{xte.shape[1]}; pass a resize ({RESIZE_ENV}=SIZE)")
    x_train, x_test = to_normalised(xtr, xte)
    h, w = x_train.shape[2:]
    return Dataset("folder", x_train, ytr, x_test, yte, len(classes), class_names=list(classes),
                   augment="crop_flip" if min(h, w) >= MIN_CROP_SIZE else "none")


def folder_identity(root=None, resize=None) -> dict:
    """What load_folder reads (datasets.identity): the root, its train/ and test/ files, the size."""
    if root is None:
        return {}
    root = Path(root)
    return {"root": str(root), **files(root / "train", root / "test"), "resize": size_text(image_size(resize))}
