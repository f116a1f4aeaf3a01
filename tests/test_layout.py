"""bench/ shows its three jobs at a glance: the command line at the top, then one subpackage
per job (the sweep, one trial's training, the cost instruments), each saying what it holds."""
from __future__ import annotations

import importlib
from pathlib import Path

import bench

BENCH = Path(bench.__file__).parent
JOBS = ("sweep", "trial", "costs")


def test_top_level_holds_only_the_command_line_and_the_three_jobs():
    modules = {p.name for p in BENCH.glob("*.py")}
    packages = {p.name for p in BENCH.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert modules == {"__init__.py", "__main__.py", "cli.py"}
    assert packages == set(JOBS)


def test_each_job_lists_its_modules_and_re_exports_nothing():
    for job in JOBS:
        pkg = importlib.import_module(f"bench.{job}")
        listed = pkg.__doc__.split("Modules:")[1].replace(".", "").replace(",", " ").split()
        on_disk = [p.stem for p in (BENCH / job).glob("*.py") if p.stem != "__init__"]
        assert sorted(listed) == sorted(on_disk), job
        # its own submodules become attributes once imported; anything else would be a re-export
        extra = [n for n, v in vars(pkg).items() if not n.startswith("__")
                 and getattr(v, "__name__", None) != f"bench.{job}.{n}"]
        assert not extra, f"bench.{job} re-exports {extra}"


def test_paths_derived_from_a_file_still_reach_the_checkout():
    from bench.sweep import provenance, runner
    root = BENCH.resolve().parent
    assert provenance.ROOT == root and Path(runner.PROJECT_ROOT) == root
    assert (root / "bench" / "__init__.py").exists()   # the folder holding the packages: a checkout or site-packages
    if (root / ".git").exists():                          # from a checkout: its root, where the commit is read
        assert (root / "pyproject.toml").exists()
