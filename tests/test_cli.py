"""The command line's contract: bad input is one line on stderr, exit status 2, nothing written."""
import json
import subprocess
import sys
import time

import pytest

from bench.sweep import suites
from bench.cli import main


@pytest.mark.parametrize("argv,needle", [
    (["run", "--suite", "nope"], "unknown suite 'nope'"),
    (["run", "--suite", "label_noise", "--profile", "huge"], "unknown profile 'huge'"),
    (["run", "--suite", "label_noise", "--methods", "softmax,foo"], "unknown method 'foo'"),
    (["run", "--suite", "label_noise", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["run", "--suite", "label_noise", "--corruptions", "uniform:1.5"], "noise ratio must lie in [0, 1]"),
    (["run", "--suite", "label_noise", "--corruptions", "asym:-0.1"], "noise ratio must lie in [0, 1]"),
    (["run", "--suite", "label_noise", "--seeds", "0"], "--seeds must be at least 1"),
    (["run", "--suite", "label_noise", "--dataset", "cifar10", "--data-root", "{tmp}/nothing"], "--download"),
    (["run"], "--suite"),
    (["data", "--corruption", "lt:0.5"], "imbalance ratio must be"),
    (["report", "--out", "{tmp}/empty"], "results.csv"),
    (["frobnicate"], "invalid choice"),
    (["run", "--suite", "label_noise", "--address", "127.0.0.1:9"], "nothing answers"),
    (["run", "--suite", "label_noise", "--address", "nohostport"], "HOST:PORT"),
    (["run", "--suite", "label_noise", "--gpus-per-trial", "1"], "no CUDA GPU"),
    (["run", "--suite", "label_noise", "--device", "cuda"], "no CUDA GPU"),
    (["run", "--suite", "label_noise", "--device", "tpu"], "unknown device 'tpu'"),
    (["run", "--suite", "label_noise", "--cpus-per-trial", "nan"], "not a finite number"),
    (["run", "--suite", "label_noise", "--gpus-per-trial", "inf"], "not a finite number"),
    (["run", "--suite", "label_noise", "--methods", ","], "empty list"),
    (["run", "--suite", "label_noise", "--corruptions", ", ,"], "empty list"),
    (["run", "--suite", "long_tail", "--seeds", "30"], "pass --yes"),
    (["run", "--suite", "long_tail", "--dataset", "digits", "--corruptions", "lt:200"], "without a training sample"),
    (["run", "--suite", "long_tail", "--profile", "smoke", "--corruptions", "lt:1000000"], "without a training sample"),
    (["run", "--suite", "label_noise", "--profile", "paper", "--dataset", "mnist1d"], "does not take"),
    (["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax", "--seeds", "1",
      "--corruptions", "uniform:0.2", "--cpus-per-trial", "1e6"], "this machine has"),
    (["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax", "--seeds", "1",
      "--corruptions", "uniform:0.2", "--cpus-per-trial", "1e-300"], "below Ray's resource unit, 0.0001"),
    (["data", "--seed", "-1"], "is negative"),
    (["data", "--reward-per-class", "-3"], "is negative"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, needle):
    out = tmp_path / "out"
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] == "run":
        argv += ["--out", str(out)]
    t0 = time.time()
    assert main(argv) == 2
    assert time.time() - t0 < 15
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench: error: ") and needle in err
    assert not out.exists() and not (tmp_path / "empty").exists()


def test_list_names_suites_methods_datasets_profiles(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for word in ("label_noise", "softmax", "cb", "mnist1d", "cifar10", "smoke", "quick", "paper"):
        assert word in text


def test_data_json_describes_the_embedded_set_offline():
    proc = subprocess.run([sys.executable, "-m", "bench", "data", "--dataset", "mnist1d",
                           "--corruption", "lt:50+uniform:0.2", "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    counts = info["true_class_counts"]
    assert info["num_classes"] == 10 and sum(info["class_counts"]) == info["num_train"] == sum(counts)
    assert counts[0] == max(counts) and counts[-1] == int(counts[0] / 50)   # exact exponential profile
    assert 0.1 < info["realized_noise"] < 0.25                              # ~ 0.2 * 9 / 10


def test_rerun_without_resume_refuses_to_duplicate(tmp_path, capsys):
    from bench.sweep import store, suites

    cfg = suites.expand(suites.SUITES["label_noise"], "smoke", methods=["softmax"], seeds=1)[0]
    store.append_row(tmp_path, {"trial_id": cfg["trial_id"], "status": "ok"})
    before = (tmp_path / "results.csv").read_text()
    assert main(["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax",
                 "--seeds", "1", "--out", str(tmp_path)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert (tmp_path / "results.csv").read_text() == before


def test_every_suite_expands_for_every_profile_with_shapes_that_fit():
    from bench.sweep import suites
    from bench.costs.stepper import make_runner

    for suite in suites.SUITES.values():
        for profile in suites.PROFILES:
            trials = suites.expand(suite, profile)
            assert trials and len({t["trial_id"] for t in trials}) == len(trials), (suite.name, profile)
    for t in suites.expand(suites.SUITES["cost"], "quick", seeds=1):   # model and input shape agree
        runner = make_runner({**t, "steps": 1}, strict=False)
        runner.step()


def test_hyper_parameters_take_the_profiles_value():
    from bench.sweep import suites

    def mwn(profile):
        return {t["hparams"]["normalize"] for t in suites.expand(suites.SUITES["label_noise"], profile, methods=["mwn"])}

    assert mwn("quick") == {True} and mwn("paper") == {False}   # the official script's default at paper scale
    fsr = suites.expand(suites.SUITES["label_noise"], "paper", methods=["fsr"])
    assert {t["hparams"]["reweight_start"] for t in fsr} == {20}


def test_cost_trials_run_one_at_a_time_with_all_cpus(tmp_path, monkeypatch):
    """A step's median must not depend on a neighbour: the cost suite runs serially, each trial
    with all of the machine's CPUs as threads; other suites run side by side on one CPU each."""
    import os

    from bench.sweep import runner

    seen = {}

    class Done:
        done = failed = 0

    def fake_run_trials(todo, out, **kw):
        seen[kw["name"].split("-")[0]] = (kw["max_concurrent"], kw["cpus_per_trial"])
        return Done()

    monkeypatch.setattr(runner, "run_trials", fake_run_trials)
    main(["run", "--suite", "cost", "--profile", "smoke", "--out", str(tmp_path / "c")])
    main(["run", "--suite", "label_noise", "--profile", "smoke", "--out", str(tmp_path / "l")])
    assert seen["cost"] == (1, float(os.cpu_count()))
    assert seen["label_noise"] == (0, 1.0)


def test_duplicate_corruptions_run_once(capsys):
    assert main(["run", "--suite", "label_noise", "--profile", "smoke", "--corruptions",
                 "uniform:0.2,uniform:0.20,uniform:0.2", "--dry-run"]) == 0
    trials = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(trials) == len(suites.NOISE_METHODS) and {t["corruption"] for t in trials} == {"uniform:0.2"}


def test_rates_that_differ_stay_two_trials_as_given(capsys):
    """A rate is kept to its last digit (not rounded to 6), and a large ratio's canonical form
    (lt:1e+06, with the + of its exponent) reads back as itself."""
    assert main(["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax", "--corruptions",
                 "uniform:0.1234567,uniform:0.1234568,lt:1e+06+uniform:0.2", "--dry-run"]) == 0
    trials = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [t["corruption"] for t in trials] == ["uniform:0.1234567", "uniform:0.1234568", "lt:1e+06+uniform:0.2"]
    assert len({t["trial_id"] for t in trials}) == 3


def test_a_gpu_machine_gives_each_trial_a_gpu_unless_told_otherwise(monkeypatch, capsys):
    """Ray hides GPUs from a trial given none: --device auto would silently train on CPU."""
    import torch

    from bench import cli

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    args = cli.build_parser().parse_args(["run", "--suite", "label_noise"])
    cli.check_device(args)
    assert args.gpus_per_trial == 1.0 and "--gpus-per-trial 1" in capsys.readouterr().err
    args = cli.build_parser().parse_args(["run", "--suite", "label_noise", "--device", "cpu"])
    cli.check_device(args)
    assert args.gpus_per_trial == 0.0


def test_a_storage_that_is_a_file_is_refused_before_ray_starts(tmp_path, capsys):
    (tmp_path / "afile").write_text("not a directory\n")
    assert main(["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax", "--seeds", "1",
                 "--corruptions", "uniform:0.2", "--storage", str(tmp_path / "afile"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bench: error: --storage") and "is a file" in err
    assert not (tmp_path / "out").exists()     # refused before the store, so before Ray


def test_two_sweeps_in_the_same_second_get_experiments_of_their_own(tmp_path, monkeypatch):
    """Two sweeps on one --storage started in the same second must not share a Tune experiment
    directory (their trial directories would mix)."""
    import time as _time

    from bench.sweep import runner

    names = []

    class Done:
        done = failed = 0

    monkeypatch.setattr(runner, "run_trials", lambda todo, out, **kw: names.append(kw["name"]) or Done())
    monkeypatch.setattr(_time, "strftime", lambda fmt, *when: "20260101-000000")   # the same second
    for out in ("a", "b"):
        main(["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax", "--seeds", "1",
              "--out", str(tmp_path / out), "--storage", str(tmp_path / "ray")])
    assert len(names) == 2 and names[0] != names[1]


@pytest.mark.parametrize("dataset", ["folder", "webvision"])
def test_a_data_root_name_over_255_characters_is_one_line_exit_2(tmp_path, capsys, dataset):
    root = tmp_path / ("x" * 300)   # the file system refuses to look it up (ENAMETOOLONG)
    assert main(["run", "--suite", "label_noise", "--profile", "smoke", "--dataset", dataset,
                 "--data-root", str(root), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"bench: error: --data-root {root}: ") and "too long" in err
    assert not (tmp_path / "out").exists()


def _strict_json(line: str):
    def refuse(token):
        raise ValueError(f"{token} is not JSON")
    return json.loads(line, parse_constant=refuse)


def test_dry_run_prints_every_suite_and_profile_as_standard_json(capsys):
    for name in suites.SUITES:
        for profile in suites.PROFILES:
            assert main(["run", "--suite", name, "--profile", profile, "--dry-run"]) == 0
            lines = capsys.readouterr().out.splitlines()
            assert lines and all(_strict_json(line)["suite"] == name for line in lines), (name, profile)


def test_dry_run_writes_a_non_finite_value_as_a_json_string(monkeypatch, capsys):
    """NaN / Infinity (a --set value) are not JSON: printed as strings; the trial ids stay those of
    the configs as they are."""
    from bench import cli

    expand, made = suites.expand, []

    def with_odd_values(*args, **kwargs):
        trials = expand(*args, **kwargs)
        for t in trials:
            t["optim"] = {**t["optim"], "lr": float("inf")}
            t["hparams"] = {**t["hparams"], "q": [float("nan"), -float("inf")]}
        made.extend(trials)
        return trials

    monkeypatch.setattr(cli.suites, "expand", with_odd_values)
    # such values are refused before a dry run (tests/test_ranges.py); the printing must not
    # depend on that: the check is taken out here
    monkeypatch.setattr(cli, "check_trials", lambda *a, **k: None)
    assert main(["run", "--suite", "label_noise", "--profile", "smoke", "--seeds", "1", "--dry-run"]) == 0
    printed = [_strict_json(line) for line in capsys.readouterr().out.splitlines()]
    assert [t["trial_id"] for t in printed] == [t["trial_id"] for t in made] and printed
    assert all(t["optim"]["lr"] == "Infinity" and t["hparams"]["q"] == ["NaN", "-Infinity"] for t in printed)
