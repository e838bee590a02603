"""The worker image under test: podman with the project's configuration (deploy/image/).

``cashback_image`` (conftest.py) builds the image once per session with
``deploy/image/build.sh`` (cached layers make that a few seconds after the first time),
or skips every container test with the reason no engine can be had.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Final

import pytest

REPO: Final = Path(__file__).resolve().parents[1]
IMAGE_DIR: Final = REPO / "deploy" / "image"
IMAGE: Final = os.environ.get("CASHBACK_IMAGE", "localhost/cashback-accrual:dev")
BUILD_TIMEOUT_SECONDS: Final = 1500
UID: Final = 10001


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Run podman with the project's containers.conf/storage.conf; bytes out, no shell."""
    result = subprocess.run(
        ["bash", str(IMAGE_DIR / "podman.sh"), *args],
        capture_output=True, timeout=timeout, check=False,
    )  # fmt: skip
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {result.returncode}:\n"
            f"{result.stderr.decode(errors='replace')[-3000:]}"
        )
    return result


def engine_problem() -> str | None:
    """None when podman runs containers here, else the reason the container tests skip."""
    if shutil.which("podman") is None or shutil.which("runc") is None:
        return (
            "no container engine: podman/runc are not installed (make test installs them with "
            "deploy/image/tools.sh, which needs root and apt)"
        )
    info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", timeout=60, check=False)
    if info.returncode != 0:
        last = info.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        return f"podman is installed but cannot run here: {last[0]}"
    return None


def build_image() -> str:
    """Build (or reuse) the image; a failed build is a failure, never a skip."""
    problem = engine_problem()
    if problem is not None:
        pytest.skip(problem)
    result = subprocess.run(
        ["bash", str(IMAGE_DIR / "build.sh")],
        capture_output=True, timeout=BUILD_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(
            "deploy/image/build.sh failed:\n" + result.stderr.decode(errors="replace")[-4000:],
            pytrace=False,
        )
    return IMAGE
