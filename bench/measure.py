"""Run one measurement in a fresh process and read its result and its peak memory.

A worker prints one JSON object as the last line of its stdout. Peak memory is the kernel's
high-water mark of the worker's resident set (``VmHWM`` in ``/proc/<pid>/status``). Inside a
worker, :class:`Phase` first notes the peak reached while preparing (generating the demo data),
then resets the mark (``clear_refs`` 5) so that the measured phase reports its own peak — with
the prepared data still resident, as it is when the app analyses it. The whole-process peak is
the larger of the two. (``getrusage``/``wait4`` cannot be used after such a reset: the kernel
derives ``ru_maxrss`` from the same mark.)
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GIB = 1024**3


@dataclass(frozen=True)
class Child:
    result: dict[str, Any]
    wall: float  # seconds, whole child process


def run_child(args: list[str], *, timeout: float, env: dict[str, str] | None = None) -> Child:
    """Run ``python -m bench.workers *args`` in a fresh process; its JSON result."""
    command = [sys.executable, "-m", "bench.workers", *args]
    start = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise RuntimeError(f"{' '.join(args)} took longer than {timeout:.0f} s") from None
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError(f"worker {' '.join(args)} failed ({proc.returncode}):\n{err[-3000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"worker {' '.join(args)} printed no result:\n{err[-3000:]}")
    result = json.loads(lines[-1])
    return Child(result=result, wall=wall)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation between order statistics."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


# ── inside a worker ──────────────────────────────────────────────────────────────────────
def peak_bytes(pid: int | str = "self") -> int:
    """Peak resident set of a process since it started or since the last reset (VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class Phase:
    """Time a phase and take its own peak RSS: ``with Phase() as ph: ...; ph.seconds, ph.peak``."""

    def __enter__(self) -> Phase:
        gc.collect()
        self.before = peak_bytes()
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            self.reset = True
        except OSError:
            self.reset = False  # then ``peak`` includes the preparation
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0
        self.peak = peak_bytes()
        self.process_peak = max(self.before, self.peak)


def emit(result: dict[str, Any]) -> None:
    """Print a worker's result as its last stdout line."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def app_picks(codes: list[str], changes: int) -> list[str]:
    """The indicators the app is switched to, in order (the page opens on ``codes[0]``)."""
    return [codes[1 + i % (len(codes) - 1)] for i in range(changes)]
