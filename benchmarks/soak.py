"""Soak: the exactly-once worker at a fixed rate for a long run, hurt in the middle.

`make soak` (`python -m benchmarks.soak`): a local broker of its own, a producer sending
at `--rate` events/s for `--minutes`, the worker (`cashback run`, exactly once) and:
SIGKILL of the worker at 25 % and 70 % of the run (restarted at once, as an orchestrator
would), the broker SIGKILLed and started again at 50 %. Every `--every` seconds it
records the worker's RSS, the p99 end-to-end latency of the outputs that became
visible (read_committed) in that window, and the lag (input log end minus the group's
committed offsets). At the end: every input committed, accruals counted by id (none
lost, none doubled), the figures in benchmarks/soak_results.json, a PNG plot in
docs/soak.png, and the soak section of docs/reliability.md rewritten from them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from benchmarks.measure import (
    GroupProgress,
    end_offsets,
    partitions_of,
    read_sample,
    read_traceparent,
    stamp_traceparent,
)
from benchmarks.systems import SYSTEMS, stop
from benchmarks.workload import PARTITIONS, RULES
from cashback.devtools.local_kafka import LocalBroker, LocalKafkaError, start_broker
from cashback.devtools.sample_stream import generate
from cashback.domain.engine import ACCRUALS, Engine
from cashback.rulefiles import load_catalog
from cashback.runtime.topics import TopicSpec, create_topics

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "soak_results.json"
PLOT = ROOT / "docs" / "soak.png"
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- soak:begin -->", "<!-- soak:end -->"
TRACEPARENT = "traceparent"
BROKER_TIMEOUT = 180.0  # a JVM start on a loaded 2-core machine has taken over 40 s


@dataclass
class Point:
    minute: float
    rss_mb: float
    p99_ms: float | None
    lag: int
    outputs_per_s: float


@dataclass
class Soak:
    minutes: float
    rate: float
    sent: int = 0
    points: list[Point] = field(default_factory=list)
    faults: list[tuple[float, str]] = field(default_factory=list)
    worker_exits: list[int] = field(default_factory=list)
    accruals_expected: int = 0
    accruals_distinct: int = 0
    accruals_duplicated: int = 0
    final_exit_code: int | None = None
    error: str | None = None  # why the soak itself stopped early, if it did
    drained_seconds: float | None = None

    @property
    def exact(self) -> bool:
        return self.accruals_distinct == self.accruals_expected and self.accruals_duplicated == 0


class Sender(threading.Thread):
    """Sends the sample stream at a fixed rate, each record stamped with its send time,
    and counts the accruals the pure engine says it must give."""

    def __init__(self, bootstrap: str, topic: str, rate: float, seconds: float) -> None:
        super().__init__(name="soak-sender", daemon=True)
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "linger.ms": 5,
                "queue.buffering.max.messages": 500_000,
                "logger": _Quiet(),  # its reconnects during the broker bounce are expected
            }
        )
        self._topic = topic
        self._rate = rate
        self._count = int(rate * seconds)
        self._engine = Engine(load_catalog([RULES]))
        self.sent = 0
        self.accruals = 0
        self.done = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        for sequence, record in enumerate(generate(self._count, seed=23, bad_every=None)):
            due = started + sequence / self._rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            header = stamp_traceparent(time.time_ns(), sequence)
            while True:
                try:
                    self._producer.produce(
                        self._topic, record.value, record.key, headers=[(TRACEPARENT, header)]
                    )
                    break
                except BufferError:
                    self._producer.poll(0.05)
            self._producer.poll(0)
            handled = self._engine.handle(record.value)
            self.accruals += sum(1 for o in handled.outputs if o.destination == ACCRUALS)
            self.sent += 1
        self._producer.flush(120)
        self.done.set()


class Tail(threading.Thread):
    """read_committed reader of the outputs: latency per output, accrual ids counted."""

    def __init__(self, bootstrap: str, accruals: str, others: list[str]) -> None:
        super().__init__(name="soak-tail", daemon=True)
        self._servers = bootstrap
        self._accruals = accruals
        self._topics = [accruals, *others]
        self.window: list[float] = []
        self.ids: Counter[bytes] = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def run(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self._servers,
                "group.id": f"soak-tail-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 20,
                "logger": _Quiet(),
            }
        )
        parts = partitions_of(self._servers, self._topics)
        consumer.assign([TopicPartition(p.topic, p.partition, OFFSET_BEGINNING) for p in parts])
        try:
            while not self.stop.is_set():
                messages = consumer.consume(2000, 0.2)
                now_ns = time.time_ns()
                with self.lock:
                    for message in messages:
                        if message.error() is not None:
                            continue  # the end of a partition, or a retried fetch
                        for name, value in message.headers() or ():
                            if name == TRACEPARENT:
                                sent_ns, _ = read_traceparent(value)
                                self.window.append((now_ns - sent_ns) / 1e6)
                                break
                        if message.topic() == self._accruals:
                            document = orjson.loads(message.value() or b"{}")
                            self.ids[str(document.get("accrual_id", "")).encode()] += 1
        finally:
            consumer.close()

    def take_window(self) -> list[float]:
        with self.lock:
            taken, self.window = self.window, []
        return taken


class _Quiet:
    def log(self, *_args: Any, **_kwargs: Any) -> None:
        return None

    def __getattr__(self, _name: str) -> Any:
        return self.log


def _p99(values: list[float]) -> float | None:
    if len(values) < 20:
        return max(values) if values else None
    return statistics.quantiles(values, n=100)[98]


@contextlib.contextmanager
def _broker(workdir: Path) -> Iterator[LocalBroker]:
    broker = start_broker(workdir, timeout=BROKER_TIMEOUT)
    try:
        yield broker
    finally:
        broker.stop()


class WorkerSlot:
    """The one worker process, replaced when it dies or is killed (as k8s would)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self._args, self._env, self._log = [*args, "--log-level", "info"], env, log
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        # Appended, not truncated: the log of the instance before a kill is the evidence.
        with self._log.open("ab") as out:
            return subprocess.Popen(
                self._args, cwd=ROOT, env=self._env, stdout=out, stderr=subprocess.STDOUT
            )

    def restart(self) -> None:
        self.process = self._start()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self.restart()


def run(minutes: float, rate: float, every: float) -> Soak:
    soak = Soak(minutes=minutes, rate=rate)
    work = Path(tempfile.mkdtemp(prefix="cashback-soak-"))
    with _broker(work) as broker:
        bootstrap = broker.bootstrap
        run_id = uuid.uuid4().hex[:8]
        names = {role: f"soak-{role}-{run_id}" for role in ("in", "accruals", "notes", "dlq")}
        create_topics(
            {"bootstrap.servers": bootstrap},
            [TopicSpec(name, PARTITIONS) for name in names.values()],
        )
        group = f"soak-{run_id}"
        outputs = {
            "accruals": names["accruals"],
            "notifications": names["notes"],
            "dlq": names["dlq"],
        }
        args, env = SYSTEMS["cashback-eos"].command(bootstrap, names["in"], outputs, group)
        slot = WorkerSlot([*args, "--batch-size", "500"], env, work / "worker.log")
        try:
            _drive(soak, broker, slot, names, group, every)
        except (LocalKafkaError, KafkaException, OSError) as exc:
            # Keep what was measured: the figures say how far it got and why it stopped.
            soak.error = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        finally:
            soak.final_exit_code = stop(slot.process)
    with contextlib.suppress(OSError):  # the logs are the one thing worth keeping
        kept = ROOT / "benchmarks" / ".work"
        kept.mkdir(parents=True, exist_ok=True)
        shutil.copy(work / "worker.log", kept / "soak-worker.log")
        broker_logs = sorted([*work.rglob("broker.log*"), *work.rglob("server.log*")])
        for number, broker_log in enumerate(broker_logs):
            shutil.copy(broker_log, kept / f"soak-broker-{number}-{broker_log.name}")
    if soak.exact:
        shutil.rmtree(work, ignore_errors=True)  # the broker's data: gigabytes after a soak
    else:  # what went wrong is in the broker's logs (__consumer_offsets, the outputs)
        print(f"soak not exact: the broker's data is kept in {work}", file=sys.stderr)
    return soak


def _drive(  # noqa: PLR0917 - the one caller above
    soak: Soak,
    broker: LocalBroker,
    slot: WorkerSlot,
    names: dict[str, str],
    group: str,
    every: float,
) -> None:
    seconds = soak.minutes * 60
    bootstrap = broker.bootstrap
    sender = Sender(bootstrap, names["in"], soak.rate, seconds)
    tail = Tail(bootstrap, names["accruals"], [names["notes"]])
    inputs = partitions_of(bootstrap, [names["in"]])
    progress = GroupProgress(bootstrap, group, inputs)
    tail.start()
    sender.start()
    began = time.monotonic()
    schedule = [(0.25, "worker SIGKILL"), (0.5, "broker SIGKILL + start"), (0.7, "worker SIGKILL")]
    last_committed = 0
    while True:
        time.sleep(every)
        elapsed = time.monotonic() - began
        if slot.process.poll() is not None:  # exited on its own
            soak.worker_exits.append(slot.process.returncode)
            slot.restart()
        if schedule and elapsed >= schedule[0][0] * seconds:
            _, what = schedule.pop(0)
            soak.faults.append((round(elapsed / 60, 2), what))
            if what.startswith("worker"):
                slot.kill()
            else:
                broker.kill()
                time.sleep(5)
                broker.restart(BROKER_TIMEOUT)
        sample = read_sample(slot.process.pid)
        with contextlib.suppress(KafkaException):  # unknown while the broker is away
            committed = progress.committed()
            if committed >= 0:
                last_committed = committed
        try:
            lag = max(end_offsets(bootstrap, inputs) - last_committed, 0)
        except KafkaException:  # the broker is being bounced: the lag is unknown this once
            lag = soak.points[-1].lag if soak.points else 0
        window = tail.take_window()
        p99 = _p99(window)
        soak.points.append(
            Point(
                minute=round(elapsed / 60, 3),
                rss_mb=round(sample.rss_mb, 1) if sample else 0.0,
                p99_ms=round(p99, 1) if p99 is not None else None,
                lag=lag,
                outputs_per_s=round(len(window) / every, 1),
            )
        )
        if sender.done.is_set() and last_committed >= sender.sent:
            break
        if elapsed > seconds + 300:
            break  # five minutes past the end without draining: reported below
    soak.drained_seconds = round(time.monotonic() - began - seconds, 1)
    soak.sent = sender.sent
    time.sleep(3)  # the last committed outputs reach the tail
    tail.stop.set()
    tail.join(30)
    soak.accruals_expected = sender.accruals
    soak.accruals_distinct = len(tail.ids)
    soak.accruals_duplicated = sum(n - 1 for n in tail.ids.values())
    progress.close()


def plot(soak: Soak, target: Path) -> None:
    # Imported here: matplotlib is the soak extra's, not a dependency of the worker.
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    minutes = [p.minute for p in soak.points]
    fig, axes = plt.subplots(3, 1, figsize=(9, 7.5), sharex=True)
    panels = [
        ("worker RSS (MB)", [p.rss_mb for p in soak.points]),
        (
            "p99 latency (ms)",
            [p.p99_ms if p.p99_ms is not None else float("nan") for p in soak.points],
        ),
        ("lag (records)", [p.lag for p in soak.points]),
    ]
    for axis, (label, values) in zip(axes, panels, strict=True):
        axis.plot(minutes, values, linewidth=1.2)
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        for at, _what in soak.faults:
            axis.axvline(at, color="red", linestyle="--", linewidth=0.8)
    for at, what in soak.faults:
        axes[0].annotate(what, (at, axes[0].get_ylim()[1]), fontsize=7, rotation=90, va="top")
    axes[1].set_yscale("log")
    axes[-1].set_xlabel("minutes")
    fig.suptitle(f"soak: cashback-eos at {soak.rate:.0f} events/s for {soak.minutes:.0f} min")
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=100)


def _phase(soak: Soak, start: float, end: float) -> list[Point]:
    return [p for p in soak.points if start <= p.minute < end]


def section(soak: Soak) -> str:
    steady = _phase(soak, 1.0, soak.faults[0][0] if soak.faults else soak.minutes)
    p99s = [p.p99_ms for p in steady if p.p99_ms is not None]
    rss = [p.rss_mb for p in soak.points if p.rss_mb > 0]
    worst = max((p.p99_ms or 0.0 for p in soak.points), default=0.0)
    lag_peak = max((p.lag for p in soak.points), default=0)
    first_rss = statistics.median(rss[2:12]) if len(rss) > 12 else (rss[0] if rss else 0.0)
    last_rss = statistics.median(rss[-10:]) if rss else 0.0
    exact = soak.exact
    lines = [
        BEGIN,
        "## Soak",
        "",
        f"Written by `make soak` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC ({platform.machine()}, "
        f"{os.cpu_count()} CPUs shared with other jobs, Python {sys.version.split()[0]}): the "
        f"exactly-once worker at {soak.rate:.0f} events/s for {soak.minutes:.0f} minutes, "
        f"{soak.sent:,} events; faults at minute "
        + ", ".join(f"{at:.1f} ({what})" for at, what in soak.faults)
        + ".",
        "",
        "![soak: RSS, p99 latency and lag over time](soak.png)",
        "",
        "| figure | value |",
        "|---|---|",
        f"| accruals expected / distinct / duplicated | {soak.accruals_expected:,} / "
        f"{soak.accruals_distinct:,} / {soak.accruals_duplicated} "
        f"({'exact' if exact else '**NOT exact**'}) |",
        f"| p99 latency before the first fault, median of {len(p99s)} windows (min-max) | "
        + (f"{statistics.median(p99s):.0f} ms ({min(p99s):.0f}-{max(p99s):.0f})" if p99s else "-")
        + " |",
        f"| worst window p99 (around the faults) | {worst:.0f} ms |",
        f"| peak lag | {lag_peak:,} records |",
        f"| worker RSS, early / late (median of 10 samples) | {first_rss:.0f} MB / "
        f"{last_rss:.0f} MB |",
        f"| worker exits on its own (codes) | {soak.worker_exits or 'none'} |",
        f"| exit code on the final SIGTERM | {soak.final_exit_code} |",
        f"| drained after the producer stopped | {soak.drained_seconds} s |",
        *([f"| **the soak stopped early** | {soak.error} |"] if soak.error else []),
        "",
        END,
    ]
    return "\n".join(lines)


def replace_section(path: Path, text: str, begin: str, end: str) -> None:
    """Put `text` (which starts with `begin` and ends with `end`) in place of the old one."""
    old = path.read_text() if path.exists() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + text + rest.split(end, 1)[1]
    else:
        new = old.rstrip() + ("\n\n" if old else "") + text + "\n"
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=300.0, help="events per second")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/")
    args = parser.parse_args(argv)
    soak = run(args.minutes, args.rate, args.every)
    RESULTS.write_text(json.dumps(asdict(soak), indent=1) + "\n")
    print(section(soak))
    if not args.no_doc:
        plot(soak, PLOT)
        replace_section(DOC, section(soak), BEGIN, END)
    exact = soak.exact
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
