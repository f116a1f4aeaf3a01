import json

import pandas as pd
import pytest

from bench.sweep import store


def test_rows_append_and_pandas_reads_them(tmp_path):
    store.append_row(tmp_path, {"trial_id": "a", "status": "ok", "test_acc": 0.5, "hparams": {"beta": 0.9}})
    store.append_row(tmp_path, {"trial_id": "b", "status": "failed", "error": "ValueError: x, y"})
    df = pd.read_csv(tmp_path / "results.csv")
    assert list(df.columns) == store.columns()
    assert df["trial_id"].tolist() == ["a", "b"] and df["test_acc"].isna().tolist() == [False, True]
    assert df.loc[0, "hparams"] == '{"beta": 0.9}' and df.loc[1, "error"] == "ValueError: x, y"
    assert store.finished_ids(tmp_path) == {"a"}  # failed trials are retried by --resume


def test_a_torn_last_line_is_ignored_and_not_glued_to_the_next_row(tmp_path):
    store.append_row(tmp_path, {"trial_id": "a", "status": "ok"})
    with open(tmp_path / "results.csv", "a") as f:
        f.write("b,label_noise,smo")          # a kill in the middle of a write
    store.append_row(tmp_path, {"trial_id": "c", "status": "ok"})
    assert [r["trial_id"] for r in store.read_rows(tmp_path)] == ["a", "c"]
    assert store.finished_ids(tmp_path) == {"a", "c"}


def test_missing_store_has_no_rows(tmp_path):
    assert store.read_rows(tmp_path) == [] and store.finished_ids(tmp_path) == set()


def test_a_store_with_another_header_is_refused_before_anything_runs(tmp_path, capsys):
    from bench import cli

    old = [c for c in store.columns() if c != "raw_test_acc"]   # a store of the previous version
    (tmp_path / "results.csv").write_text(",".join(old) + "\n")
    assert "lacks raw_test_acc" in store.header_difference(tmp_path)
    assert cli.main(["run", "--suite", "label_noise", "--profile", "smoke", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another version" in err[0]
    assert (tmp_path / "results.csv").read_text() == ",".join(old) + "\n"



def test_a_store_with_the_same_columns_in_another_order_takes_rows_in_its_order(tmp_path):
    """A header of the same version in another column order (the schema's order changed) is
    appended to in the file's own order: every value lands under its own name."""
    (tmp_path / "results.csv").write_text(",".join(reversed(store.columns())) + "\n")
    assert store.header_difference(tmp_path) is None
    store.append_row(tmp_path, {"trial_id": "a", "status": "ok", "test_acc": 0.5, "suite": "label_noise"})
    df = pd.read_csv(tmp_path / "results.csv")
    assert list(df.columns) == list(reversed(store.columns()))
    assert (df.loc[0, "trial_id"], df.loc[0, "test_acc"], df.loc[0, "suite"]) == ("a", 0.5, "label_noise")


def test_a_second_sweep_on_the_same_store_is_refused_at_once(tmp_path, capsys):
    """One writer per store: while a sweep holds DIR, another one exits 2 naming the holder."""
    import subprocess
    import sys

    from bench import cli

    holder = subprocess.Popen(
        [sys.executable, "-c", "import filelock, os, sys, time; d = sys.argv[1]; "
         "lock = filelock.FileLock(d + '/.sweep.lock'); lock.acquire(); "
         "open(d + '/.sweep.pid', 'w').write(str(os.getpid())); print('held', flush=True); time.sleep(60)",
         str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        rc = cli.main(["run", "--suite", "label_noise", "--profile", "smoke", "--out", str(tmp_path)])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and f"process {holder.pid}" in err[0]
        assert not (tmp_path / "results.csv").exists()
    finally:
        holder.kill()
        holder.wait()


def test_out_that_is_a_file_is_refused(tmp_path, capsys):
    from bench import cli

    f = tmp_path / "file"
    f.write_text("x")
    assert cli.main(["run", "--suite", "label_noise", "--profile", "smoke", "--out", str(f)]) == 2
    assert "is a file" in capsys.readouterr().err and f.read_text() == "x"
    assert cli.main(["run", "--suite", "label_noise", "--profile", "smoke", "--out", str(f / "sub")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write there" in err[0] and f.read_text() == "x"


def test_a_torn_quoted_line_loses_only_itself(tmp_path):
    """Before: a line torn inside a quoted field swallowed the next good row."""
    store.append_row(tmp_path, {"trial_id": "a", "status": "ok", "hparams": {"x": 1}})
    with open(tmp_path / "results.csv", "a") as f:
        f.write('b,label_noise,quick,mnist1d,small_cnn,fsr,fsr,uniform:0.4,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,"{\\"warm')
    store.append_row(tmp_path, {"trial_id": "c", "status": "ok", "hparams": {"y": 2}})
    assert [r["trial_id"] for r in store.read_rows(tmp_path)] == ["a", "c"]
    import reports
    assert sorted(reports.load_results(tmp_path)["trial_id"]) == ["a", "c"]


@pytest.mark.parametrize("damage", ["utf8", "directory"])
def test_a_damaged_store_is_one_line_and_exit_2(tmp_path, capsys, damage):
    """A header that is not UTF-8 (a damaged row loses only itself) or a store that is a directory."""
    from bench import cli

    path = tmp_path / "results.csv"
    if damage == "utf8":
        store.append_row(tmp_path, {"trial_id": "a", "status": "ok"})
        path.write_bytes(path.read_bytes().replace(b"suite", b"s\xffuite", 1))
    else:
        path.mkdir()
    for argv in (["run", "--suite", "label_noise", "--profile", "smoke", "--out", str(tmp_path), "--resume"],
                 ["report", "--out", str(tmp_path)]):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("UTF-8" in err[0] if damage == "utf8" else "directory" in err[0]), err


def test_every_scalar_a_trial_returns_is_kept(tmp_path):
    from bench.sweep import runner

    cfg = dict(trial_id="t", suite="label_noise", profile="smoke", method="fsr", variant="fsr",
               corruption="uniform:0.4", seed=0, hparams={})
    row = runner.make_row(cfg, {"test_acc": 0.5, "status": "ok", "my_new_metric": 0.25, "note": "x",
                                "final": True, "timestamp": 1, "traceback": "..."})
    store.append_row(tmp_path, row)
    back = store.read_rows(tmp_path)[0]
    extra = json.loads(back["extra"])   # and the resolved settings without a column (tests/test_records.py)
    assert extra.pop("settings")["batch_size"] == 100 and extra == {"my_new_metric": 0.25, "note": "x"}
    assert back["schema_version"] == str(store.SCHEMA_VERSION) and back["config_id"]
