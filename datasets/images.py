"""Reading an ImageFolder directory (``DIR/CLASS/**/IMAGE``) for the "folder" and "webvision"
loaders: which files belong to which class, and each file as 8-bit RGB.

- Class folders are the sub-directories of DIR (links to directories count), in sorted order.
  Inside a class folder, links to directories are followed, but each real directory is read
  once: a link back to a folder already read (``ln -s . loop``), to a folder above the class
  folder (``ln -s .. up``) or a second link to the same folder adds nothing. A folder that cannot be listed is an error, never skipped.
- Images with 16 bits per channel are scaled to 8 (the high byte; PIL keeps only that of 16-bit
  colour images already), not clipped; images whose pixels have no fixed range (32-bit integer
  or float) are refused by name, as is an image over PIL's decompression-bomb limit.
Every failure is a ``DatasetError`` naming the path.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np

from .base import DatasetError

#: torchvision's ImageFolder extensions (compared in lower case)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
#: PIL modes of 16-bit greyscale images (formats that read 16-bit greyscale as mode "I" below)
MODES_16 = ("I;16", "I;16L", "I;16B", "I;16N")
FORMATS_16_AS_I = ("PNG", "PPM")


def _why(e: OSError) -> str:
    return " ".join(str(e.strerror or e).split())


def existing_dir(path: Path, what: str) -> bool:
    """Whether ``path`` is a directory; a path that cannot even be looked at (a name too long, a
    loop of links, no permission) raises DatasetError naming it and ``what`` it was meant to be."""
    try:
        return Path(path).is_dir()
    except OSError as e:
        raise DatasetError(f"{what} {path}: {_why(e)}") from None


def class_folders(path: Path) -> list[str]:
    """The sorted names of the class folders in ``path`` (at least one)."""
    try:
        with os.scandir(path) as entries:
            names = sorted(e.name for e in entries if e.is_dir())
    except OSError as e:
        raise DatasetError(f"bad image folder {path}: {_why(e)}") from None
    if not names:
        raise DatasetError(f"bad image folder {path}: it holds no class folder (DIR/CLASS/IMAGE)")
    return names


def _raise(e: OSError):
    raise DatasetError(f"cannot list {e.filename}: {_why(e)}")


def _above(real: str, top: str) -> bool:
    """Whether directory ``real`` holds ``top`` (a link to it from inside ``top`` is a loop)."""
    return real != top and (top + os.sep).startswith(real.rstrip(os.sep) + os.sep)


def class_files(folder: Path) -> list[str]:
    """The image files under one class folder, in torchvision's ImageFolder order (folders in
    sorted order, files sorted within each), each real directory read once."""
    top, seen, found = os.path.realpath(folder), set(), []
    for root, dirs, files in os.walk(folder, followlinks=True, onerror=_raise):
        real = os.path.realpath(root)
        if real in seen or _above(real, top):
            dirs[:] = []   # a loop, or a second way into a folder already read
            continue
        seen.add(real)
        dirs.sort()        # the first of two links to one folder is the one kept
        found.append((root, sorted(f for f in files if f.lower().endswith(IMG_EXTENSIONS))))
    return [os.path.join(root, f) for root, names in sorted(found) for f in names]


def to_rgb(img, file) -> "Image.Image":
    """An 8-bit RGB image from any PIL image; 16-bit greyscale is scaled (value >> 8), pixels
    without a fixed range are refused."""
    from PIL import Image

    if img.mode in MODES_16 or (img.mode == "I" and img.format in FORMATS_16_AS_I):
        img = Image.fromarray((np.asarray(img).astype(np.uint32) >> 8).astype(np.uint8))
    elif img.mode in ("I", "F"):
        raise DatasetError(f"cannot read image {file}: its pixels (PIL mode {img.mode}: 32-bit integer or "
                           "float) have no fixed range; save it with 8 or 16 bits per channel")
    return img.convert("RGB")


def read_image(file, size: tuple[int, int] | None) -> np.ndarray:
    """One image as uint8 (H, W, 3), resized to ``size`` (height, width) if given. Call it
    inside ``bomb_checks()``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with open(file, "rb") as f:
            img = to_rgb(Image.open(f), file)
        if size is not None and img.size != (size[1], size[0]):
            img = img.resize((size[1], size[0]), Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise DatasetError(f"cannot read image {file}: {' '.join(str(e).split())} (PIL's decompression-bomb "
                           "limit, Image.MAX_IMAGE_PIXELS)") from None
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise DatasetError(f"cannot read image {file}: {' '.join(str(e).split())}") from None


@contextlib.contextmanager
def bomb_checks():
    """PIL's decompression-bomb warning (an image over Image.MAX_IMAGE_PIXELS) raised as an
    error, in this thread and in the threads it starts (the warning filters are global)."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield
