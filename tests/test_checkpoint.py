"""A trial killed after a checkpoint resumes from it and ends bit for bit as an uninterrupted
run on CPU: for every method with state of its own (FSR's dictionary, scores, logit EMA and
generator; MWN's weighting net and its optimiser; L2R's reward sampler)."""
from __future__ import annotations

import warnings

import pytest
import torch

from bench.trial import checkpoint
from bench.trial.harness import train

BASE = dict(dataset="mnist1d", corruption="uniform:0.4", epochs=4, train_limit=600, reward_per_class=5,
            timing_warmup_steps=1, ema_decay=0.9)
SAME = ("test_acc", "best_acc", "raw_test_acc", "raw_best_acc", "dict_purity", "zero_weight_ratio",
        "weight_auroc", "weight_purity", "clean_weight", "noisy_weight", "realized_noise")


class Killed(Exception):
    pass


def _kill_at(epoch):
    def report(metrics):
        if metrics["epoch"] == epoch:
            raise Killed
    return report


@pytest.mark.parametrize("method,hparams", [("fsr", {"reweight_start": 1, "dictionary_max_fraction": 0.2}),
                                            ("mwn", {"reward_batch": 20}), ("l2r", {"reward_batch": 20}),
                                            ("elr", {}), ("gce", {"truncated": True, "prune_start": 1, "prune_every": 2})])
def test_resumed_trial_equals_an_uninterrupted_one(tmp_path, method, hparams):
    cfg = dict(BASE, method=method, hparams=hparams, trial_id=f"t-{method}", checkpoint_dir=str(tmp_path),
               checkpoint_every=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        whole = train(dict(cfg, checkpoint_dir=None))
        with pytest.raises(Killed):
            train(cfg, report=_kill_at(3))          # dies after epoch 3's report: checkpoint of epoch 2
        path = checkpoint.path_for(cfg)
        assert path.exists() and checkpoint.load(path)["epoch"] == 2
        resumed = train(cfg)
    assert resumed["resumed_from_epoch"] == 2 and whole["resumed_from_epoch"] == 0
    for k in SAME:
        assert (resumed[k] == whole[k]) or (resumed[k] != resumed[k] and whole[k] != whole[k]), k
    assert not path.exists()                        # removed once the trial finished


def test_no_checkpoint_without_a_directory_or_a_period(tmp_path):
    assert checkpoint.path_for(dict(trial_id="a", checkpoint_every=1)) is None
    assert checkpoint.path_for(dict(trial_id="a", checkpoint_dir=str(tmp_path), checkpoint_every=0)) is None
    assert checkpoint.path_for(dict(trial_id="a", checkpoint_dir=str(tmp_path), checkpoint_every=5)) == tmp_path / "a.pt"


class _RunsCode:
    """Unpickling this creates a file (what a planted checkpoint could do instead)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _plant(kind, path, marker):
    if kind == "runs code":
        torch.save({"epoch": 2, "step": 0, "method": _RunsCode(marker)}, path)
    elif kind == "garbage":
        path.write_bytes(b"not a checkpoint\x00\xff" * 10)
    else:   # loads weights-only, but is not a trial's state
        torch.save({"epoch": 2, "weights": torch.zeros(3)}, path)


@pytest.mark.parametrize("kind", ["runs code", "garbage", "foreign"])
def test_a_checkpoint_that_does_not_load_is_moved_aside_and_the_trial_starts_over(tmp_path, kind):
    cfg = dict(BASE, epochs=2, method="softmax", trial_id="t-bad", checkpoint_dir=str(tmp_path / "ck"),
               checkpoint_every=1)
    path, marker = checkpoint.path_for(cfg), tmp_path / "marker"
    path.parent.mkdir()
    _plant(kind, path, marker)
    epochs = []
    with pytest.warns(RuntimeWarning, match="cannot be used .*moved to t-bad.pt.bad-"):
        result = train(cfg, report=lambda m: epochs.append(m["epoch"]))
    assert not marker.exists()                              # its code never ran
    assert result["resumed_from_epoch"] == 0 and epochs == [1, 2]
    assert not path.exists() and len(list(path.parent.glob("t-bad.pt.bad-*"))) == 1
