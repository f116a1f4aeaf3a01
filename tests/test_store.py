import pandas as pd

from bench import store


def test_rows_append_and_pandas_reads_them(tmp_path):
    store.append_row(tmp_path, {"trial_id": "a", "status": "ok", "test_acc": 0.5, "hparams": {"beta": 0.9}})
    store.append_row(tmp_path, {"trial_id": "b", "status": "failed", "error": "ValueError: x, y"})
    df = pd.read_csv(tmp_path / "results.csv")
    assert list(df.columns) == store.COLUMNS
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

    old = [c for c in store.COLUMNS if c != "raw_test_acc"]   # a store of the previous version
    (tmp_path / "results.csv").write_text(",".join(old) + "\n")
    assert "lacks raw_test_acc" in store.header_difference(tmp_path)
    assert cli.main(["run", "--suite", "label_noise", "--profile", "smoke", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another version" in err[0]
    assert (tmp_path / "results.csv").read_text() == ",".join(old) + "\n"
    (tmp_path / "results.csv").write_text(",".join(reversed(store.COLUMNS)) + "\n")
    assert "column order" in store.header_difference(tmp_path)


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
