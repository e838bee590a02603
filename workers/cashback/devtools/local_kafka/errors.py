"""The one error type the local broker tooling raises, and how it quotes a log."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Final

Progress = Callable[[str], None]

LOG_TAIL_LINES: Final = 20
_STACK_FRAME = re.compile(r"^\s+(at |\.\.\. \d+ more)")


class LocalKafkaError(Exception):
    """An expected failure of the local broker tooling; the message says what to do."""


class BindConflictError(LocalKafkaError):
    """The broker exited because one of its ports was taken (retried with automatic ports)."""


def say_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` non-blank lines of a log, Java stack frames left out."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    kept = [line for line in text.splitlines() if line.strip() and not _STACK_FRAME.match(line)][
        -lines:
    ]
    return "\n".join(f"  | {line}" for line in kept) if kept else "(no output)"
