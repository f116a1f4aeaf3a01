"""The Ray runtime a sweep runs on, and the checks that need it, all before anything is written.

- A sweep starts its own runtime on this machine, unless ``--address`` names a cluster to join.
- Per-trial resources below Ray's unit (0.0001; Ray would round them to 0) are refused, and so
  is more than the runtime could ever give: this machine's CPUs / GPUs for a local runtime;
  with ``--address``, the cluster's, and what it has free now (a cluster whose CPUs other jobs
  hold would leave the sweep waiting without end).
- ``--address`` is joined within ``CONNECT_TIMEOUT_S``: ``ray.init`` retries an address that
  is not a Ray cluster without end, so a child process asks (and is killed at the deadline).
- ``--address auto`` is the cluster named by RAY_ADDRESS, else the one ``ray start`` last
  started on this machine; never, as Ray's own "auto" falls back to, any Ray process found
  running (another user's sweep). A runtime started here or joined ignores RAY_ADDRESS
  otherwise, so that the cluster checked is the one the sweep uses.
- A runtime started here dies with the driver, however the driver ends (``bench.sweep.reaper``).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path

from . import reaper
from .checks import UsageError, check_address

MIN_UNIT = 0.0001          # Ray's resource granularity: a smaller request is rounded to 0
CONNECT_TIMEOUT_S = 10.0   # to join a cluster at --address and read its resources

_PROBE = ("import json, logging, sys, ray\n"
          "ray.init(address=sys.argv[1], logging_level=logging.ERROR, log_to_driver=False)\n"
          "print(json.dumps([ray.cluster_resources(), ray.available_resources()]))\n")


def check_request(args) -> None:
    """Before anything is written: resources per trial Ray can express, a --storage that can be
    a directory, and (without --address) a request this machine can hold."""
    for flag, want in (("--cpus-per-trial", args.cpus_per_trial), ("--gpus-per-trial", args.gpus_per_trial)):
        if 0 < want < MIN_UNIT:
            raise UsageError(f"{flag} {want:g} is below Ray's resource unit, {MIN_UNIT:g} (Ray would round it to 0)")
    if args.storage:
        check_storage(args.storage)
    if not args.address:
        import torch

        have = {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count() if args.gpus_per_trial else 0)}
        fits(args.cpus_per_trial, args.gpus_per_trial, have, where="this machine")


def check_storage(storage) -> None:
    """--storage is, or can become, a directory this user writes in."""
    path = Path(storage).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"--storage {storage}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--storage {storage}: cannot write in {existing}")


def fits(cpus: float, gpus: float, total: dict, free: dict | None = None, where: str = "the Ray cluster") -> None:
    """A trial asking for ``cpus`` and ``gpus`` can start on ``total`` (and, given, ``free`` now)."""
    for what, want in (("CPU", cpus), ("GPU", gpus)):
        have = float(total.get(what, 0.0))
        if want > have:
            raise UsageError(f"each trial asks for {want:g} {what}(s) but {where} has {have:g}; "
                             "no trial could ever start")
        if free is not None and want > float(free.get(what, 0.0)):
            raise UsageError(f"each trial asks for {want:g} {what}(s) but {where} has {float(free.get(what, 0.0)):g} "
                             f"of its {have:g} free (other jobs hold the rest); no trial could start now: "
                             "wait for them, or choose another cluster")


def resolve(address: str) -> str:
    """--address auto: RAY_ADDRESS, else the cluster `ray start` last started on this machine."""
    if address != "auto":
        return address
    found = os.environ.get("RAY_ADDRESS", "").strip()
    if not found:
        from ray._common.utils import get_ray_address_file   # where `ray start` leaves its address

        file = Path(get_ray_address_file(None))
        found = file.read_text().strip() if file.is_file() else ""
    if not found:
        raise UsageError("--address auto: RAY_ADDRESS is not set and no cluster was started with `ray start` on "
                         "this machine; start one, or give HOST:PORT")
    return found


def probe(address: str, timeout: float = CONNECT_TIMEOUT_S) -> tuple[dict, dict]:
    """(total, free) resources of the Ray cluster at ``address``, asked by a child process that
    is killed at the deadline."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([sys.executable, "-c", _PROBE, address], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise UsageError(f"--address {address}: no Ray cluster answered within {timeout:g} s "
                         "(give the address of a Ray head: HOST:PORT of its GCS)") from None
    if proc.returncode:
        last = ([ln.strip() for ln in err.splitlines() if ln.strip()] or [f"exit status {proc.returncode}"])[-1]
        raise UsageError(f"--address {address}: cannot join a Ray cluster there ({last[:200]})")
    total, free = json.loads(out.strip().splitlines()[-1])
    return total, free


def check_cluster(args) -> None:
    """--address: the cluster answers within the deadline and has room for one trial now;
    ``args.address`` becomes the address joined (auto resolved)."""
    if not args.address:
        return
    address = resolve(args.address)
    check_address(address)    # something listens there (at once, where nothing does)
    total, free = probe(address)
    fits(args.cpus_per_trial, args.gpus_per_trial, total, free, where=f"the Ray cluster at {address}")
    args.address = address


@contextmanager
def ray_session(init_kwargs: dict):
    """Ray for one sweep: started here (its processes reaped with the driver) or joined at
    ``init_kwargs["address"]``; shut down at the end. A runtime already initialised by the
    caller is used as it is."""
    import ray

    if ray.is_initialized():
        yield
        return
    ray_address = os.environ.pop("RAY_ADDRESS", None)   # the runtime is the one named here
    try:
        with reaper.reaping() if "address" not in init_kwargs else nullcontext():
            try:
                ray.init(**init_kwargs)
                yield
            finally:
                ray.shutdown()
    finally:
        if ray_address is not None:
            os.environ["RAY_ADDRESS"] = ray_address
