"""What the harness measures, and how: process samples, group progress, output reads.

- `ProcessSampler`: CPU seconds (utime + stime of every thread, /proc/<pid>/stat) and
  memory (VmRSS, VmHWM from /proc/<pid>/status) of the process under test, sampled by
  the harness; CPU over a time window is read between the samples nearest its ends.
- `GroupProgress`: the consumer group's committed offsets on the input partitions, read
  with OffsetFetch (a consumer that never joins the group): cheap to poll.
- `read_outputs`: a read_committed reader that counts every output record and keeps the
  first and last LogAppendTime (the output topics are created with
  `message.timestamp.type=LogAppendTime`, so the broker stamps each record on append).
- `LatencyTail`: a read_committed reader that runs while the fixed-rate producer sends,
  and gives each output its latency: when the reader received it minus the send time
  the producer stamped in the input's `traceparent` header (which every system under
  test copies to its outputs).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READ_TIMEOUT_SECONDS = 120.0


# ----------------------------------------------------------------------------- processes


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # time.time()
    cpu_s: float
    rss_mb: float
    hwm_mb: float


def read_sample(pid: int) -> Sample | None:
    """One reading of the process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            after_name = stat.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            lines = status.read().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Fields 14 and 15 of stat (utime, stime); `after_name` starts at field 3.
    cpu = (int(after_name[11]) + int(after_name[12])) / CLOCK_TICKS
    memory = {
        line.split(":")[0]: int(line.split()[1]) / 1024
        for line in lines
        if line.startswith(("VmRSS:", "VmHWM:"))
    }
    return Sample(time.time(), cpu, memory.get("VmRSS", 0.0), memory.get("VmHWM", 0.0))


@dataclass(slots=True)
class ProcessSampler:
    pid: int
    samples: list[Sample] = field(default_factory=list)

    def sample(self) -> Sample | None:
        reading = read_sample(self.pid)
        if reading is not None:
            self.samples.append(reading)
        return reading

    def nearest(self, moment: float) -> Sample:
        return min(self.samples, key=lambda s: abs(s.at - moment))

    def cpu_between(self, start: float, end: float) -> float:
        return self.nearest(end).cpu_s - self.nearest(start).cpu_s

    @property
    def peak_rss_mb(self) -> float:
        return max((s.hwm_mb for s in self.samples), default=0.0)


# ----------------------------------------------------------------------------- groups


class GroupProgress:
    """Sum of the group's committed offsets over the given partitions."""

    def __init__(self, bootstrap: str, group: str, partitions: Sequence[TopicPartition]) -> None:
        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
        )
        self._partitions = [TopicPartition(tp.topic, tp.partition) for tp in partitions]

    def committed(self, timeout: float = 5.0) -> int:
        """-1 while the group's coordinator is not ready to answer (a new group, mostly)."""
        try:
            found = self._consumer.committed(self._partitions, timeout=timeout)
        except KafkaException as exc:
            if exc.args[0].retriable() or exc.args[0].code() == KafkaError.NOT_COORDINATOR:
                return -1
            raise
        return sum(max(tp.offset, 0) for tp in found)

    def close(self) -> None:
        self._consumer.close()


# ----------------------------------------------------------------------------- outputs


def partitions_of(bootstrap: str, topics: Sequence[str]) -> list[TopicPartition]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-metadata"})
    try:
        metadata = consumer.list_topics(timeout=10)
        return [
            TopicPartition(name, number)
            for name in topics
            for number in sorted(metadata.topics[name].partitions)
        ]
    finally:
        consumer.close()


def end_offsets(bootstrap: str, partitions: Sequence[TopicPartition]) -> int:
    """Sum of the high watermarks: the number of records when nothing is transactional."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-metadata"})
    try:
        return sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions)
    finally:
        consumer.close()


def _reader(bootstrap: str, partitions: Sequence[TopicPartition], *, wait_ms: int) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-reader",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "fetch.wait.max.ms": wait_ms,
        }
    )
    consumer.assign([TopicPartition(tp.topic, tp.partition, OFFSET_BEGINNING) for tp in partitions])
    return consumer


@dataclass(slots=True)
class OutputsRead:
    counts: dict[str, int]
    first_append: float | None  # seconds since the epoch
    last_append: float | None


def read_outputs(bootstrap: str, partitions: Sequence[TopicPartition]) -> OutputsRead:
    """Every committed record on `partitions` (their writer has stopped), counted."""
    counts = {tp.topic: 0 for tp in partitions}
    first: int | None = None
    last: int | None = None
    pending = {(tp.topic, tp.partition) for tp in partitions}
    consumer = _reader(bootstrap, partitions, wait_ms=100)
    deadline = time.monotonic() + READ_TIMEOUT_SECONDS
    try:
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(10_000, 0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        pending.discard((message.topic(), message.partition()))
                        continue
                    raise RuntimeError(f"reading outputs: {error}")
                counts[message.topic()] += 1
                stamp = message.timestamp()[1]
                if first is None or stamp < first:
                    first = stamp
                if last is None or stamp > last:
                    last = stamp
    finally:
        consumer.close()
    if pending:
        raise RuntimeError(f"outputs not read to the end in {READ_TIMEOUT_SECONDS:.0f}s")
    return OutputsRead(
        counts,
        None if first is None else first / 1000,
        None if last is None else last / 1000,
    )


# ----------------------------------------------------------------------------- latency

TRACEPARENT = "traceparent"


def stamp_traceparent(sent_ns: int, sequence: int) -> bytes:
    """A valid W3C traceparent whose trace id carries the send time and a sequence number."""
    return f"00-{sent_ns:016x}{sequence:016x}-{sequence + 1:016x}-01".encode()


def read_traceparent(value: bytes) -> tuple[int, int]:
    """(send time in ns, sequence) from `stamp_traceparent`'s header."""
    trace = value[3:35]
    return int(trace[:16], 16), int(trace[16:], 16)


class LatencyTail(threading.Thread):
    """Reads the outputs as they become visible; `latencies_ms` for sequences >= `skip`."""

    def __init__(self, bootstrap: str, partitions: Sequence[TopicPartition], skip: int) -> None:
        super().__init__(name="latency-tail", daemon=True)
        self._consumer = _reader(bootstrap, partitions, wait_ms=10)
        self._partitions = {(tp.topic, tp.partition) for tp in partitions}
        self._skip = skip
        self.latencies_ms: list[float] = []
        self.received = 0
        self.first_seen = threading.Event()
        self.drain = threading.Event()  # set when nothing more will be written
        self.error: str | None = None

    def run(self) -> None:
        at_end: set[tuple[str, int]] = set()
        try:
            while not (self.drain.is_set() and at_end == self._partitions):
                messages = self._consumer.consume(5_000, 0.05)
                now_ns = time.time_ns()
                for message in messages:
                    where = (message.topic(), message.partition())
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            at_end.add(where)
                            continue
                        raise RuntimeError(str(error))
                    at_end.discard(where)
                    self.received += 1
                    self.first_seen.set()
                    self._record(message, now_ns)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._consumer.close()

    def _record(self, message: Any, now_ns: int) -> None:
        for name, value in message.headers() or ():
            if name == TRACEPARENT:
                sent_ns, sequence = read_traceparent(value)
                if sequence >= self._skip:
                    self.latencies_ms.append((now_ns - sent_ns) / 1e6)
                return
