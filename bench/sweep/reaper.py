"""Ends the Ray processes a sweep's driver started when the driver ends, however it ends.

Ray ties its GCS server and raylet to the driver that started them (the kernel kills them when
the driver dies), but the raylet's agents (dashboard agent, runtime-env agent) outlive a driver
killed with SIGKILL by a minute or more. ``reaping()`` starts this file as a watchdog, in a
session of its own, before Ray starts: it waits for its standard input to close (the driver
exited, or was killed: the kernel closes the pipe either way), then kills every process that
holds a file open in the driver's Ray session directory, ``.../session_<date>_<driver pid>/``
(each Ray process writes its logs there, and so do their children). Linux only (it reads
/proc); elsewhere it finds none.

Run as a script (``python reaper.py DRIVER_PID``), standard library only, so that it starts fast
and from any working directory.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager


def session_processes(driver: int, since: str) -> list[int]:
    """Process ids holding a file in a Ray session directory of ``driver`` begun at or after
    ``since`` (%Y-%m-%d_%H-%M-%S: a pid reused later names a later session); the driver (alive
    when the sweep ends normally) and this process excepted."""
    pattern = re.compile(rf"/session_(\d{{4}}-\d\d-\d\d_\d\d-\d\d-\d\d)_\d+_{driver}/")
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or int(entry) in (os.getpid(), driver):
            continue
        try:
            links = [os.readlink(f"/proc/{entry}/fd/{fd}") for fd in os.listdir(f"/proc/{entry}/fd")]
        except OSError:   # gone, or another user's
            continue
        if any((m := pattern.search(link)) and m.group(1) >= since for link in links):
            found.append(int(entry))
    return found


def kill_session(driver: int, since: str, rounds: int = 3) -> None:
    """SIGKILL the session's processes; again after a moment, for any a dying one started meanwhile."""
    for i in range(rounds):
        for pid in session_processes(driver, since):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if i + 1 < rounds:
            time.sleep(0.5)


@contextmanager
def reaping():
    """Within: a watchdog waits; on leaving, or when this process dies, every process of the
    Ray session this process started meanwhile is killed."""
    watchdog = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__), str(os.getpid())],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        yield
    finally:
        watchdog.stdin.close()          # the watchdog's cue: what is left of this runtime goes now
        try:
            watchdog.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


if __name__ == "__main__":
    since = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(time.time() - 5))
    sys.stdin.buffer.read()             # returns at end of file: the driver is done or dead
    kill_session(int(sys.argv[1]), since)
