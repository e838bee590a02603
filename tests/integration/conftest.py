"""Fixtures shared by the worker's broker tests, and the conformance parametrization:
a test marked `@pytest.mark.conformance` runs once per runtime (confluent, faust), and
a runtime's known limit on it is a strict xfail with its measured figures
(`known_limits.KNOWN_LIMITS`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from known_limits import KNOWN_LIMITS, SOMETIMES_LIMITS
from test_worker_harness import CONFLUENT, RUNTIMES, WorkerProcess, worker_pool


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("conformance") is None:
        return
    params = []
    for runtime in RUNTIMES:
        key = (metafunc.function.__name__, runtime)
        limit, sometimes = KNOWN_LIMITS.get(key), SOMETIMES_LIMITS.get(key)
        marks = [pytest.mark.xfail(strict=True, reason=limit)] if limit else []
        if sometimes:
            marks.append(pytest.mark.xfail(strict=False, reason=sometimes))
        params.append(pytest.param(runtime, marks=marks, id=runtime))
    metafunc.parametrize("runtime", params)


@pytest.fixture
def runtime() -> str:
    """The default runtime for the tests outside the conformance suite."""
    return CONFLUENT


@pytest.fixture
def workers(tmp_path: Path, runtime: str) -> Iterator[Callable[..., WorkerProcess]]:
    """Start worker subprocesses with `workers(...)` on `runtime`; every one is stopped
    afterwards."""
    yield from worker_pool(tmp_path, runtime)
