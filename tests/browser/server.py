"""Start ``streamlit run`` on a free port for the browser tests, the benchmark and the load test.

One place for the command, the health check and the shutdown, so the three harnesses drive the
same server the same way. The file watcher is off: people edit the app while these run, and a
saved file must not reload pages half-way through a measurement.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200 and response.read().strip() == b"ok"
    except OSError:
        return False


@contextlib.contextmanager
def run_streamlit(
    *,
    store: Path,
    log_path: Path,
    script: str = "app.py",
    cwd: Path = REPO,
    env: dict[str, str] | None = None,
    startup_s: float = 60,
    poll_s: float = 0.5,
) -> Iterator[tuple[str, subprocess.Popen, float]]:
    """``streamlit run script`` in ``cwd`` with its store at ``store``, no ``IAF_DATA`` and
    ``env`` added; yields (url, process, launch time on the perf_counter clock) once healthy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {k: v for k, v in os.environ.items() if k != "IAF_DATA"}
    full_env.update({"IAF_STORE": str(store), **(env or {})})
    command = [
        sys.executable, "-m", "streamlit", "run", script,
        "--server.headless", "true",
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        launched = time.perf_counter()
        proc = subprocess.Popen(
            command, cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + startup_s
            while not healthy(url):
                if proc.poll() is not None:
                    raise RuntimeError(f"streamlit exited with {proc.returncode}; see {log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit not healthy after {startup_s} s; see {log_path}")
                time.sleep(poll_s)
            yield url, proc, launched
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
