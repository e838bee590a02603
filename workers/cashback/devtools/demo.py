"""`make demo`: the whole job on one machine, end to end, with a summary you can check.

1. a Kafka broker: the local single-node one (started here and stopped at the end), or the
   one in `$KAFKA_BOOTSTRAP_SERVERS` (then topic names get a unique suffix);
2. the topics (`cashback topics create`) and the sample rule sets (`cashback rules publish`);
3. the worker (`cashback run`, exactly once) as a subprocess, until `/readyz` answers;
4. a deterministic sample stream: purchases, refunds and a few bad events;
5. waits until the worker's group has committed every input offset;
6. reads the output topics with a read_committed consumer;
7. stops the worker with SIGTERM (it must exit 0);
8. prices the same events offline with the Python reference `Engine`, prints the summary
   and checks it byte for byte against what the worker wrote (the worker runs the native
   engine when it is built, so this also checks the two engines agree); then stops the
   broker it started.

Nothing is left running, even on Ctrl-C or an error. Exit code 0 means every figure matched.

    python -m cashback.devtools.demo [--count N] [--seed S] [--partitions P]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final

import orjson
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from cashback.devtools.local_kafka import LocalBroker, LocalKafkaError, start_broker
from cashback.devtools.sample_stream import PURCHASE, REFUND, generate
from cashback.domain.catalog import Catalog
from cashback.domain.engine import ACCRUALS, OUTCOME_NAMES, Engine
from cashback.domain.native_engine import native_module
from cashback.rulefiles import RuleSetFilesError, load_catalog, rule_files

ENV_BOOTSTRAP: Final = "KAFKA_BOOTSTRAP_SERVERS"
DEFAULT_COUNT: Final = 3000
DEFAULT_PARTITIONS: Final = 4
# ISO 4217 minor units where they are not 2 (amounts are integers in these units).
_MINOR_UNITS: Final = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW"), 0),
    **dict.fromkeys(("PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
_PR_SET_PDEATHSIG: Final = 1


class DemoError(Exception):
    """A step failed; the message says which and where to look."""


@dataclass(frozen=True)
class Topics:
    purchases: str
    accruals: str
    notifications: str
    dlq: str
    rules: str

    @classmethod
    def named(cls, suffix: str) -> Topics:
        return cls(
            f"purchases{suffix}",
            f"cashback.accruals{suffix}",
            f"cashback.notifications{suffix}",
            f"cashback.dlq{suffix}",
            f"cashback.rules{suffix}",
        )

    def flags(self) -> list[str]:
        return [
            "--input-topics", self.purchases,
            "--accruals-topic", self.accruals,
            "--notifications-topic", self.notifications,
            "--dlq-topic", self.dlq,
            "--rules-topic", self.rules,
        ]  # fmt: skip


@dataclass(frozen=True)
class Options:
    count: int = DEFAULT_COUNT
    seed: int = 42
    bad_every: int = 300
    partitions: int = DEFAULT_PARTITIONS
    rules: Path = Path("deploy/examples/rules")
    workdir: Path = Path(".demo")
    timeout: float = 0.0  # seconds to wait for processing; 0 = from the count
    runtime: str = "confluent"  # or faust: `cashback run --runtime faust`


# ------------------------------------------------------------------------- what came out


@dataclass
class Tally:
    """What was written (or, offline, what would be): records, outcomes and payout."""

    accruals: Counter[tuple[bytes, bytes]] = field(default_factory=Counter)
    notifications: Counter[tuple[bytes, bytes]] = field(default_factory=Counter)
    dead_letters: Counter[tuple[bytes | None, bytes | None, str]] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    # (ruleset, version, currency) -> [accruals, reversals, accrued minor, reversed minor]
    payout: dict[tuple[str, int, str], list[int]] = field(default_factory=dict)

    def add_payout(self, ruleset: str, version: int, currency: str, amount: int) -> None:
        row = self.payout.setdefault((ruleset, version, currency), [0, 0, 0, 0])
        column = 1 if amount < 0 else 0
        row[column] += 1
        row[2 + column] += amount

    def by_code(self) -> Counter[str]:
        codes: Counter[str] = Counter()
        for (_, _, code), n in self.dead_letters.items():
            codes[code] += n
        return codes


def offline_tally(options: Options, catalog: Catalog) -> tuple[Tally, Counter[str]]:
    """The same events priced by the `Engine` in this process: what the worker must write."""
    engine = Engine(catalog)
    tally = Tally()
    kinds: Counter[str] = Counter()
    for record in generate(options.count, options.seed, options.bad_every or None):
        kinds[record.kind if record.kind in (PURCHASE, REFUND) else "bad"] += 1
        handled = engine.handle(record.value)
        tally.outcomes[OUTCOME_NAMES[handled.outcome]] += 1
        if handled.rejection is not None:
            tally.dead_letters[(record.key, record.value, handled.rejection.code)] += 1
        for output in handled.outputs:
            target = tally.accruals if output.destination == ACCRUALS else tally.notifications
            target[(output.key, output.value)] += 1
        for accrual in handled.accruals:
            tally.add_payout(
                accrual.ruleset, accrual.ruleset_version, accrual.currency, accrual.amount_minor
            )
    return tally, kinds


def _catalog(rules: Path) -> Catalog:
    try:
        return load_catalog([rules])
    except RuleSetFilesError as exc:
        raise DemoError(f"the sample rule sets do not load:\n{exc}") from None


@dataclass
class Written:
    tally: Tally
    accrual_docs: list[tuple[dict[str, Any], list[tuple[str, bytes]]]]
    notification_docs: list[dict[str, Any]]


def read_outputs(bootstrap: str, topics: Topics, timeout: float = 60.0) -> Written:
    """Every committed record on the output topics, read from the beginning to the end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"cashback-demo-reader-{uuid.uuid4().hex[:8]}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
        }
    )
    tally = Tally()
    written = Written(tally, [], [])
    try:
        names = (topics.accruals, topics.notifications, topics.dlq)
        partitions = _partitions(consumer, names)
        consumer.assign(partitions)
        open_partitions = {(p.topic, p.partition) for p in partitions}
        deadline = time.monotonic() + timeout
        while open_partitions:
            if time.monotonic() > deadline:
                raise DemoError(f"reading the output topics took longer than {timeout:.0f}s")
            for message in consumer.consume(1000, 0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        open_partitions.discard((message.topic(), message.partition()))
                        continue
                    raise DemoError(f"reading {message.topic()}: {error}")
                _collect(written, topics, message)
    finally:
        consumer.close()
    return written


def _collect(written: Written, topics: Topics, message: Any) -> None:
    tally = written.tally
    key, value, topic = message.key(), message.value(), message.topic()
    headers = [(name, raw or b"") for name, raw in message.headers() or []]
    if topic == topics.dlq:
        code = dict(headers).get("error.code", b"?").decode()
        tally.dead_letters[(key, value, code)] += 1
        tally.outcomes["dead_letter"] += 1
    elif topic == topics.accruals:
        tally.accruals[(key, value)] += 1
        doc = orjson.loads(value)
        written.accrual_docs.append((doc, headers))
        tally.add_payout(
            doc["ruleset"], doc["ruleset_version"], doc["currency"], doc["amount_minor"]
        )
    else:
        tally.notifications[(key, value)] += 1
        written.notification_docs.append(orjson.loads(value))


def _partitions(consumer: Any, names: Sequence[str]) -> list[TopicPartition]:
    metadata = consumer.list_topics(timeout=10)
    found: list[TopicPartition] = []
    for name in names:
        topic = metadata.topics.get(name)
        if topic is None or topic.error is not None:
            raise DemoError(f"topic {name} does not exist")
        found.extend(TopicPartition(name, p, -2) for p in sorted(topic.partitions))  # -2: start
    return found


def outcomes_from_outputs(written: Written, events_in: int) -> Counter[str]:
    """Outcomes as the output topics show them: an event accrued if it wrote an accrual."""
    accrued = {d["event_id"] for d, _ in written.accrual_docs if d["kind"] == "accrual"}
    reversed_ = {d["event_id"] for d, _ in written.accrual_docs if d["kind"] == "reversal"}
    dead = written.tally.outcomes["dead_letter"]
    return Counter(
        accrued=len(accrued),
        reversed=len(reversed_),
        dead_letter=dead,
        not_eligible=events_in - len(accrued) - len(reversed_) - dead,
    )


# ------------------------------------------------------------------------------ summary


def money(minor: int, currency: str) -> str:
    """Integer minor units as text with the currency's decimals: 123456 RUB -> 1,234.56 RUB."""
    digits = _MINOR_UNITS.get(currency, 2)
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**digits)
    text = f"{whole:,}" + (f".{fraction:0{digits}d}" if digits else "")
    return f"{sign}{text} {currency}"


def summary_lines(
    written: Written,
    kinds: Counter[str],
    events_in: int,
    seconds: float,
    outcomes: Counter[str],
) -> list[str]:
    tally = written.tally
    reversals = sum(row[1] for row in tally.payout.values())
    codes = tally.by_code()
    lines = [
        "",
        "== summary ==",
        f"events in          {events_in:,} ({kinds[PURCHASE]:,} purchases, "
        f"{kinds[REFUND]:,} refunds, {kinds['bad']:,} bad)",
        "outcomes           "
        + ", ".join(f"{name.replace('_', ' ')} {outcomes[name]:,}" for name in OUTCOME_NAMES),
        "dead letters       "
        + (", ".join(f"{code} {n}" for code, n in sorted(codes.items())) or "none"),
        f"accruals written   {tally.accruals.total():,} "
        f"({tally.accruals.total() - reversals:,} accruals, {reversals:,} reversals)",
        f"notifications      {tally.notifications.total():,}",
        f"throughput         {events_in:,} events in {seconds:.1f} s = "
        f"{events_in / max(seconds, 1e-9):,.0f} events/s "
        "(first record produced to last input offset committed)",
        "",
        "payout by rule set version:",
    ]
    width = max((len(name) for name, _, _ in tally.payout), default=8)
    lines.append(
        f"  {'rule set':<{width}} {'ver':>4} {'accruals':>9} {'reversals':>9}"
        f" {'accrued':>18} {'reversed':>16} {'net':>18}"
    )
    totals: Counter[str] = Counter()
    for (name, version, currency), row in sorted(tally.payout.items()):
        count, reversed_count, accrued, reversed_minor = row
        totals[currency] += accrued + reversed_minor
        lines.append(
            f"  {name:<{width}} {'v' + str(version):>4} {count:>9,} {reversed_count:>9,}"
            f" {money(accrued, currency):>18} {money(reversed_minor, currency):>16}"
            f" {money(accrued + reversed_minor, currency):>18}"
        )
    lines.append(
        "  net payout by currency: " + ", ".join(money(n, c) for c, n in sorted(totals.items()))
    )
    return lines


def example_lines(written: Written) -> list[str]:
    """One accrual (preferably one several rules paid into) and its notification."""
    docs = sorted(written.accrual_docs, key=lambda item: item[0]["event_id"])
    if not docs:
        return []
    several = [item for item in docs if item[0]["kind"] == "accrual" and len(item[0]["rules"]) > 1]
    doc, headers = (several or docs)[0]
    lines = ["", "example accrual (headers: " + _headers_text(headers) + "):", _pretty(doc)]
    notes = [n for n in written.notification_docs if n["accrual_id"] == doc["accrual_id"]]
    notes = notes or written.notification_docs[:1]
    if notes:
        lines += ["", "example notification:", _pretty(notes[0])]
    return lines


def _headers_text(headers: list[tuple[str, bytes]]) -> str:
    return ", ".join(f"{name}={value.decode(errors='replace')}" for name, value in headers)


def _pretty(doc: Any) -> str:
    return "  " + orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode().replace("\n", "\n  ")


def compare(written: Tally, offline: Tally) -> list[str]:
    """What differs between the output topics and offline pricing; empty when they match."""
    problems = []
    for what in ("accruals", "notifications", "dead_letters"):
        got, want = getattr(written, what), getattr(offline, what)
        if got != want:
            missing, extra = (want - got).total(), (got - want).total()
            problems.append(f"{what}: {missing} expected record(s) missing, {extra} unexpected")
    if written.payout != offline.payout:
        problems.append("payout by rule set version differs")
    return problems


# ---------------------------------------------------------------------------- processes


class Worker:
    """`cashback run` in its own process group, logging to a file."""

    def __init__(self, command: list[str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # Only an already resolved prctl(2) runs in the child: no Python locks.
                preexec_fn=_die_with_parent(),  # noqa: PLW1509
            )

    def exited(self) -> int | None:
        return self.process.poll()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (finish the batch, commit, leave the group); SIGKILL after `timeout`."""
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.wait()

    def kill(self) -> None:
        self._signal(signal.SIGKILL)
        self.process.wait()

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


def _die_with_parent() -> Callable[[], None] | None:
    """Ask Linux to SIGTERM the worker if the demo dies without cleaning up (kill -9)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return hook


def cashback(*args: str, timeout: float = 120.0) -> str:
    """Run one `cashback` command; its output, or DemoError with what it printed."""
    command = [sys.executable, "-m", "cashback.cli.main", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise DemoError(
            f"`cashback {' '.join(args[:2])}` did not finish in {timeout:.0f}s"
        ) from None
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()
        raise DemoError(f"`cashback {' '.join(args[:2])}` failed ({done.returncode}):\n{said}")
    return done.stdout + done.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def _http_text(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bytes(response.read()).decode()
    except (urllib.error.URLError, OSError):
        return ""


def metric_counts(text: str, name: str, label: str) -> Counter[str]:
    """Per-label-value totals of one Prometheus counter (counts only, never money)."""
    found: Counter[str] = Counter()
    prefix = name + "{"
    for line in text.splitlines():
        if not line.startswith(prefix):
            continue
        labels, _, value = line[len(prefix) :].rpartition("} ")
        for pair in labels.split(","):
            key, _, raw = pair.partition("=")
            if key == label:
                found[raw.strip('"')] += int(float(value))
    return found


# ------------------------------------------------------------------------------ the run


class Progress:
    """One status line, redrawn in place on a terminal and printed once when done elsewhere."""

    def __init__(self, label: str, total: int, stream: IO[str]) -> None:
        self.label, self.total, self.stream = label, total, stream
        self.tty = stream.isatty()
        self.drawn = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if self.tty and now - self.drawn >= 0.1:
            self.drawn = now
            self.stream.write(f"\r  {self.label} {done:,}/{self.total:,}")
            self.stream.flush()

    def finish(self, done: int, note: str = "") -> None:
        prefix = "\r" if self.tty else ""
        self.stream.write(f"{prefix}  {self.label} {done:,}/{self.total:,}{note}\n")
        self.stream.flush()


class Demo:
    def __init__(self, options: Options, out: IO[str]) -> None:
        self.options = options
        self.out = out
        self.started = time.monotonic()
        self.step = 0

    def say(self, message: str) -> None:
        print(message, file=self.out, flush=True)

    def begin(self, what: str) -> None:
        self.step += 1
        self.say(f"[{self.step}/8 {time.monotonic() - self.started:5.1f}s] {what}")

    def run(self, cleanup: contextlib.ExitStack) -> bool:
        options = self.options
        options.workdir.mkdir(parents=True, exist_ok=True)
        catalog = _catalog(options.rules)  # a broken rule set fails here, before any start-up
        bootstrap, topics = self.broker(cleanup)
        group = f"cashback-demo-{uuid.uuid4().hex[:8]}"

        self.begin(f"topics ({options.partitions} partitions) and the sample rule sets")
        connect = ["--bootstrap-servers", bootstrap]
        cashback(
            "topics", "create", *connect, *topics.flags(), "--partitions", str(options.partitions)
        )
        files = [str(path) for path in rule_files([options.rules])]
        cashback("rules", "publish", *files, *connect, "--rules-topic", topics.rules)
        self.say(f"  published {len(files)} rule set versions to {topics.rules}")

        self.begin("worker: cashback run (exactly once)")
        port = _free_port()
        worker = self.start_worker(cleanup, bootstrap, topics, group, port)

        self.begin(f"producing {options.count:,} sample events to {topics.purchases}")
        produce_started = time.monotonic()
        produced = self.produce(bootstrap, topics.purchases)

        self.begin("waiting for the worker to process them")
        self.wait_processed(bootstrap, topics.purchases, group, produced, worker)
        seconds = time.monotonic() - produce_started

        self.begin("reading the output topics (read_committed)")
        written = read_outputs(bootstrap, topics)
        reported = _reported_outcomes(port, produced)

        self.begin("stopping the worker (SIGTERM)")
        code = worker.stop()
        if code != 0:
            raise DemoError(
                f"the worker exited with code {code} on SIGTERM (expected 0); last lines of "
                f"{worker.log_path}:\n{worker.tail()}"
            )
        self.say("  the worker finished its batch, committed and exited 0")

        # After the worker stopped, so this does not compete with it for the CPU.
        ran = "native" if native_module() is not None else "Python"
        self.begin(f"pricing the events offline with the Python engine (the worker ran: {ran})")
        offline, kinds = offline_tally(options, catalog)

        outcomes = outcomes_from_outputs(written, produced)
        for line in summary_lines(written, kinds, produced, seconds, outcomes):
            self.say(line)
        for line in example_lines(written):
            self.say(line)
        problems = compare(written.tally, offline)
        if outcomes != offline.outcomes:
            problems.append(f"outcomes differ: offline {dict(offline.outcomes)}")
        if reported and reported != offline.outcomes:
            problems.append(f"the worker's /metrics outcomes differ: {dict(reported)}")
        self.say("")
        if problems:
            self.say("matches offline pricing: NO")
            for problem in problems:
                self.say(f"  {problem}")
            return False
        self.say(
            "matches offline pricing: yes (accruals, notifications and dead letters are"
            " identical byte for byte"
            + (", and so are the worker's /metrics outcome counts)" if reported else ")")
        )
        return True

    def broker(self, cleanup: contextlib.ExitStack) -> tuple[str, Topics]:
        external = os.environ.get(ENV_BOOTSTRAP, "").strip()
        if external:
            self.begin(f"Kafka broker: {external} (from ${ENV_BOOTSTRAP})")
            topics = Topics.named(f".demo-{uuid.uuid4().hex[:8]}")
            cleanup.callback(_delete_topics, external, topics)
            return external, topics
        self.begin("Kafka broker: starting a local single-node broker")
        workdir = self.options.workdir
        before = set(workdir.glob("broker-*"))
        try:
            broker = start_broker(workdir, progress=lambda m: self.say(f"  {m}"))
        except LocalKafkaError as exc:  # the message names the broker's log: keep it
            raise DemoError(f"cannot start the local Kafka broker: {exc}") from None
        except KeyboardInterrupt:
            for leftover in set(workdir.glob("broker-*")) - before:
                shutil.rmtree(leftover, ignore_errors=True)
            raise
        cleanup.push(lambda error, _exc, _tb: self.stop_broker(broker, _failed(error)))
        self.say(f"  ready at {broker.bootstrap} in {broker.startup_seconds:.1f}s")
        return broker.bootstrap, Topics.named("")

    def stop_broker(self, broker: LocalBroker, failed: bool) -> None:
        broker.stop()
        if failed:  # keep its data and log to look at
            self.say(f"  stopped the local broker; its log is {broker.log_path}")
        else:
            shutil.rmtree(broker.workdir, ignore_errors=True)
            self.say(f"  stopped the local broker at {broker.bootstrap}")

    def start_worker(
        self, cleanup: contextlib.ExitStack, bootstrap: str, topics: Topics, group: str, port: int
    ) -> Worker:
        log_path = self.options.workdir / "worker.log"
        command = [
            sys.executable, "-m", "cashback.cli.main", "run",
            "--bootstrap-servers", bootstrap, *topics.flags(),
            "--group-id", group,
            "--processing-guarantee", "exactly_once",
            "--metrics-host", "127.0.0.1", "--metrics-port", str(port),
            "--runtime", self.options.runtime,
        ]  # fmt: skip
        worker = Worker(command, log_path)
        cleanup.callback(_reap, worker)
        deadline = time.monotonic() + 90
        while _http_status(f"http://127.0.0.1:{port}/readyz") != 200:
            code = worker.exited()
            if code is not None:
                raise DemoError(
                    f"the worker exited with code {code} before it was ready; last lines of "
                    f"{log_path}:\n{worker.tail()}"
                )
            if time.monotonic() > deadline:
                raise DemoError(
                    f"the worker was not ready within 90s (/readyz on port {port}); last lines"
                    f" of {log_path}:\n{worker.tail()}"
                )
            time.sleep(0.2)
        self.say(f"  ready: /metrics, /healthz, /readyz on 127.0.0.1:{port}; log in {log_path}")
        return worker

    def produce(self, bootstrap: str, topic: str) -> int:
        options = self.options
        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "linger.ms": 10,
                "compression.type": "lz4",
                "message.max.bytes": 2 * 1024 * 1024,
            }
        )
        failures: list[str] = []

        def delivered(error: Any, _message: Any) -> None:
            if error is not None:
                failures.append(str(error))

        progress = Progress("produced", options.count, self.out)
        sent = 0
        try:
            for record in generate(options.count, options.seed, options.bad_every or None):
                while True:
                    try:
                        producer.produce(topic, record.value, record.key, on_delivery=delivered)
                        break
                    except BufferError:  # the local queue is full: let deliveries drain
                        producer.poll(0.05)
                sent += 1
                if sent % 500 == 0:
                    producer.poll(0)
                    progress.update(sent)
        except BaseException:  # Ctrl-C: drop what is queued instead of retrying it
            producer.purge()
            producer.flush(1)
            raise
        left = producer.flush(60)
        if left or failures:
            raise DemoError(
                f"producing failed: {left} record(s) undelivered, errors: {failures[:3]}"
            )
        progress.finish(sent)
        return sent

    def wait_processed(
        self, bootstrap: str, topic: str, group: str, produced: int, worker: Worker
    ) -> None:
        """Until the group's committed offsets reach the input's end on every partition."""
        timeout = self.options.timeout or 60.0 + produced / 200
        watcher = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
        )
        try:
            partitions = _partitions(watcher, [topic])
            ends = {
                p.partition: watcher.get_watermark_offsets(p, timeout=10)[1] for p in partitions
            }
            total = sum(ends.values())
            progress = Progress("committed", total, self.out)
            deadline = time.monotonic() + timeout
            while True:
                committed = watcher.committed(partitions, timeout=10)
                done = sum(min(max(p.offset, 0), ends[p.partition]) for p in committed)
                progress.update(done)
                if done >= total:
                    progress.finish(done, " input offsets")
                    return
                code = worker.exited()
                if code is not None:
                    raise DemoError(
                        f"the worker exited with code {code} while processing; last lines of "
                        f"{worker.log_path}:\n{worker.tail()}"
                    )
                if time.monotonic() > deadline:
                    raise DemoError(
                        f"the worker committed {done:,} of {total:,} input offsets within "
                        f"{timeout:.0f}s; see {worker.log_path}"
                    )
                time.sleep(0.1)
        finally:
            watcher.close()


def _reported_outcomes(port: int, events: int, wait: float = 5.0) -> Counter[str]:
    """The worker's own outcome counts from /metrics, once they add up to `events`."""
    deadline = time.monotonic() + wait
    while True:
        text = _http_text(f"http://127.0.0.1:{port}/metrics")
        counts = metric_counts(text, "cashback_events_processed_total", "outcome")
        if counts.total() >= events or time.monotonic() > deadline:
            return counts
        time.sleep(0.1)


def _failed(error: type[BaseException] | None) -> bool:
    """An error worth keeping the broker's log for (Ctrl-C is not one)."""
    return error is not None and not issubclass(error, KeyboardInterrupt)


def _reap(worker: Worker) -> None:
    """On the way out (also after an error or Ctrl-C): nothing of the worker stays behind."""
    if worker.exited() is None:
        worker.stop(timeout=10)


def _delete_topics(bootstrap: str, topics: Topics) -> None:
    """Best effort: a demo run against a shared broker leaves no topics behind."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [topics.purchases, topics.accruals, topics.notifications, topics.dlq, topics.rules]
    for future in admin.delete_topics(names, operation_timeout=10).values():
        with contextlib.suppress(Exception):
            future.result(15)


# ----------------------------------------------------------------------------- command line


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """`kill <demo>` cleans up like Ctrl-C does."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m cashback.devtools.demo",
        description=(__doc__ or "").split("\n\n")[0],
    )
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="sample events")
    parser.add_argument("--seed", type=int, default=42, help="sample stream seed")
    parser.add_argument(
        "--bad-every", type=int, default=300, metavar="N", help="every N-th event is bad (0: none)"
    )
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    parser.add_argument("--rules", type=Path, default=_repo_path("deploy/examples/rules"))
    parser.add_argument("--workdir", type=Path, default=_repo_path(".demo"))
    parser.add_argument(
        "--timeout", type=float, default=0.0, help="seconds to wait for processing (0: auto)"
    )
    parser.add_argument(
        "--runtime", choices=("confluent", "faust"), default="confluent", help="worker runtime"
    )
    args = parser.parse_args(argv)
    if args.count < 1 or args.bad_every < 0 or args.partitions < 1:
        parser.error("--count and --partitions must be >= 1, --bad-every >= 0")
    return Options(
        args.count,
        args.seed,
        args.bad_every,
        args.partitions,
        args.rules,
        args.workdir,
        args.timeout,
        args.runtime,
    )


def _repo_path(relative: str) -> Path:
    """`relative` under the checkout this module runs from, else under the current directory."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "pyproject.toml").is_file() and (folder / "deploy").is_dir():
            return folder / relative
    return Path(relative)


def main(argv: Sequence[str] | None = None, out: IO[str] | None = None) -> int:
    options = parse_options(argv)
    demo = Demo(options, out or sys.stdout)
    with _sigterm_as_interrupt():
        try:
            with contextlib.ExitStack() as cleanup:
                ok = demo.run(cleanup)
        except DemoError as exc:
            print(f"\ndemo failed: {exc}", file=sys.stderr, flush=True)
            return 1
        except KeyboardInterrupt:
            print("\ndemo interrupted; everything it started is stopped", file=sys.stderr)
            return 130
    demo.say(f"{'done' if ok else 'failed'} in {time.monotonic() - demo.started:.1f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
