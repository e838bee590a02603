"""Where the broker's files live: the jars' home (deploy/local-kafka) and ``.kafka/``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from cashback.devtools.local_kafka.errors import LocalKafkaError

HOST: Final = "127.0.0.1"
ENV_KAFKA_DIR: Final = "CASHBACK_LOCAL_KAFKA_DIR"
ENV_STATE_DIR: Final = "CASHBACK_KAFKA_STATE_DIR"
POM_RELATIVE: Final = Path("deploy") / "local-kafka" / "pom.xml"


def _walk_up_for_pom(start: Path) -> Path | None:
    for candidate in (start, *start.parents):
        if (candidate / POM_RELATIVE).is_file():
            return candidate
    return None


def _repo_root() -> Path | None:
    return _walk_up_for_pom(Path(__file__).resolve().parent) or _walk_up_for_pom(
        Path.cwd().resolve()
    )


def kafka_dir() -> Path:
    """The directory holding ``pom.xml``, ``log4j2.properties`` and ``lib/``.

    ``$CASHBACK_LOCAL_KAFKA_DIR`` wins; otherwise the first ``deploy/local-kafka`` found
    walking up from this module (an editable install), then from the working directory.
    """
    override = os.environ.get(ENV_KAFKA_DIR)
    if override:
        path = Path(override).expanduser().resolve()
        if not (path / "pom.xml").is_file():
            raise LocalKafkaError(
                f"{ENV_KAFKA_DIR}={override} has no pom.xml; point it at the directory that "
                "holds the local-kafka pom.xml (deploy/local-kafka in the repository)"
            )
        return path
    root = _repo_root()
    if root is None:
        raise LocalKafkaError(
            f"cannot find {POM_RELATIVE} above {Path(__file__).resolve().parent} or the "
            f"working directory; run from the cashback-accrual checkout or set {ENV_KAFKA_DIR}"
        )
    return root / POM_RELATIVE.parent


def state_dir() -> Path:
    """Where ``up`` records the running broker: ``$CASHBACK_KAFKA_STATE_DIR``, else
    ``<repo>/.kafka`` (the override lets tests drive the command line in isolation)."""
    override = os.environ.get(ENV_STATE_DIR)
    if override:
        return Path(override).expanduser().resolve()
    root = _repo_root()
    return (root if root is not None else kafka_dir()) / ".kafka"
