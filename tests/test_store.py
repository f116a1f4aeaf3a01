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
