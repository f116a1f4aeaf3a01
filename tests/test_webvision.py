"""WebVision (paper Table 5): the first 50 classes of an ImageFolder root, ImageNet validation
images of the same classes as a second test set, and the smoke profile end to end on a small
generated folder."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import datasets
from bench.trial.models import build_model


def synset(i: int) -> str:
    return f"n{i:08d}"


def write_folder(path, classes, per_class, size=12, seed=0):
    """``per_class`` PNG images of ``size`` x ``size`` for each class index, the class's mean
    brightness rising with its index (so a network can learn something)."""
    rng = np.random.default_rng(seed)
    for c in classes:
        d = path / synset(c)
        d.mkdir(parents=True, exist_ok=True)
        for k in range(per_class):
            img = np.clip(rng.normal(40 + 3 * c, 30, (size, size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(d / f"{k}.png")


@pytest.fixture(scope="module")
def webvision_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("webvision")
    write_folder(root / "train", range(52), 4)            # two classes more than WebVision mini keeps
    write_folder(root / "test", range(50), 2, seed=1)
    write_folder(root / "imagenet_val", range(60), 2, seed=2)   # ImageNet has more synsets
    return root


def test_first_50_classes_and_the_imagenet_test_set(webvision_root):
    ds = datasets.load_dataset("webvision", webvision_root, resize=8, imagenet_root=webvision_root / "imagenet_val")
    assert ds.num_classes == 50 and ds.class_names == [synset(i) for i in range(50)]
    assert ds.x_train.shape == (200, 3, 8, 8) and ds.x_test.shape == (100, 3, 8, 8)
    x_in, y_in = ds.extra_test["imagenet"]
    assert x_in.shape == (100, 3, 8, 8) and torch.equal(torch.bincount(y_in), torch.full((50,), 2))
    # normalised by the training split's statistics
    assert abs(float(ds.x_train.mean())) < 1e-4 and ds.augment == "crop_flip"
    # labels follow the synset names, not the folder positions: class 7's images are class 7's
    assert float(x_in[y_in == 7].mean()) < float(x_in[y_in == 40].mean())
    prepared = datasets.prepare(ds, "clean", 0)
    assert set(prepared.extra_test) == {"imagenet"}


def test_missing_classes_and_folders_are_one_line_errors(webvision_root, tmp_path):
    with pytest.raises(datasets.DatasetError, match="lacks class folder"):
        datasets.load_dataset("webvision", webvision_root, resize=8, imagenet_root=webvision_root / "test",
                              num_classes=52)
    write_folder(tmp_path / "train", range(3), 1)
    write_folder(tmp_path / "test", range(3), 1)
    with pytest.raises(datasets.DatasetError, match="needs 50"):
        datasets.load_dataset("webvision", tmp_path, resize=8)
    with pytest.raises(datasets.DatasetError, match="needs --data-root"):
        datasets.load_dataset("webvision")


def test_a_link_loop_in_a_class_folder_adds_nothing(tmp_path):
    """The image-folder rules (datasets/images.py) hold here too: each real directory read once."""
    import os

    write_folder(tmp_path / "train", range(2), 2)
    write_folder(tmp_path / "test", range(2), 1)
    os.symlink(".", tmp_path / "train" / synset(0) / "loop")
    ds = datasets.load_dataset("webvision", tmp_path, resize=8, num_classes=2)
    assert ds.y_train.tolist() == [0, 0, 1, 1]


def test_an_imagenet_root_the_system_cannot_look_up_is_one_line(tmp_path):
    write_folder(tmp_path / "train", range(2), 1)
    write_folder(tmp_path / "test", range(2), 1)
    too_long = tmp_path / ("n" * 300)
    with pytest.raises(datasets.DatasetError, match=f"^--imagenet-root {too_long}: File name too long$"):
        datasets.load_dataset("webvision", tmp_path, resize=8, num_classes=2, imagenet_root=too_long)


def test_resnet50_splits_features_and_fc():
    m = build_model("resnet50", (3, 32, 32), 50)
    x = torch.randn(2, 3, 32, 32)
    m.eval()
    assert m.features(x).shape == (2, 2048)
    torch.testing.assert_close(m(x), m.fc(m.features(x)))
    assert sum(p.numel() for p in m.parameters()) == 23_610_482   # torchvision's ResNet-50 with 50 classes


@pytest.mark.ray
def test_smoke_profile_end_to_end(webvision_root, tmp_path, monkeypatch):
    import pandas as pd

    import reports
    from bench import cli

    monkeypatch.setenv("REWEIGHT_BENCH_RESIZE", "16")
    out = tmp_path / "res"
    assert cli.main(["run", "--suite", "webvision", "--profile", "smoke", "--data-root", str(webvision_root),
                     "--imagenet-root", str(webvision_root / "imagenet_val"), "--out", str(out)]) == 0
    df = pd.read_csv(out / "results.csv")
    assert sorted(df["method"]) == ["fsr", "softmax"] and (df["status"] == "ok").all()
    assert df["imagenet_acc"].between(0, 1).all() and df["dataset"].eq("webvision").all()
    top5 = [json.loads(e) for e in df["extra"]]   # the top-5 accuracies: in the rows' extra
    assert all(0 <= e["test_top5"] <= 1 and 0 <= e["imagenet_top5"] <= 1 for e in top5)
    from bench.sweep.suites import report_declarations

    md = reports.build_report(out, suites=report_declarations()).read_text()
    assert "WebVision (paper Table 5)" in md and "ImageNet validation accuracy" in md
    assert "Top-5 test accuracy" in md and "ImageNet validation top-5 accuracy" in md
    assert cli.main(["run", "--suite", "label_noise", "--profile", "smoke", "--imagenet-root",
                     str(webvision_root), "--out", str(tmp_path / "x")]) == 2
