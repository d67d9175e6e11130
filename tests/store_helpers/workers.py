"""Process targets for tests/test_store.py: saves that crash or race in real processes.

They run in processes forked from a ``forkserver`` that has already imported pandas,
pyarrow and the store, so each one starts in milliseconds rather than a second.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.synchronize import Event
from pathlib import Path

from iaf.store import CRASH_ENV, Store
from tests.store_helpers.datasets import make_dataset

CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(["iaf.store", "tests.store_helpers.workers"])


def save_rounds(
    root: Path,
    name: str,
    seed: int,
    rows: int,
    rounds: int = 1,
    crash_at: str | None = None,
    ready: Event | None = None,
    go: Event | None = None,
) -> None:
    """Save ``make_dataset(seed, rows)`` as ``name`` ``rounds`` times.

    ``crash_at`` makes the store SIGKILL this process at that point; ``ready`` is set once
    the dataset is built and the store open, and the saves wait for ``go``.
    """
    if crash_at is not None:
        os.environ[CRASH_ENV] = crash_at
    dataset = make_dataset(seed, rows)
    store = Store(root)
    if ready is not None:
        ready.set()
    if go is not None:
        go.wait()
    for _ in range(rounds):
        store.save(dataset, name)


def start(**kwargs: object) -> multiprocessing.process.BaseProcess:
    """Start :func:`save_rounds` in a new process."""
    process = CONTEXT.Process(target=save_rounds, kwargs=kwargs)
    process.start()
    return process
