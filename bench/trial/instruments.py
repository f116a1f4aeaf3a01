"""The instruments the harness and the cost benchmarks share: per-step wall time (host clock
on CPU, CUDA events on GPU) and peak memory of a process or of a window of steps (CUDA's
allocator statistics on a GPU, the resident set's high-water mark, VmHWM, on a CPU, which Linux
lets a process reset)."""
from __future__ import annotations

import math
import re
import resource
import statistics
import time

import numpy as np

import torch


def peak_rss_mb() -> float:
    """The resident set's high-water mark since the process started or ``reset_peak_rss``."""
    kib = proc_status_kib("VmHWM")
    return (kib if kib is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) / 1024


def proc_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            m = re.search(rf"^{field}:\s+(\d+)\s+kB", f.read(), re.M)
        return int(m.group(1)) if m else None
    except OSError:
        return None


def reset_peak_rss() -> bool:
    """Linux >= 4.0: writing 5 to /proc/self/clear_refs resets the resident high-water mark
    (VmHWM, which ru_maxrss reads) to the current RSS. False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class MemoryProbe:
    """Peak memory over a window of steps.

    CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats`` at ``start``
    (absolute: model, optimiser state and resident data included).
    CPU: growth of the peak resident set size (ru_maxrss, KiB on Linux) over the window,
    relative to the RSS at ``start``. The high-water mark is reset at ``start`` where Linux
    allows it (``mode="rss_hwm_reset"``), so each method of a sequence gets its own peak;
    where it cannot be reset (``mode="rss_maxrss_growth"``) only the growth above the
    process's earlier peak is seen: meaningful for the first measurement of a process only
    (the cost suite runs each trial in a fresh process). Freed memory the allocator keeps is
    part of the RSS, so a second window in the same process under-reads the growth."""

    def __init__(self, device: torch.device):
        self.device = device

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.mode = "cuda_max_allocated"
            self.baseline_kib = torch.cuda.memory_allocated(self.device) / 1024
            return
        self.mode = "rss_hwm_reset" if reset_peak_rss() else "rss_maxrss_growth"
        rss = proc_status_kib("VmRSS")
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Without a reset the peak cannot go below the earlier maximum: measure from it.
        self.baseline_kib = maxrss if (self.mode == "rss_maxrss_growth" or rss is None) else rss

    def stop(self) -> dict:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device) / 2**20
            return dict(peak_mem_mb=peak, mem_baseline_mb=self.baseline_kib / 1024, mem_mode=self.mode)
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return dict(peak_mem_mb=max(0.0, (peak_kib - self.baseline_kib) / 1024),
                    mem_baseline_mb=self.baseline_kib / 1024, mem_mode=self.mode)


def peak_memory_mb(device: torch.device) -> float:
    """CUDA: the allocator's peak since the trial began; CPU: the process's resident high-water
    mark since the trial began (reset at its start: a Ray worker runs several trials)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return peak_rss_mb()


class StepTimer:
    """Per-step wall time: host clock on CPU, CUDA events (read after a sync) on GPU."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.times: list[float] = []
        self.pending: list = []

    def start(self):
        if self.cuda:
            ev = torch.cuda.Event(enable_timing=True)
            ev.record()
            return ev
        return time.perf_counter()

    def stop(self, start) -> None:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            self.pending.append((start, end))
        else:
            self.times.append(time.perf_counter() - start)

    def flush(self) -> None:
        if self.pending:
            torch.cuda.synchronize()
            self.times += [s.elapsed_time(e) / 1000 for s, e in self.pending]
            self.pending = []


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else str(device)


def summarize_steps(times: list[float]) -> dict:
    """Median seconds per step and the interquartile range (NaN without steps)."""
    if not times:
        return dict(step_time_s=math.nan, step_time_iqr_s=math.nan)
    q75, q25 = np.percentile(times, [75, 25])
    return dict(step_time_s=statistics.median(times), step_time_iqr_s=float(q75 - q25))
