"""The workload: sample events, the expected outputs, the preloaded topic, the fixed rate.

Every run reads the same records: `generate(count, seed, bad_every=None)` (purchases and
about 5 % refunds, realistic sizes and rule hits, no deliberately bad events), keyed by
customer id, preloaded once into a topic of `PARTITIONS` partitions. What the cashback
job must write for them is computed once with `Engine.handle` on the same rule files and
cached under benchmarks/.work, so each run's output count can be checked exactly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from confluent_kafka import Producer

from benchmarks.measure import stamp_traceparent
from cashback.devtools.sample_stream import SampleRecord, generate
from cashback.domain.engine import ACCRUALS, NOTIFICATIONS, Engine
from cashback.rulefiles import load_catalog

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "examples" / "rules"
WORK = ROOT / "benchmarks" / ".work"
PARTITIONS = 4
SEED = 7
LATENCY_SEED = 11
OUTPUT_CONFIG = {"message.timestamp.type": "LogAppendTime"}


@dataclass(frozen=True, slots=True)
class Expected:
    """What the cashback job writes for the workload, per output kind."""

    accruals: int
    notifications: int
    dead_letters: int

    @property
    def total(self) -> int:
        return self.accruals + self.notifications + self.dead_letters


def events(count: int, seed: int = SEED) -> list[SampleRecord]:
    return list(generate(count, seed=seed, bad_every=None))


def expected_outputs(records: Sequence[SampleRecord], count: int, seed: int) -> Expected:
    """Priced once on the same rule files; cached by (count, seed, rule files)."""
    rule_files = sorted(RULES.glob("*.y*ml"))
    stamp = max(int(path.stat().st_mtime) for path in rule_files)
    cache = WORK / f"expected-{count}-{seed}-{len(rule_files)}-{stamp}.json"
    if cache.exists():
        return Expected(**json.loads(cache.read_text()))
    engine = Engine(load_catalog([RULES]))
    found = {ACCRUALS: 0, NOTIFICATIONS: 0}
    dead_letters = 0
    for record in records:
        handled = engine.handle(record.value)
        if handled.rejection is not None:
            dead_letters += 1
        for output in handled.outputs:
            found[output.destination] += 1
    expected = Expected(found[ACCRUALS], found[NOTIFICATIONS], dead_letters)
    WORK.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(asdict(expected)))
    return expected


def _producer(bootstrap: str, linger_ms: int) -> Producer:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "linger.ms": linger_ms,
            "queue.buffering.max.messages": 500_000,
        }
    )


def preload(bootstrap: str, topic: str, records: Sequence[SampleRecord]) -> None:
    """Write every record, as fast as the client goes, and wait for the acknowledgements."""
    producer = _producer(bootstrap, linger_ms=20)
    for record in records:
        while True:
            try:
                producer.produce(topic, record.value, record.key)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(60):
        raise RuntimeError(f"preloading {topic}: records not acknowledged in 60s")


def rate_producer(bootstrap: str) -> Producer:
    """The fixed-rate sender; used for the warm-up first, so its producer id is ready."""
    return _producer(bootstrap, linger_ms=5)


def send_at_rate(
    producer: Producer,
    topic: str,
    records: Sequence[SampleRecord],
    *,
    rate: float,
    first_sequence: int = 0,
) -> float:
    """Send `records` at `rate` per second, each stamped with its send time; returns the
    seconds it took (more than len/rate when the client could not keep up)."""
    started = time.perf_counter()
    sent = 0
    while sent < len(records):
        due = min(len(records), int((time.perf_counter() - started) * rate) + 1)
        while sent < due:
            record = records[sent]
            header = stamp_traceparent(time.time_ns(), first_sequence + sent)
            producer.produce(topic, record.value, record.key, headers=[("traceparent", header)])
            sent += 1
        producer.poll(0)
        time.sleep(0.002)
    if producer.flush(60):
        raise RuntimeError(f"sending to {topic}: records not acknowledged in 60s")
    return time.perf_counter() - started
