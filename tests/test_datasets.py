"""Loaders (through their real code paths, on tiny files in each set's own format), describe(),
and the crop/flip augmentation."""
import json
import os
import pickle

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar as tv_cifar

import datasets
from datasets.augment import AUGMENTATIONS, crop_flip
from datasets.cifar import (CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, CIFAR100_CLASSES, CIFAR100_COARSE,
                            CIFAR100_MEAN, CIFAR100_STD, CIFAR100_SUPERCLASSES)
from datasets.corruptions import long_tail_counts


# --- tiny CIFAR files in torchvision's layout -------------------------------------------------

def _images(labels, seed):
    """CIFAR rows: 3072 uint8 = the 1024 R values, then G, then B, each row-major 32x32."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
    data[0, :1024], data[0, 1024:2048], data[0, 2048:] = 10, 100, 200  # image 0: flat colour...
    data[0, 1] = 250                                                    # ...but R at row 0, col 1
    return data


def _dump(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f)


def write_cifar10(root, per_batch=4, n_test=6):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    for b in range(1, 6):
        labels = [(b + i) % 10 for i in range(per_batch)]
        _dump(d / f"data_batch_{b}", {"batch_label": f"training batch {b} of 5", "labels": labels,
                                      "data": _images(labels, b), "filenames": [f"{b}_{i}.png" for i in labels]})
    labels = [i % 10 for i in range(n_test)]
    _dump(d / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": labels,
                             "data": _images(labels, 9), "filenames": [f"t{i}.png" for i in labels]})
    _dump(d / "batches.meta", {"label_names": CIFAR10_CLASSES, "num_cases_per_batch": per_batch, "num_vis": 3072})


def write_cifar100(root, n_train=12, n_test=5):
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        fine = [(7 * i) % 100 for i in range(n)]
        _dump(d / split, {"filenames": [f"{i}.png" for i in range(n)], "batch_label": split,
                          "fine_labels": fine, "coarse_labels": [CIFAR100_COARSE[f] for f in fine],
                          "data": _images(fine, seed)})
    _dump(d / "meta", {"fine_label_names": CIFAR100_CLASSES, "coarse_label_names": list(CIFAR100_SUPERCLASSES)})


@pytest.fixture
def trust_tiny_files(monkeypatch):
    """torchvision checks each CIFAR file's md5 against the real release (check_integrity, used by
    CIFAR10._check_integrity and _load_meta). Tiny test files cannot match it, so the test -- and
    only the test -- replaces that check with a file-exists check; everything else is the real path."""
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda fpath, md5=None: os.path.isfile(fpath))


def test_cifar10_loads_through_torchvision(tmp_path, trust_tiny_files):
    write_cifar10(tmp_path)
    ds = datasets.load_dataset("cifar10", tmp_path)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (6, 3, 32, 32)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.y_train[:4].tolist() == [1, 2, 3, 4] and ds.y_test.tolist() == [0, 1, 2, 3, 4, 5]
    assert ds.num_classes == 10 and ds.class_names == CIFAR10_CLASSES and ds.augment == "crop_flip"
    norm = lambda v, c: (v / 255 - CIFAR10_MEAN[c]) / CIFAR10_STD[c]
    for c, v in enumerate((10, 100, 200)):  # channel order and per-channel statistics
        assert torch.allclose(ds.x_train[0, c, 5, 7], torch.tensor(norm(v, c)), atol=1e-5)
    assert torch.allclose(ds.x_train[0, 0, 0, 1], torch.tensor(norm(250, 0)), atol=1e-5)  # not transposed
    assert torch.allclose(ds.x_train[0, 0, 1, 0], torch.tensor(norm(10, 0)), atol=1e-5)
    expected = {"truck": "automobile", "bird": "airplane", "deer": "horse", "cat": "dog", "dog": "cat"}
    for i, name in enumerate(ds.class_names):
        assert ds.class_names[ds.asym_target[i]] == expected.get(name, name)


def test_cifar100_loads_with_superclass_targets(tmp_path, trust_tiny_files):
    write_cifar100(tmp_path)
    ds = datasets.load_dataset("cifar100", tmp_path)
    assert ds.x_train.shape == (12, 3, 32, 32) and len(ds.y_test) == 5 and ds.num_classes == 100
    assert ds.y_train.tolist() == [(7 * i) % 100 for i in range(12)]
    assert ds.class_names == CIFAR100_CLASSES and ds.augment == "crop_flip"
    assert torch.allclose(ds.x_train[0, 2, 3, 3], torch.tensor((200 / 255 - CIFAR100_MEAN[2]) / CIFAR100_STD[2]))
    name_to_super = {n: s for s, names in CIFAR100_SUPERCLASSES.items() for n in names}
    for i, name in enumerate(ds.class_names):
        members = CIFAR100_SUPERCLASSES[name_to_super[name]]
        nxt = members[(members.index(name) + 1) % len(members)]
        assert ds.class_names[ds.asym_target[i]] == nxt, name


def test_cifar100_coarse_table_matches_published_mapping():
    # fine -> coarse as commonly published (independent of the name lists in datasets/cifar.py)
    published = [4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13, 15, 3,
                 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0,
                 17, 4, 18, 17, 10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13, 16, 19, 2,
                 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13]
    assert CIFAR100_COARSE == published


def test_cifar100_contradicting_coarse_labels_rejected(tmp_path, trust_tiny_files):
    write_cifar100(tmp_path)
    path = tmp_path / "cifar-100-python" / "test"
    entry = pickle.loads(path.read_bytes())
    entry["coarse_labels"][0] = (entry["coarse_labels"][0] + 1) % 20
    _dump(path, entry)
    with pytest.raises(datasets.DatasetError, match="superclass"):
        datasets.load_dataset("cifar100", tmp_path)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_missing_without_download(tmp_path, name):
    with pytest.raises(datasets.DatasetError) as e:
        datasets.load_dataset(name, tmp_path / "nowhere", download=False)
    msg = str(e.value)
    assert "--download" in msg and "--data-root" in msg and "\n" not in msg


def test_cifar_tiny_files_fail_the_real_md5_check(tmp_path):
    write_cifar10(tmp_path)  # without trust_tiny_files torchvision's md5 check runs and fails
    with pytest.raises(datasets.DatasetError, match="corrupted"):
        datasets.load_dataset("cifar10", tmp_path)


def test_registry():
    assert {"mnist1d", "digits", "cifar10", "cifar100", "folder"} <= set(datasets.DATASETS)
    assert datasets.DEFAULT in datasets.DATASETS
    with pytest.raises(datasets.DatasetError, match="unknown dataset"):
        datasets.load_dataset("imagenet")
    with pytest.raises(datasets.DatasetError, match="no option"):
        datasets.load_dataset("mnist1d", resize=8)


# --- image folder ------------------------------------------------------------------------------

def write_folder(root, sizes=None, classes=("cat", "dog"), per_class=3, size=20, test_classes=None):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, cls_list in (("train", classes), ("test", test_classes or classes)):
        for c, cls in enumerate(cls_list):
            d = root / split / cls
            d.mkdir(parents=True)
            for i in range(per_class):
                h, w = (sizes or {}).get((split, cls, i), (size, size))
                a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                a[..., 0] = 40 + 150 * c  # red tells the classes apart
                Image.fromarray(a).save(d / f"{i}.png")


def test_folder_loads_pngs(tmp_path):
    write_folder(tmp_path)
    ds = datasets.load_dataset("folder", tmp_path)
    assert ds.class_names == ["cat", "dog"] and ds.num_classes == 2
    assert ds.x_train.shape == (6, 3, 20, 20) and ds.x_test.shape == (6, 3, 20, 20)
    assert ds.y_train.tolist() == [0, 0, 0, 1, 1, 1] and ds.augment == "crop_flip"
    flat = ds.x_train.transpose(0, 1).reshape(3, -1)  # normalised with the training split's stats
    assert torch.allclose(flat.mean(1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(flat.std(1), torch.ones(3), atol=1e-4)
    assert (ds.x_train[ds.y_train == 1, 0] > ds.x_train[ds.y_train == 0, 0].max()).all()
    assert ds.asym_target == [1, 0]


def test_folder_sizes_and_resize(tmp_path, monkeypatch):
    write_folder(tmp_path, sizes={("train", "dog", 1): (24, 30)})
    with pytest.raises(datasets.DatasetError, match="differ in size"):
        datasets.load_dataset("folder", tmp_path)
    ds = datasets.load_dataset("folder", tmp_path, resize="12x10")
    assert ds.x_train.shape == (6, 3, 12, 10) and ds.augment == "none"  # too small to crop
    monkeypatch.setenv("REWEIGHT_BENCH_RESIZE", "16")
    assert datasets.load_dataset("folder", tmp_path).x_test.shape == (6, 3, 16, 16)
    with pytest.raises(datasets.DatasetError, match="bad resize"):
        datasets.load_dataset("folder", tmp_path, resize="big")


def test_folder_bad_layouts(tmp_path):
    with pytest.raises(datasets.DatasetError, match="--data-root"):
        datasets.load_dataset("folder", None)
    with pytest.raises(datasets.DatasetError, match="not found"):
        datasets.load_dataset("folder", tmp_path / "nowhere")
    (tmp_path / "a" / "train").mkdir(parents=True)
    with pytest.raises(datasets.DatasetError, match="bad image folder"):  # no class folders
        datasets.load_dataset("folder", tmp_path / "a")
    write_folder(tmp_path / "b", per_class=1)
    import shutil
    shutil.rmtree(tmp_path / "b" / "test")
    with pytest.raises(datasets.DatasetError, match="no test/"):
        datasets.load_dataset("folder", tmp_path / "b")
    write_folder(tmp_path / "c", per_class=1, test_classes=("cat", "emu"))
    with pytest.raises(datasets.DatasetError, match="different class folders"):
        datasets.load_dataset("folder", tmp_path / "c")


# --- what data a trial reads: part of its identity -----------------------------------------------

def test_the_identity_of_data_on_disk_is_its_root_files_and_size(tmp_path, monkeypatch):
    """Two folders, one folder at two sizes, a touched file: each other data, so another identity;
    the same folder, untouched, the same one. The embedded and generated sets add nothing."""
    write_folder(tmp_path / "a")
    write_folder(tmp_path / "b")   # the very same images, in another folder
    a = datasets.identity("folder", tmp_path / "a")
    assert a == datasets.identity("folder", tmp_path / "a")
    assert a["root"] == str(tmp_path / "a") and a["files"] == 12 and a["resize"] is None
    assert datasets.identity("folder", tmp_path / "b") != a
    assert datasets.identity("folder", tmp_path / "a", {"resize": "16"})["resize"] == "16x16"
    monkeypatch.setenv("REWEIGHT_BENCH_RESIZE", "12x10")
    sized = datasets.identity("folder", tmp_path / "a")
    assert sized["resize"] == "12x10" and {**sized, "resize": None} == a
    monkeypatch.delenv("REWEIGHT_BENCH_RESIZE")
    image = tmp_path / "a" / "test" / "dog" / "2.png"
    os.utime(image, ns=(image.stat().st_atime_ns, image.stat().st_mtime_ns + 1))
    touched = datasets.identity("folder", tmp_path / "a")
    assert touched["fingerprint"] != a["fingerprint"] and touched["files"] == 12
    image.unlink()
    assert datasets.identity("folder", tmp_path / "a")["files"] == 11
    for name in ("mnist1d", "digits", "synthetic"):
        assert datasets.identity(name, tmp_path / "a") == {}
    web = datasets.identity("webvision", tmp_path / "b")
    assert web["resize"] == "224x224" and web["files"] == 12 and web["imagenet_root"] is None
    imagenet = datasets.identity("webvision", tmp_path / "b", {"imagenet_root": tmp_path / "a" / "test"})
    assert imagenet["imagenet_root"] == str(tmp_path / "a" / "test") and imagenet["files"] == 12 + 5


def test_the_identity_of_a_folder_with_a_link_loop_counts_each_file_once(tmp_path):
    """A link loop in a class folder (read once by the loader) ends the fingerprint's walk too,
    instead of listing the folder's files once per level the system lets a path grow."""
    write_folder(tmp_path / "a")
    plain = datasets.identity("folder", tmp_path / "a")
    os.symlink(".", tmp_path / "a" / "train" / "dog" / "loop")
    looped = datasets.identity("folder", tmp_path / "a")
    assert looped["files"] == plain["files"] == 12


def test_the_identity_of_cifar_is_its_batch_files_and_the_human_labels_it_reads(tmp_path, monkeypatch):
    write_cifar10(tmp_path)
    clean = datasets.identity("cifar10", tmp_path)
    assert clean["root"] == str(tmp_path) and clean["files"] == 7 and "human_labels" not in clean
    assert datasets.identity("cifar10", tmp_path, corruption="uniform:0.4") == clean
    human = datasets.identity("cifar10", tmp_path, corruption="human:worst")
    assert human["human_labels"]["files"] == 0        # not there (yet): of what lies there now
    (tmp_path / "CIFAR-10_human.pt").write_bytes(b"labels")
    assert datasets.identity("cifar10", tmp_path, corruption="human:worst")["human_labels"]["files"] == 1
    assert datasets.identity("cifar10", tmp_path) == clean
    monkeypatch.setenv("REWEIGHT_BENCH_DATA", str(tmp_path))      # no root: the loader's default one
    assert datasets.identity("cifar10") == clean
    with pytest.raises(datasets.DatasetError, match="no option"):
        datasets.identity("cifar10", tmp_path, {"resize": 8})


def test_a_trials_id_holds_the_data_it_reads(tmp_path):
    """Trials on two folders (or one at two sizes) are two trials and two report rows; trials on
    the embedded sets keep the ids they had."""
    from bench.sweep import suites

    write_folder(tmp_path / "a")
    write_folder(tmp_path / "b")

    def trials(root, options=None):
        return suites.with_data_identity(suites.expand(
            suites.SUITES["label_noise"], "smoke", methods=["softmax"], dataset="folder", seeds=1,
            data_root=str(root), dataset_options=options))

    a, b, a16 = trials(tmp_path / "a"), trials(tmp_path / "b"), trials(tmp_path / "a", {"resize": 16})
    assert [t["trial_id"] for t in a] == [t["trial_id"] for t in trials(tmp_path / "a")]
    for other in (b, a16):
        assert not {t["trial_id"] for t in a} & {t["trial_id"] for t in other}
        assert not {suites.config_id(t) for t in a} & {suites.config_id(t) for t in other}
    assert all(t["trial_id"] == suites.trial_id(t) for t in a)
    plain = suites.expand(suites.SUITES["label_noise"], "smoke", seeds=1)
    assert suites.with_data_identity(plain) == plain


def _finish_without_ray(todo, out, **kw):
    """bench.sweep.runner.run_trials's stand-in: each trial "finishes" at once, with the row the runner writes."""
    from bench.sweep import runner, store

    for t in todo:
        store.append_row(out, runner.make_row(t, {"status": "ok", "test_acc": 0.5}))
    return type("Done", (), {"done": len(todo), "failed": 0})()


def test_resume_on_another_folder_runs_its_trials(tmp_path, monkeypatch, capsys):
    """A sweep on folder A, then --resume with --data-root B: B's trial runs (it is not A's,
    "already finished"); A again: nothing to run."""
    from bench.sweep import runner, store
    from bench.cli import main

    write_folder(tmp_path / "a", per_class=8)   # room for the smoke profile's 5 reward samples a class
    write_folder(tmp_path / "b", per_class=8)
    ran = []

    def fake_run_trials(todo, out, **kw):
        ran.append([t["data_root"] for t in todo])
        return _finish_without_ray(todo, out)

    monkeypatch.setattr(runner, "run_trials", fake_run_trials)
    out = tmp_path / "out"
    run = ["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax", "--seeds", "1",
           "--corruptions", "uniform:0.2", "--dataset", "folder", "--out", str(out)]
    assert main(run + ["--data-root", str(tmp_path / "a")]) == 0
    assert main(run + ["--data-root", str(tmp_path / "b"), "--resume"]) == 0
    assert main(run + ["--data-root", str(tmp_path / "a"), "--resume"]) == 0
    assert ran == [[str(tmp_path / "a")], [str(tmp_path / "b")], []]
    assert "0 trial(s) to run, 1 already finished" in capsys.readouterr().out.splitlines()[-2]
    rows = store.read_rows(out)
    assert len({r["trial_id"] for r in rows}) == len({r["config_id"] for r in rows}) == 2
    assert [json.loads(r["extra"])["data_identity"]["root"] for r in rows] == [str(tmp_path / "a"),
                                                                             str(tmp_path / "b")]


@pytest.mark.ray
def test_a_ray_sweep_on_a_folder_after_one_on_another_runs_and_keeps_both(tmp_path, monkeypatch, capsys):
    """End to end: after a sweep on folder A, --resume on folder B runs B's trial through Ray, and
    the two rows keep apart (their ids, their report rows, the data each read)."""
    from bench.sweep import runner, store
    from bench.cli import main

    write_folder(tmp_path / "a", per_class=8)
    write_folder(tmp_path / "b", per_class=8)
    out = tmp_path / "out"
    run = ["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax", "--seeds", "1",
           "--corruptions", "uniform:0.2", "--dataset", "folder", "--set", "epochs=1", "--out", str(out)]
    with monkeypatch.context() as m:
        m.setattr(runner, "run_trials", _finish_without_ray)
        assert main(run + ["--data-root", str(tmp_path / "a")]) == 0
    assert main(run + ["--data-root", str(tmp_path / "b"), "--resume"]) == 0
    assert capsys.readouterr().out.count(": 1 trial(s) to run -> ") == 2   # A's, then B's (none skipped)
    rows = store.read_rows(out)
    assert [r["status"] for r in rows] == ["ok", "ok"] and 0 <= float(rows[1]["test_acc"]) <= 1
    assert len({r["trial_id"] for r in rows}) == len({r["config_id"] for r in rows}) == 2
    assert [json.loads(r["extra"])["data_identity"]["root"] for r in rows] == [str(tmp_path / "a"),
                                                                             str(tmp_path / "b")]


def test_folder_reads_each_real_directory_once(tmp_path):
    """A link back into the class folder (a loop) adds nothing; a linked folder elsewhere is read,
    once, however many links lead to it."""
    from PIL import Image

    write_folder(tmp_path / "d")
    extra = tmp_path / "extra"
    extra.mkdir()
    for i in range(2):
        Image.fromarray(np.full((20, 20, 3), 7, np.uint8)).save(extra / f"x{i}.png")
    cat = tmp_path / "d" / "train" / "cat"
    os.symlink(".", cat / "loop")
    os.symlink(extra, cat / "more")
    os.symlink(extra, cat / "more_again")
    ds = datasets.load_dataset("folder", tmp_path / "d")
    assert ds.y_train.tolist() == [0] * 5 + [1] * 3


def test_folder_link_above_the_class_folder_adds_nothing(tmp_path):
    """``ln -s .. up`` in a class folder leads back to it through train/ (a loop), and would give
    the other classes' images this class's label."""
    write_folder(tmp_path)
    os.symlink("..", tmp_path / "train" / "cat" / "up")
    ds = datasets.load_dataset("folder", tmp_path)
    assert ds.y_train.tolist() == [0, 0, 0, 1, 1, 1]


def test_folder_scales_16_bit_images_to_8_bits(tmp_path):
    """A 16-bit greyscale PNG (PIL mode I;16) is scaled (value >> 8), not clipped to white."""
    from PIL import Image

    from datasets.folder import read_image_dir

    grey8 = np.tile(np.arange(256, dtype=np.uint16), (4, 1))          # every 8-bit level
    (tmp_path / "a").mkdir()
    Image.fromarray(grey8 * 257).save(tmp_path / "a" / "ramp.png")     # 0 .. 65535
    Image.fromarray(np.full((4, 256), 32768, np.uint16)).save(tmp_path / "a" / "mid.png")
    _, x, _ = read_image_dir(tmp_path, None)
    assert x.dtype == np.uint8 and x.shape == (2, 4, 256, 3)
    assert (x[0] == 128).all()                                          # mid-grey stays mid-grey
    assert (x[1] == grey8[..., None]).all()


def test_folder_refuses_images_without_a_fixed_range_by_name(tmp_path):
    from PIL import Image

    write_folder(tmp_path)
    odd = tmp_path / "train" / "cat" / "odd.tif"
    Image.fromarray(np.full((20, 20), 40000, np.int32)).save(odd)      # PIL mode I: 32-bit integers
    with pytest.raises(datasets.DatasetError, match=f"cannot read image {odd}: .*no fixed range"):
        datasets.load_dataset("folder", tmp_path)


@pytest.mark.parametrize("limit", [100, 300])   # 20 x 20 pixels: over twice the limit (PIL raises), over it (warns)
def test_folder_image_over_the_decompression_bomb_limit_is_one_line_exit_2(tmp_path, monkeypatch, capsys, limit):
    from PIL import Image

    from bench.cli import main

    write_folder(tmp_path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    assert main(["data", "--dataset", "folder", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench: error: cannot read image ")
    assert str(tmp_path / "train" / "cat" / "0.png") in err and "decompression-bomb" in err


# --- describe ----------------------------------------------------------------------------------

def test_describe_mnist1d_mixed():
    d = datasets.describe("mnist1d", "uniform:0.2+lt:50", seed=0, reward_per_class=5)
    json.dumps(d)  # serialisable
    ds = datasets.load_dataset("mnist1d")
    assert (d["dataset"], d["corruption"], d["noise_type"]) == ("mnist1d", "lt:50+uniform:0.2", "uniform")
    assert (d["noise_ratio"], d["imbalance_ratio"], d["seed"], d["num_classes"]) == (0.2, 50.0, 0, 10)
    assert d["num_reward"] == 50 and d["num_test"] == len(ds.y_test)
    rest = np.bincount(ds.y_train.numpy(), minlength=10) - 5           # after the reward split
    profile = long_tail_counts(int(rest.max()), 10, 50)
    assert d["true_class_counts"] == [int(min(n, q)) for n, q in zip(rest, profile)]
    assert sum(d["class_counts"]) == sum(d["true_class_counts"]) == d["num_train"]
    assert d["class_counts"] != d["true_class_counts"]
    assert d["realized_noise"] == pytest.approx(d["num_noisy"] / d["num_train"])
    assert abs(d["realized_noise"] - 0.2 * 9 / 10) < 0.03 and d["expected_noise"] == pytest.approx(0.18)
    # it agrees with what a trial trains on
    p = datasets.prepare(ds, "lt:50+uniform:0.2", seed=0, reward_per_class=5)
    assert p.class_counts().tolist() == d["class_counts"] and p.realized_noise == pytest.approx(d["realized_noise"])


def test_describe_fails_fast_on_bad_input():
    with pytest.raises(datasets.SpecError):
        datasets.describe("mnist1d", "uniform:2", seed=0)
    with pytest.raises(datasets.DatasetError):
        datasets.describe("nope", "clean", seed=0)


# --- crop_flip ---------------------------------------------------------------------------------

def test_crop_flip_shapes_and_padding():
    x = torch.randn(16, 3, 12, 10)
    out = crop_flip(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert AUGMENTATIONS["crop_flip"] is crop_flip and AUGMENTATIONS["none"](x) is x
    # every output is a (possibly mirrored) window of the zero-padded input
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(16):
        windows = [padded[i, :, r:r + 12, c:c + 10] for r in range(9) for c in range(9)]
        assert any(torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1)) for w in windows)


def test_crop_flip_without_padding_is_exact_mirror():
    x = torch.randn(64, 3, 8, 8)
    g = lambda: torch.Generator().manual_seed(5)
    out, out_of_flipped = crop_flip(x, g(), pad=0), crop_flip(x.flip(-1), g(), pad=0)
    assert torch.equal(out_of_flipped, out.flip(-1))
    mirrored = torch.tensor([torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x)])
    same = torch.tensor([torch.equal(o, xi) for o, xi in zip(out, x)])
    assert torch.all(mirrored ^ same) and 10 < mirrored.sum() < 54


def test_crop_flip_deterministic_with_seeded_generator():
    x = torch.randn(32, 3, 16, 16)
    a = crop_flip(x, torch.Generator().manual_seed(1))
    b = crop_flip(x, torch.Generator().manual_seed(1))
    c = crop_flip(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError):
        crop_flip(torch.randn(4, 1, 40))
