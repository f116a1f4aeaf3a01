"""Human label noise (CIFAR-N, human:NAME): the published label files read safely and checked,
through the real CIFAR loaders on tiny files in their own formats."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from test_datasets import trust_tiny_files, write_cifar10, write_cifar100  # noqa: F401 (fixture)

import datasets
from bench.sweep import suites
from bench.cli import main
from datasets.corruptions import SpecError, parse


def write_human10(root, y, **override):
    """CIFAR-10_human.pt as published: a dict of NumPy label vectors saved with torch.save."""
    y = np.asarray(y, dtype=np.int64)
    labels = {"clean_label": y, "aggre_label": y.copy(), "random_label1": (y + 1) % 10,
              "random_label2": y.copy(), "random_label3": y.copy(), "worse_label": np.where(np.arange(len(y)) % 2, (y + 3) % 10, y)}
    labels.update(override)
    torch.save(labels, root / "CIFAR-10_human.pt")
    return labels


def test_human_worst_trains_on_the_published_labels(tmp_path, trust_tiny_files):
    write_cifar10(tmp_path, per_batch=10)   # 50 images, 5 per class
    ds = datasets.load_dataset("cifar10", tmp_path)
    labels = write_human10(tmp_path, ds.y_train.numpy())
    data = datasets.prepare(ds, "human:worst", seed=0)
    assert torch.equal(data.y_train, torch.as_tensor(labels["worse_label"]))
    assert torch.equal(data.y_true, ds.y_train) and data.realized_noise == pytest.approx(0.5)
    p = datasets.prepare(ds, "human:worst", seed=0, reward_per_class=1)   # reward split from the clean labels
    assert torch.equal(p.y_reward, ds.y_train[p.reward_index])
    assert torch.equal(p.y_train, torch.as_tensor(labels["worse_label"])[p.train_index])


def test_bench_data_describes_human_noise(tmp_path, trust_tiny_files, capsys, monkeypatch):
    write_cifar10(tmp_path)
    write_human10(tmp_path, datasets.load_dataset("cifar10", tmp_path).y_train.numpy())
    assert main(["data", "--dataset", "cifar10", "--corruption", "human:worst", "--data-root", str(tmp_path),
                 "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["noise_type"], d["num_noisy"], d["realized_noise"], d["expected_noise"]) == ("human", 10, 0.5, None)
    assert d["noise_ratio"] is None and d["corruption"] == "human:worst"


@pytest.mark.parametrize("override,needle", [
    (dict(clean_label=np.zeros(20, dtype=np.int64)), "clean labels differ"),
    (dict(worse_label=np.zeros(19, dtype=np.int64)), "not one integer label per training image"),
    (dict(worse_label=np.full(20, 10, dtype=np.int64)), "outside [0, 10)"),
])
def test_a_label_file_that_does_not_fit_is_refused(tmp_path, trust_tiny_files, override, needle):
    write_cifar10(tmp_path)
    ds = datasets.load_dataset("cifar10", tmp_path)
    write_human10(tmp_path, ds.y_train.numpy(), **override)
    with pytest.raises(datasets.DatasetError, match=needle.replace("[", r"\[").replace(")", r"\)")):
        datasets.prepare(ds, "human:worst", seed=0)


class Boom:
    def __reduce__(self):
        return (print, ("arbitrary code ran",))


def test_a_file_with_arbitrary_objects_is_not_unpickled(tmp_path, trust_tiny_files, capsys):
    write_cifar10(tmp_path)
    ds = datasets.load_dataset("cifar10", tmp_path)
    torch.save({"clean_label": ds.y_train.numpy(), "worse_label": Boom()}, tmp_path / "CIFAR-10_human.pt",
               pickle_protocol=2)
    with pytest.raises(datasets.DatasetError, match="not a CIFAR-N label file"):
        datasets.prepare(ds, "human:worst", seed=0)
    assert "arbitrary code ran" not in capsys.readouterr().out


def test_a_missing_file_without_download_is_one_line_before_anything_runs(tmp_path, trust_tiny_files, capsys):
    write_cifar10(tmp_path, per_batch=10)
    assert main(["run", "--suite", "label_noise", "--profile", "smoke", "--dataset", "cifar10", "--data-root",
                 str(tmp_path), "--corruptions", "human:aggre", "--methods", "softmax,gce", "--set", "reward_per_class=0",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CIFAR-10_human.pt" in err[0] and "--download" in err[0]
    assert not (tmp_path / "r" / "results.csv").exists()


def test_cifar100n_and_the_spec_grammar(tmp_path, trust_tiny_files):
    write_cifar100(tmp_path)
    ds = datasets.load_dataset("cifar100", tmp_path)
    y = ds.y_train.numpy()
    torch.save({"clean_label": y, "noisy_label": (y + 1) % 100}, tmp_path / "CIFAR-100_human.pt")
    p = datasets.prepare(ds, "lt:2+human:noisy", seed=0)
    assert p.realized_noise == 1.0 and str(p.spec) == "lt:2+human:noisy"
    with pytest.raises(datasets.DatasetError, match="exist for cifar10 only, not cifar100"):
        ds.human_labels("worst")
    with pytest.raises(SpecError, match="human label sets are aggre, rand1"):
        parse("human:best")
    assert parse("human:worst").fits("cifar10") and not parse("human:worst").fits("cifar100")


def test_the_human_noise_suite_pairs_each_label_set_with_its_data_set():
    pairs = {(t["corruption"], t["dataset"]) for t in suites.expand(suites.SUITES["human_noise"], "paper", seeds=1)}
    assert pairs == {(f"human:{n}", "cifar10") for n in ("aggre", "rand1", "rand2", "rand3", "worst")} | \
        {("human:noisy", "cifar100")}
    quick = {t["corruption"] for t in suites.expand(suites.SUITES["human_noise"], "quick", seeds=1)}
    assert quick == {"idn:0.1", "idn:0.2", "idn:0.4"}
