"""Fixtures for the fault tests: a broker of their own behind a fault proxy.

The session broker (``kafka_bootstrap``) is shared by every other test, so nothing here
hurts it: each fault module starts its own local broker, advertised through a
:class:`~cashback.devtools.fault_proxy.FaultProxy`, and stops both by their own handles.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The worker harness lives with the integration tests; share it rather than copy it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))

from fault_harness import Rig, start_rig
from test_worker_harness import WorkerProcess, worker_pool

from kafka_support import terminal_printer


@pytest.fixture(scope="module")
def rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with start_rig(tmp_path_factory.mktemp("fault-broker"), terminal_printer(request.config)) as r:
        yield r


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    yield from worker_pool(tmp_path)
