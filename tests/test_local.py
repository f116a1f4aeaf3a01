"""``bench run --local N``: a sweep without Ray (a lent GPU machine has none), its rows as a Ray
sweep's, --resume, and a failed trial as a row with its reason."""
from __future__ import annotations

import json
import subprocess
import sys

from bench import cli
from bench.sweep import local, store, suites

SMOKE = ["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax,gce", "--seeds", "1",
         "--corruptions", "uniform:0.4", "--local", "2"]


def test_a_local_sweep_runs_without_ray_and_resumes(tmp_path):
    out = tmp_path / "out"
    code = ("import sys; from bench import cli; rc = cli.main(sys.argv[1:]); "
            "print('RAY IMPORTED' if 'ray' in sys.modules else 'no ray'); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, *SMOKE, "--out", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "no ray" in proc.stdout and "2 trial(s) to run without Ray, 2 at once" in proc.stdout
    rows = store.read_rows(out)
    assert sorted(r["method"] for r in rows) == ["gce", "softmax"] and all(r["status"] == "ok" for r in rows)
    extra = json.loads(rows[0]["extra"])
    assert "machine" in extra and "settings" in extra and float(rows[0]["test_acc"]) > 0
    assert cli.main(SMOKE + ["--out", str(out), "--resume"]) == 0
    assert len(store.read_rows(out)) == 2   # nothing run twice


def test_a_trial_that_fails_is_a_row_with_its_reason_and_the_rest_go_on(tmp_path, capsys):
    ok, bad = suites.expand(suites.SUITES["label_noise"], "smoke", methods=["softmax"], seeds=2)[:2]
    bad = dict(bad, dataset="folder", data_root=str(tmp_path / "nowhere"))   # fails as it loads its data
    bad["trial_id"] = suites.trial_id(bad)
    got = local.run_trials([bad, ok], tmp_path, parallel=1)
    assert (got.done, got.failed) == (2, 1)
    rows = {r["dataset"]: r for r in store.read_rows(tmp_path)}
    assert rows["mnist1d"]["status"] == "ok"
    assert rows["folder"]["status"] == "failed" and "nowhere" in rows["folder"]["error"]
    assert "FAILED: " in capsys.readouterr().out


def test_bad_local_requests_are_one_line_and_exit_2(tmp_path, capsys):
    assert cli.main(SMOKE[:-1] + ["0", "--out", str(tmp_path / "o")]) == 2
    assert "--local N runs N >= 1" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
