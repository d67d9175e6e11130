"""Shared fixtures: where ``../shared`` (oracles and real data) lives.

``../shared`` sits beside the repository on developer machines and in CI. Tests that need it
skip, naming the missing folder, only when it is absent (a real missing platform).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared oracles/real data folder is not on this machine")
    return path


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    return REPO


@pytest.fixture(scope="session")
def oracles_dir() -> Path:
    return _require(SHARED / "oracles")


@pytest.fixture(scope="session")
def real_dir() -> Path:
    return _require(SHARED / "data" / "real")
