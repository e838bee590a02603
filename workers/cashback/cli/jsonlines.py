"""Streams of JSON lines for the offline commands: binary in, binary out, constant memory.

A line is everything up to `\\n` (a `\\r\\n` ending counts as one), kept as bytes exactly as
read, so a line that is not UTF-8 or not JSON reaches the engine untouched, as it would from
Kafka. Memory holds one line at a time (plus the I/O buffers), whatever the file size.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, Final, TextIO

BUFFER_BYTES: Final = 1 << 20
STDIO: Final = "-"


@contextmanager
def open_input(name: str) -> Iterator[BinaryIO]:
    """The named file, or stdin for `-`, as a binary stream."""
    if name == STDIO:
        yield sys.stdin.buffer
        return
    with open(name, "rb", buffering=BUFFER_BYTES) as stream:
        yield stream


@contextmanager
def open_output(name: str) -> Iterator[BinaryIO]:
    """The named file (created or truncated), or stdout for `-`; flushed on the way out."""
    if name == STDIO:
        stream = sys.stdout.buffer
        try:
            yield stream
        finally:
            stream.flush()
        return
    with open(name, "wb", buffering=BUFFER_BYTES) as stream:
        yield stream


def read_lines(stream: Iterable[bytes]) -> Iterator[bytes]:
    """Each line without its line ending. A blank line is yielded too (as b"")."""
    for chunk in stream:
        if chunk.endswith(b"\n"):
            yield chunk[:-2] if chunk.endswith(b"\r\n") else chunk[:-1]
        else:
            yield chunk


def input_label(name: str) -> str:
    return "stdin" if name == STDIO else name


class Progress:
    """A line count on stderr every `every` lines, only when stderr is a terminal.

    Shows the share of the file read when its size is known. Call `tick` with the number of
    lines so far; it costs one comparison per line.
    """

    def __init__(
        self,
        stream: BinaryIO,
        every: int = 50_000,
        out: TextIO | None = None,
        enabled: bool | None = None,
    ) -> None:
        self._out = out if out is not None else sys.stderr
        self._enabled = self._out.isatty() if enabled is None else enabled
        self._stream = stream
        self._every = every
        self.next_at = every if self._enabled else -1
        self._started = time.monotonic()
        self._size = _size_of(stream)
        self._shown = False

    def tick(self, lines: int) -> None:
        if lines != self.next_at:
            return
        self.next_at += self._every
        elapsed = max(time.monotonic() - self._started, 1e-9)
        share = ""
        if self._size:
            try:
                share = f", {100 * self._stream.tell() // self._size}% of the input"
            except OSError:
                share = ""
        self._out.write(f"\r{lines:,} lines ({lines / elapsed:,.0f}/s{share})")
        self._out.flush()
        self._shown = True

    def done(self) -> None:
        if self._shown:
            self._out.write("\r\x1b[K")
            self._out.flush()


def _size_of(stream: BinaryIO) -> int | None:
    try:
        size = os.fstat(stream.fileno()).st_size
    except (OSError, ValueError, AttributeError):
        return None
    return size or None
