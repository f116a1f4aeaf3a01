"""WebVision, the paper's Table 5: the first 50 classes of WebVision 1.0 ("mini"), trained from
its web labels (real, unknown noise), tested on WebVision's validation images of those classes
and, when a second folder is given, on ImageNet's validation images of the same classes.

Layout (ImageFolder, class folders named by ImageNet synset, so that sorted order is the class
order of WebVision and ImageNet): ``ROOT/train/SYNSET/*.jpg`` and ``ROOT/test/SYNSET/*.jpg``
(WebVision's validation set); the first 50 class folders in sorted order are kept. The optional
``imagenet_root`` (``--imagenet-root``) is a folder ``SYNSET/*.JPEG`` of ImageNet validation
images; the same 50 synsets are read from it and reported as ``imagenet_acc``.

Images are resized to 224 x 224 (the reference's image size) unless ``resize`` (or
``REWEIGHT_BENCH_RESIZE``) says otherwise, and normalised with the training split's statistics.
There is no download: WebVision is distributed by its authors (data.vision.ee.ethz.ch/cvl/webvision).
"""
from __future__ import annotations

from pathlib import Path

from .base import Dataset, DatasetError, files
from .folder import _read_split, image_size, read_image_dir, size_text, to_normalised
from .images import existing_dir

NUM_CLASSES = 50
IMAGE_SIZE = 224


def load_webvision(root=None, download: bool = False, resize=None, imagenet_root=None,
                   num_classes: int = NUM_CLASSES) -> Dataset:
    if root is None:
        raise DatasetError("dataset 'webvision' needs --data-root DIR holding train/ and test/ in ImageFolder "
                           "layout, one folder per ImageNet synset (see datasets/webvision.py)")
    root = Path(root)
    if not existing_dir(root, "--data-root"):
        raise DatasetError(f"WebVision folder {root} not found")
    if download:
        raise DatasetError("webvision cannot be downloaded by this tool: get WebVision 1.0 from its authors "
                           "and lay it out as DIR/train/SYNSET, DIR/test/SYNSET")
    size = image_size(resize) or (IMAGE_SIZE, IMAGE_SIZE)
    classes, xtr, ytr = _read_split(root, "train", size, classes=num_classes)
    _, xte, yte = _read_split(root, "test", size, classes=classes)
    extra = {}
    if imagenet_root:
        if not existing_dir(Path(imagenet_root), "--imagenet-root"):
            raise DatasetError(f"ImageNet validation folder {imagenet_root} not found")
        _, xin, yin = read_image_dir(Path(imagenet_root), size, classes=classes)
        x_train, x_test, x_in = to_normalised(xtr, xte, xin)
        extra["imagenet"] = (x_in, yin)
    else:
        x_train, x_test = to_normalised(xtr, xte)
    return Dataset("webvision", x_train, ytr, x_test, yte, len(classes), class_names=classes,
                   augment="crop_flip", extra_test=extra)


def webvision_identity(root=None, resize=None, imagenet_root=None, num_classes: int = NUM_CLASSES) -> dict:
    """What load_webvision reads (datasets.identity): the roots, their files, the classes, the size."""
    if root is None:
        return {}
    paths = [Path(root) / "train", Path(root) / "test", *([Path(imagenet_root)] if imagenet_root else [])]
    return {"root": str(root), "imagenet_root": str(imagenet_root) if imagenet_root else None, **files(*paths),
            "classes": num_classes, "resize": size_text(image_size(resize) or (IMAGE_SIZE, IMAGE_SIZE))}
