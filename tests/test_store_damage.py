"""The results store and the output directory when something is damaged or of the wrong kind:
a torn line loses only itself, no row is dropped or lost, and anything that cannot be read or
written is one line on stderr and exit status 2, at once, with nothing half-written."""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import reports
from bench import cli
from bench.sweep import store, suites

SMOKE = ["run", "--suite", "label_noise", "--profile", "smoke", "--methods", "softmax", "--seeds", "1"]
FIXTURE = Path(__file__).parent / "data" / "results_fixture.csv"
PENDING = "results.pending.csv"   # where rows wait while results.csv refuses them (README)
ROOT = Path(cli.__file__).parent.parent   # the code under test, for `python -m bench`


def _smoke_ids() -> list[str]:
    return [t["trial_id"] for t in suites.expand(suites.SUITES["label_noise"], "smoke", methods=["softmax"], seeds=1)]


@pytest.fixture
def sweep(monkeypatch):
    """Ray replaced by a stand-in that finishes every trial it is given and records them."""
    from bench.sweep import runner

    ran = []

    class Done:
        failed = 0

    def fake_run_trials(todo, out, **kw):
        ran.append([t["trial_id"] for t in todo])
        done = Done()
        done.done = len(todo)
        return done

    monkeypatch.setattr(runner, "run_trials", fake_run_trials)
    return ran


def _one_error_line(capsys, needle: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench: error: ") and needle in err[0], err
    return err[0]


def _row_bytes(folder: Path, row: dict) -> bytes:
    """A row as the writer puts it in a store of the schema's column order."""
    store.append_row(folder, row)
    return store.results_path(folder).read_bytes().split(b"\n", 1)[1]


# item 2: a torn multi-byte character ----------------------------------------------------------

def test_a_row_torn_inside_a_character_loses_only_itself(tmp_path, capsys, sweep):
    ids = _smoke_ids()
    store.append_row(tmp_path, {"trial_id": ids[0], "status": "ok", "suite": "label_noise", "variant": "Méthode"})
    line = _row_bytes(tmp_path / "other", {"trial_id": ids[1], "status": "ok", "variant": "Méthode"})
    with open(store.results_path(tmp_path), "ab") as f:
        f.write(line[:line.index("é".encode()) + 1])          # a kill between the two bytes of é
    store.append_row(tmp_path, {"trial_id": "c", "status": "ok", "suite": "label_noise", "variant": "Méthode"})
    assert [r["trial_id"] for r in store.read_rows(tmp_path)] == [ids[0], "c"]
    assert sorted(reports.load_results(tmp_path)["trial_id"]) == sorted([ids[0], "c"])
    assert cli.main(["report", "--out", str(tmp_path)]) == 0
    assert cli.main([*SMOKE, "--out", str(tmp_path), "--resume"]) == 0
    assert sweep == [ids[1:]]                                   # the finished trial is not run again


# item 4: a long field ----------------------------------------------------------------------

def test_a_long_field_is_cut_at_64_kib_when_written(tmp_path):
    store.append_row(tmp_path, {"trial_id": "a", "status": "failed", "error": "E" * 200_000})
    store.append_row(tmp_path, {"trial_id": "b", "status": "ok", "error": "é" * 100_000})
    rows = store.read_rows(tmp_path)
    assert [r["trial_id"] for r in rows] == ["a", "b"]
    for r in rows:
        assert r["error"].endswith(" ... [truncated]") and len(r["error"].encode("utf-8")) <= 64 * 1024
    assert rows[0]["error"].startswith("E" * 60_000) and rows[1]["error"].startswith("é" * 30_000)


def test_a_row_with_a_field_over_csvs_limit_is_read(tmp_path, sweep):
    """A store written without the cap (or edited): every row it holds is read, none rerun."""
    ids = _smoke_ids()
    store.append_row(tmp_path, {"trial_id": "x", "status": "ok"})
    lines = store.results_path(tmp_path).read_bytes().splitlines(keepends=True)
    head, template = lines[0], lines[1].decode()
    long_ok = template.replace("x,", f"{ids[0]},", 1).replace(",ok,", ",ok," + "W" * 200_000, 1)
    long_failed = template.replace("x,", "f,", 1).replace(",ok,", ",failed," + "T" * 200_000, 1)
    store.results_path(tmp_path).write_bytes(head + long_ok.encode() + long_failed.encode())
    rows = store.read_rows(tmp_path)
    assert [r["trial_id"] for r in rows] == [ids[0], "f"] and len(rows[1]["error"]) == 200_000
    assert store.finished_ids(tmp_path) == {ids[0]}
    assert (reports.load_results(tmp_path)["status"].tolist()) == ["ok", "failed"]
    assert cli.main([*SMOKE, "--out", str(tmp_path), "--resume"]) == 0 and sweep == [ids[1:]]


# item 5: a store that cannot be written ------------------------------------------------------

def _refuse_writes(monkeypatch, *paths: Path) -> None:
    """Make these files refuse rows. For a user chmod does it; root writes through file modes,
    so there the store's one opener is made to fail as the kernel would (EACCES)."""
    for p in paths:
        if p.exists():
            p.chmod(0o444)
    if os.geteuid() != 0:
        return
    real = store.__dict__.get("_open_for_append")

    def opener(path):
        if Path(path) in paths:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(store, "_open_for_append", opener, raising=False)


def test_a_store_that_cannot_be_written_is_refused_before_the_sweep(tmp_path, capsys, monkeypatch, sweep):
    ids = _smoke_ids()
    store.append_row(tmp_path, {"trial_id": ids[0], "status": "ok"})
    before = store.results_path(tmp_path).read_bytes()
    _refuse_writes(monkeypatch, store.results_path(tmp_path))
    assert cli.main([*SMOKE, "--out", str(tmp_path), "--resume"]) == 2
    _one_error_line(capsys, "cannot write")
    assert sweep == [] and store.results_path(tmp_path).read_bytes() == before


def test_rows_the_store_refuses_mid_sweep_are_kept_and_merged_by_resume(tmp_path, capsys, monkeypatch, sweep):
    ids = _smoke_ids()
    store.append_row(tmp_path, {"trial_id": ids[0], "status": "ok"})
    before = store.results_path(tmp_path).read_bytes()
    with monkeypatch.context() as m:                      # results.csv refuses rows from here on
        _refuse_writes(m, store.results_path(tmp_path))
        why = store.append_row(tmp_path, {"trial_id": ids[1], "status": "ok"})
        store.append_row(tmp_path, {"trial_id": ids[2], "status": "failed", "error": "x"})
    store.results_path(tmp_path).chmod(0o644)
    assert "cannot write" in why and "results.pending.csv" in why and "--resume" in why
    assert store.results_path(tmp_path).read_bytes() == before
    assert [r["trial_id"] for r in store.read_rows(tmp_path)] == [ids[0]]
    assert sorted(reports.load_results(tmp_path)["trial_id"]) == sorted(ids[:3])   # the report sees them
    # a merge cut short had already copied the first row: it is not copied twice
    with open(store.results_path(tmp_path), "ab") as f:
        f.write((tmp_path / PENDING).read_bytes().splitlines(keepends=True)[1])
    assert cli.main([*SMOKE, "--out", str(tmp_path)]) == 2              # without --resume: told to merge
    _one_error_line(capsys, "--resume")
    assert cli.main([*SMOKE, "--out", str(tmp_path), "--resume"]) == 0
    assert [r["trial_id"] for r in store.read_rows(tmp_path)] == ids[:3]
    assert not (tmp_path / PENDING).exists() and sweep == [ids[2:]]


def test_a_sweep_whose_rows_cannot_be_written_anywhere_stops_at_once(tmp_path, monkeypatch, capsys):
    from bench.sweep import runner

    cfgs = suites.expand(suites.SUITES["label_noise"], "smoke", methods=["softmax"], seeds=1)
    store.append_row(tmp_path, {"trial_id": "earlier", "status": "ok"})
    (tmp_path / PENDING).write_text("")
    _refuse_writes(monkeypatch, store.results_path(tmp_path), tmp_path / PENDING)  # a full disk
    cb = runner.StoreCallback(tmp_path, len(cfgs))
    stopper = runner.StopWhenUnwritable(cb)
    trial = type("Trial", (), {"config": {"trial": cfgs[0]}, "trial_id": "t0", "last_result": {}})
    assert not stopper.stop_all()
    cb._record(trial, {"status": "ok", "test_acc": 0.5})
    assert stopper.stop_all() and cfgs[0]["trial_id"] in cb.unwritable and cb.done == 0
    cb._record(trial, {"status": "failed"})        # trials the stop ends are not recorded
    assert cb.done == 0 and capsys.readouterr().out == ""


@pytest.mark.ray
def test_a_real_sweep_stops_when_no_file_takes_its_rows(tmp_path, monkeypatch):
    from bench.sweep.runner import run_trials

    cfgs = suites.expand(suites.SUITES["label_noise"], "smoke", methods=["softmax"], seeds=1)[:3]
    store.append_row(tmp_path, {"trial_id": "earlier", "status": "ok"})
    (tmp_path / PENDING).write_text("")
    _refuse_writes(monkeypatch, store.results_path(tmp_path), tmp_path / PENDING)
    with pytest.raises(store.StoreError, match="the sweep stopped after 0 row"):
        run_trials(cfgs, tmp_path, name="t", num_cpus=1, max_concurrent=1)
    assert [r["trial_id"] for r in store.read_rows(tmp_path)] == ["earlier"]
    ran = [p for p in (tmp_path / "ray" / "t").iterdir() if p.is_dir()]
    assert len(ran) < len(cfgs), ran             # stopped at once: not every trial ran


def test_the_first_row_kept_aside_is_said_once(tmp_path, monkeypatch, capsys):
    from bench.sweep import runner

    cfgs = suites.expand(suites.SUITES["label_noise"], "smoke", methods=["softmax"], seeds=1)
    store.append_row(tmp_path, {"trial_id": "earlier", "status": "ok"})
    _refuse_writes(monkeypatch, store.results_path(tmp_path))
    cb = runner.StoreCallback(tmp_path, len(cfgs))
    for i, cfg in enumerate(cfgs[:2]):
        cb._record(type("Trial", (), {"config": {"trial": cfg}, "trial_id": f"t{i}"}), {"status": "ok"})
    err = capsys.readouterr().err.strip().splitlines()
    assert (cb.done, cb.pending) == (2, 2) and len(err) == 1 and "results.pending.csv" in err[0]


# item 10: results.csv or .sweep.pid that is not a regular file ---------------------------------

@pytest.mark.parametrize("fifo,argv", [
    ("results.csv", ["report"]),
    ("results.csv", [*SMOKE, "--resume"]),
    (".sweep.pid", SMOKE),
])
def test_a_fifo_in_the_store_is_refused_at_once(tmp_path, fifo, argv):
    os.mkfifo(tmp_path / fifo)
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "bench", *argv, "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=90)
    assert time.time() - t0 < 90
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and "is a FIFO" in err[0], proc.stderr
    assert not store.results_path(tmp_path).is_file() and not (tmp_path / "report").exists()


def test_a_sweep_pid_that_is_a_directory_is_refused(tmp_path, capsys, sweep):
    (tmp_path / ".sweep.pid").mkdir()
    assert cli.main([*SMOKE, "--out", str(tmp_path)]) == 2
    _one_error_line(capsys, "is a directory")
    assert sweep == [] and not store.results_path(tmp_path).exists()


# item 13: a BOM or a NUL in the header, a header repeated mid-file ----------------------------

def test_a_header_with_a_utf8_bom_is_read(tmp_path, sweep):
    ids = _smoke_ids()
    store.append_row(tmp_path, {"trial_id": ids[0], "status": "ok", "suite": "label_noise"})
    path = store.results_path(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())    # saved by a spreadsheet
    assert store.header_difference(tmp_path) is None and store.finished_ids(tmp_path) == {ids[0]}
    store.append_row(tmp_path, {"trial_id": "b", "status": "ok", "suite": "label_noise"})
    assert [(r["trial_id"], r["suite"]) for r in store.read_rows(tmp_path)] == [(ids[0], "label_noise"),
                                                                                 ("b", "label_noise")]
    assert reports.load_results(tmp_path)["trial_id"].tolist() == [ids[0], "b"]
    assert cli.main([*SMOKE, "--out", str(tmp_path), "--resume"]) == 0 and sweep == [ids[1:]]


@pytest.mark.parametrize("argv", [["report"], [*SMOKE, "--resume"]])
def test_a_nul_in_the_header_is_named(tmp_path, capsys, sweep, argv):
    store.append_row(tmp_path, {"trial_id": "a", "status": "ok"})
    path = store.results_path(tmp_path)
    path.write_bytes(path.read_bytes().replace(b"suite", b"su\0ite", 1))
    before = path.read_bytes()
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    _one_error_line(capsys, "NUL")
    assert sweep == [] and path.read_bytes() == before and not (tmp_path / "report").exists()


def test_a_header_repeated_mid_file_is_not_a_row(tmp_path):
    """Two stores joined with `cat`: the second header is skipped, not a failed trial of suite "suite"."""
    for name in ("a", "b"):
        store.append_row(tmp_path / name, {"trial_id": name, "status": "ok", "suite": "label_noise"})
    joined = store.results_path(tmp_path / "a").read_bytes() + store.results_path(tmp_path / "b").read_bytes()
    store.results_path(tmp_path).write_bytes(joined)
    assert [r["trial_id"] for r in store.read_rows(tmp_path)] == ["a", "b"]
    df = reports.load_results(tmp_path)
    assert df["trial_id"].tolist() == ["a", "b"] and set(df["suite"]) == {"label_noise"}
    assert (df["status"] == "ok").all()


# item 12: tracebacks about the output directory ------------------------------------------------

def _long(tmp_path):
    return str(tmp_path / ("x" * 300))


def _loop(tmp_path):
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    return str(tmp_path / "loop")


@pytest.mark.parametrize("make,needle", [(_long, "too long"), (_loop, "symbolic links")])
@pytest.mark.parametrize("command", [SMOKE, ["report"]])
def test_an_out_that_cannot_be_a_directory_is_one_line(tmp_path, capsys, sweep, make, needle, command):
    out = make(tmp_path)
    before = sorted(os.listdir(tmp_path))
    assert cli.main([*command, "--out", out]) == 2
    _one_error_line(capsys, needle)
    assert sweep == [] and sorted(os.listdir(tmp_path)) == before


@pytest.mark.parametrize("wrong", ["report file", "plots file", "report.md directory"])
def test_a_report_folder_of_the_wrong_kind_is_one_line_and_nothing_written(tmp_path, capsys, wrong):
    shutil.copy(FIXTURE, store.results_path(tmp_path))
    name, kind = wrong.split()
    place = {"report": tmp_path / "report", "plots": tmp_path / "report" / "plots",
             "report.md": tmp_path / "report" / "report.md"}[name]
    place.parent.mkdir(parents=True, exist_ok=True)
    place.mkdir() if kind == "directory" else place.write_text("mine")
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert cli.main(["report", "--out", str(tmp_path), "--format", "md,tex,csv"]) == 2
    _one_error_line(capsys, f"is a {'directory' if kind == 'directory' else 'file'}")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("argv", [["report"], [*SMOKE, "--resume"]])
def test_a_header_with_a_column_twice_is_one_line(tmp_path, capsys, sweep, argv):
    store.append_row(tmp_path, {"trial_id": "a", "status": "ok", "suite": "label_noise"})
    lines = store.results_path(tmp_path).read_text().splitlines()
    store.results_path(tmp_path).write_text(lines[0] + ",suite\n" + lines[1] + ",label_noise\n")
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    _one_error_line(capsys, "suite twice")
    assert sweep == [] and not (tmp_path / "report").exists()
