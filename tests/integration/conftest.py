"""Fixtures shared by the worker's broker tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_worker_harness import WorkerProcess, worker_pool


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker subprocesses with `workers(...)`; every one is stopped afterwards."""
    yield from worker_pool(tmp_path)
