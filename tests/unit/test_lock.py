"""uv.lock is the install: it must agree with pyproject.toml, and every tool pins one uv."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail("uv is not in the venv: make install puts it there", pytrace=False)
    return found


def test_the_lock_agrees_with_pyproject() -> None:
    # --offline: the check reads only the two files; a disagreement cannot be resolved
    # from the lock alone, so it fails here instead of quietly re-resolving.
    result = subprocess.run(
        [uv(), "lock", "--check", "--offline"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, (
        "uv.lock disagrees with pyproject.toml; run `make lock` and commit uv.lock:\n"
        + result.stderr[-2000:]
    )


def test_the_makefile_and_the_dockerfile_pin_the_same_uv() -> None:
    makefile = re.search(r"^UV_VERSION := (\S+)$", (REPO / "Makefile").read_text(), re.M)
    dockerfile = re.search(r"^ARG UV_VERSION=(\S+)$", (REPO / "Dockerfile").read_text(), re.M)
    assert makefile and dockerfile
    assert makefile.group(1) == dockerfile.group(1)
    installed = subprocess.run([uv(), "--version"], capture_output=True, text=True, check=True)
    assert installed.stdout.split()[1] == makefile.group(1)


def test_the_runtime_export_has_hashes_and_no_dev_tools() -> None:
    result = subprocess.run(
        [uv(), "export", "--frozen", "--no-emit-project", "--no-dev", "--format",
         "requirements-txt", "--quiet"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    pins = re.findall(r"^([a-z0-9._-]+)==", result.stdout, re.M)
    assert {"confluent-kafka", "msgspec", "orjson", "prometheus-client"} <= set(pins)
    assert not {"pytest", "mypy", "ruff", "testcontainers"} & set(pins)
    assert result.stdout.count("--hash=sha256:") >= len(pins)
