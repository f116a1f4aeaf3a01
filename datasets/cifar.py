"""CIFAR-10 and CIFAR-100 through torchvision, converted once to normalised float32 tensors.

The files are torchvision's (``ROOT/cifar-10-batches-py``, ``ROOT/cifar-100-python``), checked by
torchvision's own md5 test; ``download=True`` fetches them. ``ROOT`` defaults to
``$REWEIGHT_BENCH_DATA`` or ``~/.cache/reweight-bench/data``.
"""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch

from .base import Dataset, DatasetError, files
from .embedded import cache_dir
from .human import load_human_labels

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
# truck -> automobile, bird -> airplane, deer -> horse, cat <-> dog; the rest stay.
_CIFAR10_FLIPS = {"truck": "automobile", "bird": "airplane", "deer": "horse", "cat": "dog", "dog": "cat"}
CIFAR10_ASYM = [CIFAR10_CLASSES.index(_CIFAR10_FLIPS.get(n, n)) for n in CIFAR10_CLASSES]

# The 20 CIFAR-100 superclasses (coarse labels 0..19 in this order) and their fine classes,
# as listed by the data set's authors; fine labels are the alphabetical order of the 100 names.
CIFAR100_SUPERCLASSES = {
    "aquatic_mammals": ["beaver", "dolphin", "otter", "seal", "whale"],
    "fish": ["aquarium_fish", "flatfish", "ray", "shark", "trout"],
    "flowers": ["orchid", "poppy", "rose", "sunflower", "tulip"],
    "food_containers": ["bottle", "bowl", "can", "cup", "plate"],
    "fruit_and_vegetables": ["apple", "mushroom", "orange", "pear", "sweet_pepper"],
    "household_electrical_devices": ["clock", "keyboard", "lamp", "telephone", "television"],
    "household_furniture": ["bed", "chair", "couch", "table", "wardrobe"],
    "insects": ["bee", "beetle", "butterfly", "caterpillar", "cockroach"],
    "large_carnivores": ["bear", "leopard", "lion", "tiger", "wolf"],
    "large_man-made_outdoor_things": ["bridge", "castle", "house", "road", "skyscraper"],
    "large_natural_outdoor_scenes": ["cloud", "forest", "mountain", "plain", "sea"],
    "large_omnivores_and_herbivores": ["camel", "cattle", "chimpanzee", "elephant", "kangaroo"],
    "medium_mammals": ["fox", "porcupine", "possum", "raccoon", "skunk"],
    "non-insect_invertebrates": ["crab", "lobster", "snail", "spider", "worm"],
    "people": ["baby", "boy", "girl", "man", "woman"],
    "reptiles": ["crocodile", "dinosaur", "lizard", "snake", "turtle"],
    "small_mammals": ["hamster", "mouse", "rabbit", "shrew", "squirrel"],
    "trees": ["maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"],
    "vehicles_1": ["bicycle", "bus", "motorcycle", "pickup_truck", "train"],
    "vehicles_2": ["lawn_mower", "rocket", "streetcar", "tank", "tractor"],
}
CIFAR100_CLASSES = sorted(n for names in CIFAR100_SUPERCLASSES.values() for n in names)
CIFAR100_COARSE = [next(i for i, names in enumerate(CIFAR100_SUPERCLASSES.values()) if n in names)
                   for n in CIFAR100_CLASSES]


def superclass_cycle(coarse) -> list[int]:
    """Asymmetric target per fine class: the next fine class (by index) of the same superclass,
    the last one wrapping to the first."""
    coarse = [int(c) for c in coarse]
    target = list(range(len(coarse)))
    for s in set(coarse):
        members = [f for f, c in enumerate(coarse) if c == s]
        for k, f in enumerate(members):
            target[f] = members[(k + 1) % len(members)]
    return target


#: torchvision's folder of each set's files under the root
FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


def default_root() -> Path:
    return Path(os.environ.get("REWEIGHT_BENCH_DATA", cache_dir() / "data"))


def _to_tensor(data: np.ndarray, mean, std) -> torch.Tensor:
    """(N, 32, 32, 3) uint8 -> (N, 3, 32, 32) float32, per-channel normalised."""
    x = torch.from_numpy(np.ascontiguousarray(data)).permute(0, 3, 1, 2).contiguous().float()
    x.div_(255.0)
    x.sub_(torch.tensor(mean).view(1, 3, 1, 1)).div_(torch.tensor(std).view(1, 3, 1, 1))
    return x


def _open(cls, name: str, root: Path, train: bool, download: bool):
    try:
        return cls(str(root), train=train, download=download)
    except RuntimeError as e:  # torchvision: "Dataset not found or corrupted. ..."
        if download:
            raise DatasetError(f"{name}: files under {root / cls.base_folder} are corrupted even after "
                               f"--download; delete that folder and retry") from e
        raise DatasetError(f"{name} not found (or corrupted) under {root / cls.base_folder}: pass "
                           f"--download to fetch it, or --data-root DIR where it already lies") from e
    except OSError as e:  # download failures: no network, refused connection, disk full
        raise DatasetError(f"{name}: download into {root} failed ({type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''}); fetch it by hand and pass "
                           f"--data-root DIR") from e


def _load(cls, name: str, root, download: bool):
    root = Path(root) if root is not None else default_root()
    train = _open(cls, name, root, True, download)
    test = _open(cls, name, root, False, download)
    y = lambda d: torch.as_tensor(np.asarray(d.targets), dtype=torch.int64)
    return root, train, test, y(train), y(test)


def _human(root, download, name, y_train, num_classes):
    """CIFAR-N's human label sets of this training split, read (and checked) when first asked for."""
    return lambda label_set: load_human_labels(label_set, name, root, download, y_train.numpy(), num_classes)


def load_cifar10(root=None, download: bool = False) -> Dataset:
    from torchvision.datasets import CIFAR10

    root, tr, te, ytr, yte = _load(CIFAR10, "cifar10", root, download)
    return Dataset("cifar10", _to_tensor(tr.data, CIFAR10_MEAN, CIFAR10_STD), ytr,
                   _to_tensor(te.data, CIFAR10_MEAN, CIFAR10_STD), yte, 10,
                   class_names=list(tr.classes), asym_target=list(CIFAR10_ASYM), augment="crop_flip",
                   human_labels=_human(root, download, "cifar10", ytr, 10))


def cifar100_coarse(root: Path) -> list[int]:
    """Fine -> coarse label table, read from the pickled split files' ``coarse_labels`` (which
    torchvision does not expose); classes the files do not show take the fixed table. A file
    that contradicts itself or the table raises DatasetError."""
    coarse = {}
    for split in ("test", "train"):
        path = root / "cifar-100-python" / split
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")
        if "coarse_labels" not in entry:
            continue
        for fine, c in zip(entry["fine_labels"], entry["coarse_labels"]):
            if coarse.setdefault(int(fine), int(c)) != int(c):
                raise DatasetError(f"cifar100: {path} gives fine class {fine} two superclasses")
        if len(coarse) == 100:
            break
    table = [coarse.get(f, CIFAR100_COARSE[f]) for f in range(100)]
    if table != CIFAR100_COARSE:
        bad = next(f for f in range(100) if table[f] != CIFAR100_COARSE[f])
        raise DatasetError(f"cifar100: coarse labels in {root / 'cifar-100-python'} disagree with the "
                           f"standard superclasses (fine class {bad})")
    return table


def load_cifar100(root=None, download: bool = False) -> Dataset:
    from torchvision.datasets import CIFAR100

    root, tr, te, ytr, yte = _load(CIFAR100, "cifar100", root, download)
    target = superclass_cycle(cifar100_coarse(root))
    return Dataset("cifar100", _to_tensor(tr.data, CIFAR100_MEAN, CIFAR100_STD), ytr,
                   _to_tensor(te.data, CIFAR100_MEAN, CIFAR100_STD), yte, 100,
                   class_names=list(tr.classes), asym_target=target, augment="crop_flip",
                   human_labels=_human(root, download, "cifar100", ytr, 100))


def cifar_identity(name: str, root=None) -> dict:
    """What the CIFAR loader reads (datasets.identity): the root and the files of its batches."""
    root = Path(root) if root is not None else default_root()
    return {"root": str(root), **files(root / FOLDERS[name])}
