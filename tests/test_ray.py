"""Real Ray Tune sweeps: rows in the store, failures recorded, project imports in workers,
resume after the driver is killed with SIGKILL, and a sweep on a separately started cluster."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from bench.sweep import store, suites
from bench.sweep.runner import run_trials

pytestmark = pytest.mark.ray

TINY = dict(dataset="digits", model="small_cnn", epochs=1, batch_size=100, corruption="uniform:0.2",
            schedule=dict(name="constant"), suite="test", profile="smoke", variant="", seed=0,
            timing_warmup_steps=1)


def _trial(**kw):
    cfg = {**TINY, **kw}
    cfg["variant"] = cfg["variant"] or cfg["method"]
    cfg["trial_id"] = suites.trial_id(cfg)
    return cfg


def test_sweep_records_finished_and_failed_trials(tmp_path, capsys):
    trials = [_trial(method="softmax"), _trial(method="cb"), _trial(method="cb", hparams={"betta": 1})]
    cb = run_trials(trials, tmp_path, name="t", num_cpus=2)
    assert (cb.done, cb.failed) == (3, 1)
    df = pd.read_csv(tmp_path / "results.csv")
    assert sorted(df["trial_id"]) == sorted(t["trial_id"] for t in trials)
    ok, bad = df[df.status == "ok"], df[df.status == "failed"]
    assert len(ok) == 2 and ok["test_acc"].between(0.05, 1).all() and (ok["realized_noise"] > 0).all()
    assert len(bad) == 1 and "unknown hyper-parameter" in bad["error"].iloc[0]
    assert set(ok["noise_type"]) == {"uniform"} and set(ok["noise_ratio"]) == {0.2}
    trial_dirs = [p for p in (tmp_path / "ray" / "t").iterdir() if p.is_dir()]
    assert len(trial_dirs) == 3 and all((d / "labels.npz").exists() for d in trial_dirs if "softmax" in d.name)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("[")]
    assert len(lines) == 3 and "ETA" in lines[-1] and any("FAILED" in ln for ln in lines)


def test_ray_workers_import_this_projects_packages_first(tmp_path, monkeypatch):
    """A foreign top-level 'datasets' (like Hugging Face's) on PYTHONPATH must not win in workers."""
    import ray

    import datasets
    from bench.sweep.runner import ray_init_kwargs

    fake = tmp_path / "foreign" / "datasets"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("FOREIGN = True\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    ray.init(**ray_init_kwargs(num_cpus=1))
    try:
        @ray.remote
        def where():
            import datasets as d
            import methods as m
            return d.__file__, getattr(d, "IS_REWEIGHT_BENCH", False), m.__file__

        file, ours, mfile = ray.get(where.remote())
    finally:
        ray.shutdown()
    import methods
    # Ray also puts the driver's working directory on the workers' path, so a worker may load
    # the checkout while the driver loads the installed copy: the code must be the same.
    assert ours and Path(file).read_bytes() == Path(datasets.__file__).read_bytes()
    assert Path(mfile).read_bytes() == Path(methods.__file__).read_bytes()


def _bench(*args, **kw):
    kw = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, **kw}
    return subprocess.Popen([sys.executable, "-m", "bench", *args], text=True, start_new_session=True, **kw)


def _left_in_session(sid: int, within: float = 15.0) -> list[str]:
    """The live processes of session ``sid`` (a driver started by _bench leads its own: every
    Ray process it starts is in it) still there after ``within`` seconds (none: at once)."""
    deadline = time.time() + within
    while True:
        ps = subprocess.run(["ps", "-eo", "pid=,sid=,stat=,args="], capture_output=True, text=True).stdout
        left = [ln.strip() for ln in ps.splitlines()
                if ln.split()[1] == str(sid) and not ln.split()[2].startswith("Z")]
        if not left or time.time() > deadline:
            return left
        time.sleep(0.5)


def _timed_main(argv, env=None, timeout=90):
    """main(argv) in a child process: (exit status, stderr lines, seconds main took; the imports
    before it not counted). A child still running after ``timeout`` fails the test."""
    code = ("import sys, time\nfrom bench.cli import main\nt0 = time.time()\n"
            "try:\n    sys.exit(main(sys.argv[1:]))\nfinally:\n    print(f'\\n{time.time() - t0:.2f}')\n")
    proc = subprocess.Popen([sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"bench {' '.join(argv)} still running after {timeout} s")
    return proc.returncode, err.strip().splitlines(), float(out.split()[-1])


def test_resume_after_kill_9_finishes_only_what_is_missing(tmp_path):
    args = ["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax,cb",
            "--seeds", "1", "--out", str(tmp_path)]
    total = 8
    proc = _bench(*args)
    deadline = time.time() + 240
    while time.time() < deadline and len(store.read_rows(tmp_path)) < 2:
        time.sleep(0.5)
    os.kill(proc.pid, signal.SIGKILL)   # the driver only; Ray's own processes share its fate
    proc.wait()
    assert not _left_in_session(proc.pid), "Ray processes outlived the killed driver"
    before = store.read_rows(tmp_path)
    assert 2 <= len(before) < total, "the sweep should have been killed midway"

    again = _bench(*args, "--resume")
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    assert f"{total - len(before)} trial(s) to run, {len(before)} already finished" in out
    rows = store.read_rows(tmp_path)
    ids = [r["trial_id"] for r in rows]
    assert len(rows) == total and len(set(ids)) == total and all(r["status"] == "ok" for r in rows)
    assert rows[:len(before)] == before             # nothing finished was lost or rewritten


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _ray_head(num_cpus: int):
    """A Ray head of ``num_cpus`` CPUs started by the test, stopped (all its processes) at the
    end: yields (its address, the environment for drivers that join it)."""
    ray_bin = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="rb-", dir="/tmp")   # short: Ray's socket paths must fit 107 bytes
    # Keep every Ray address on loopback (Ray otherwise swaps 127.0.0.1 for the machine's own IP),
    # and run this throw-away head and its driver without token authentication (an earlier
    # ray.init in this process may have left RAY_AUTH_MODE=token in the environment).
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen([ray_bin, "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                             f"--port={port}", f"--num-cpus={num_cpus}", "--num-gpus=0", "--include-dashboard=false",
                             f"--temp-dir={temp_dir}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=env)
    try:
        address = f"127.0.0.1:{port}"
        deadline = time.time() + 120
        ready = ("import ray; ray.init(address='%s', runtime_env={'env_vars': {'X': '1'}}); "
                 "ray.get(ray.remote(lambda: 1).remote(), timeout=30)" % address)
        while subprocess.run([sys.executable, "-c", ready], env=env, capture_output=True, timeout=90).returncode:
            assert head.poll() is None and time.time() < deadline, "the Ray head did not come up"
            time.sleep(1)
        yield address, env
    finally:  # stop the head this test started (its process group), by its own process id
        os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=30)
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", temp_dir], capture_output=True, text=True).stdout
    assert not left.strip(), f"Ray processes of the test cluster survived: {left}"
    shutil.rmtree(temp_dir, ignore_errors=True)


def test_sweep_on_an_existing_cluster(tmp_path):
    with _ray_head(num_cpus=2) as (address, env):
        proc = _bench("run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax",
                      "--seeds", "1", "--corruptions", "uniform:0.2", "--out", str(tmp_path / "out"),
                      "--address", address, env=env)
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
        df = pd.read_csv(tmp_path / "out" / "results.csv")
        assert len(df) == 1 and df["status"].iloc[0] == "ok"


#: holds the one CPU of the cluster at argv[1] (a task that sleeps), then says so
HOLD_A_CPU = """import sys, time, ray
ray.init(address=sys.argv[1])
ref = ray.remote(num_cpus=1)(lambda: time.sleep(600)).remote()
while ray.available_resources().get("CPU", 0) > 0:
    time.sleep(0.2)
print("held", flush=True)
time.sleep(600)
"""


def test_a_cluster_without_room_for_a_trial_is_refused_at_once(tmp_path):
    """--address: a cluster with fewer CPUs than a trial asks for, or whose CPUs another job
    holds, is one line and exit 2 within 15 s, before OUT exists (not a sweep that waits)."""
    out = tmp_path / "out"
    with _ray_head(num_cpus=1) as (address, env):
        argv = ["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax", "--seeds", "1",
                "--corruptions", "uniform:0.2", "--address", address, "--out", str(out)]
        rc, err, secs = _timed_main(argv + ["--cpus-per-trial", "2"], env)
        assert (rc, len(err)) == (2, 1) and "has 1; no trial could ever start" in err[0] and secs < 15, (err, secs)
        assert not out.exists()
        holder = subprocess.Popen([sys.executable, "-c", HOLD_A_CPU, address], stdout=subprocess.PIPE, text=True,
                                  env=env, start_new_session=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            rc, err, secs = _timed_main(argv, env)
        finally:
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
        assert (rc, len(err)) == (2, 1) and "has 0 of its 1 free" in err[0] and secs < 15, (err, secs)
        assert not out.exists()


def test_an_address_that_is_not_a_ray_cluster_is_refused_within_15_s(tmp_path):
    """Something listens at --address, but not Ray (ray.init alone would retry forever)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        rc, err, secs = _timed_main(["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax",
                                     "--seeds", "1", "--address", f"127.0.0.1:{listener.getsockname()[1]}",
                                     "--out", str(tmp_path / "out")])
    assert (rc, len(err)) == (2, 1) and "no Ray cluster answered" in err[0] and secs < 15, (err, secs)
    assert not (tmp_path / "out").exists()


def test_address_auto_joins_only_a_cluster_named_or_started_with_ray_start(tmp_path):
    """auto without RAY_ADDRESS and without a `ray start` cluster is one line, exit 2, at once,
    whatever other Ray runtimes run on this machine (Ray's own "auto" would join one of them)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = str(tmp_path)       # where `ray start` leaves its address: nothing there
    rc, err, secs = _timed_main(["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax",
                                 "--seeds", "1", "--address", "auto", "--out", str(tmp_path / "out")], env)
    assert (rc, len(err)) == (2, 1) and "--address auto" in err[0] and "ray start" in err[0] and secs < 15, (err, secs)
    assert not (tmp_path / "out").exists()


def test_ctrl_c_exits_130_saying_what_finished_and_leaves_no_ray_process(tmp_path):
    """SIGINT after the first row: exit 130 and "interrupted: N of M finished"; no interrupted
    trial recorded as failed; none of Ray's processes left. The rows name their trial
    directories, here under a --storage outside OUT, where the report finds the curves."""
    import reports
    from bench.sweep.suites import report_declarations

    out, storage = tmp_path / "out", tmp_path / "elsewhere"
    proc = _bench("run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax", "--seeds", "6",
                  "--out", str(out), "--storage", str(storage), stderr=subprocess.PIPE,   # 24: some left at the first row
                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))   # as a terminal's Ctrl-C finds it
                  # (a shell's background job, as CI may start the tests, inherits SIGINT ignored)
    deadline = time.time() + 240
    while time.time() < deadline and not store.read_rows(out):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    rows = store.read_rows(out)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == f"bench: interrupted: {len(rows)} of 24 finished; rerun with --resume"
    assert "Traceback" not in err and 1 <= len(rows) < 24 and all(r["status"] == "ok" for r in rows)
    assert not _left_in_session(proc.pid), "Ray processes outlived the interrupted driver"
    for r in rows:
        trial_dir = Path(json.loads(r["extra"])["trial_dir"])
        assert trial_dir.is_relative_to(storage) and '"epoch"' in (trial_dir / "result.json").read_text()
    reports.build_report(out, suites=report_declarations())
    assert list((out / "report" / "plots").glob("curves*.png"))


def test_more_cpus_per_trial_than_the_cluster_has_is_refused_before_any_trial(tmp_path, capsys):
    from bench.cli import main

    t0 = time.time()
    out = tmp_path / "out"
    assert main(["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax", "--seeds", "1",
                 "--cpus-per-trial", str(4 * (os.cpu_count() or 1)), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no trial could ever start" in err[0], err
    assert time.time() - t0 < 15 and not (out / "results.csv").exists()


def test_long_trials_print_an_epoch_line_at_most_once_a_period(tmp_path, capsys):
    from types import SimpleNamespace

    from bench.sweep.runner import StoreCallback

    trial = SimpleNamespace(trial_id="t1", config={"trial": dict(variant="fsr", corruption="uniform:0.4", seed=0,
                                                                 epochs=10)})
    cb = StoreCallback(tmp_path, total=4, epoch_line_s=3600)
    cb.on_trial_start(0, [], trial)
    cb.on_trial_result(0, [], trial, {"epoch": 1, "test_acc": 0.5})
    assert capsys.readouterr().out == ""                     # under the period: quiet
    cb.epoch_line_s = 0.0
    cb.on_trial_result(0, [], trial, {"epoch": 5, "test_acc": 0.75})
    line = capsys.readouterr().out
    assert "epoch 5/10" in line and "75.0%" in line and "sweep ETA" in line
    assert cb.progress["t1"] == 0.5                          # half a trial counts towards the sweep's ETA


def test_a_trial_killed_mid_run_resumes_from_its_checkpoint(tmp_path):
    """SIGKILL the driver after a quick-profile trial's first checkpoint (epoch 5 of 31);
    --resume continues it from there, and its final metrics equal an uninterrupted run's."""
    import warnings

    from bench.trial.harness import train

    args = ["run", "--suite", "label_noise", "--methods", "fsr", "--seeds", "1", "--corruptions", "uniform:0.4",
            "--out", str(tmp_path)]
    proc = _bench(*args)
    ckpts = tmp_path / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and not list(ckpts.glob("*.pt")):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(ckpts.glob("*.pt")) and not store.read_rows(tmp_path), "killed after a checkpoint, before the end"
    again = _bench(*args, "--resume")
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    row = store.read_rows(tmp_path)[0]
    assert json.loads(row["extra"])["resumed_from_epoch"] in (5, 10, 15, 20, 25), row["extra"]
    trial = suites.expand(suites.SUITES["label_noise"], "quick", methods=["fsr"], seeds=1)
    cfg = next(t for t in trial if t["corruption"] == "uniform:0.4")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)                  # as the Ray trial ran (one CPU per trial)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            whole = train(cfg)
    finally:
        torch.set_num_threads(threads)
    assert float(row["test_acc"]) == whole["test_acc"] and float(row["dict_purity"]) == whole["dict_purity"]
    assert float(row["zero_weight_ratio"]) == whole["zero_weight_ratio"]
    assert not list(ckpts.glob("*.pt"))


def test_a_reused_worker_gives_each_trial_the_numbers_of_a_fresh_process(tmp_path):
    """Workers run trial after trial (no process start per trial); each trial seeds all it draws
    from, so its row equals a run of the harness in a process of its own."""
    from bench.trial.harness import train

    trials = [_trial(method=m, seed=s) for m in ("mwn", "fsr", "softmax") for s in (0, 1)]
    for t in trials:
        if t["method"] == "fsr":
            t["hparams"] = {"reweight_start": 0, "dictionary_size": 100, "reward_batch": 50}
        if t["method"] == "mwn":
            t["reward_per_class"] = 5
        t["trial_id"] = suites.trial_id(t)
    cb = run_trials(trials, tmp_path, name="reuse", num_cpus=1)   # one worker runs all six in turn
    assert (cb.done, cb.failed) == (6, 0)
    df = pd.read_csv(tmp_path / "results.csv").set_index("trial_id")
    for t in trials[::2]:
        fresh = subprocess.run([sys.executable, "-c", "import json, sys; from bench.trial.harness import train; "
                                "print(json.dumps(train(json.loads(sys.argv[1]))))", json.dumps(t)],
                               capture_output=True, text=True, check=True)
        want = json.loads(fresh.stdout.strip().splitlines()[-1])
        for k in ("test_acc", "best_acc", "realized_noise", "zero_weight_ratio", "weight_auroc"):
            got = df.loc[t["trial_id"], k]
            both_nan = pd.isna(got) and (want[k] is None or want[k] != want[k])
            assert both_nan or got == want[k], (t["method"], k, got, want[k])


def test_trials_start_longest_first_and_keep_their_order_otherwise():
    from bench.sweep.runner import longest_first

    trials = [_trial(method=m, seed=s) for s in (0, 1) for m in ("softmax", "fsr", "l2r", "cb", "mwn")]
    order = [(t["method"], t["seed"]) for t in longest_first(trials)]
    assert order == [("mwn", 0), ("mwn", 1), ("l2r", 0), ("l2r", 1), ("fsr", 0), ("fsr", 1),
                     ("softmax", 0), ("cb", 0), ("softmax", 1), ("cb", 1)]


def test_the_sweep_eta_weights_trials_by_their_expected_cost(tmp_path):
    from bench.sweep.runner import StoreCallback, expected_cost

    heavy, light = _trial(method="mwn"), _trial(method="softmax")
    weights = {heavy["trial_id"]: expected_cost(heavy), light["trial_id"]: expected_cost(light)}
    assert weights[heavy["trial_id"]] > 3 * weights[light["trial_id"]]
    cb = StoreCallback(tmp_path, total=2, weights=weights)
    cb.t0 -= 36.0                                   # 36 s in, the heavy trial done
    cb.done, cb.done_weight = 1, weights[heavy["trial_id"]]
    share = weights[light["trial_id"]] / weights[heavy["trial_id"]]
    assert cb._eta() == pytest.approx(36.0 * share, rel=0.05)   # not 36 s, as one trial of two would say
