"""What the benchmarks share: timing runs and reading a process's own peak memory."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    """The wall time of each of `repeat` calls of fn, and the last call's result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def vm_hwm_mb() -> float | None:
    """VmHWM (peak RSS of this process's own address space) from /proc, where there is one."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def fmt_s(seconds: float) -> str:
    return f"{seconds:8.3f} s"
