"""A stream of 100 % bad input: the worker keeps running and dead-letters it; how fast?

Two runs of `cashback run` (exactly once, default settings, the sample rule files) on a
local broker, in one process so machine noise hits both alike, alternating per repeat:

- `all-bad`: N records, every one bad, cycling through the sample stream's bad kinds
  (not JSON, money as a float, empty, refunds that overdraw or miss a line, a missing
  field, a naive timestamp, a field given twice; too large 1 in 1,000): each becomes one
  DLQ record;
- `all-good`: N sample purchases and refunds (the usual workload), for the ratio.

Reported: records/s from the first consumed record to the group's last commit, the DLQ
count (must equal N for all-bad) and whether the worker was still ready at the end.

    python -m benchmarks.bad_input [--events 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from cashback.devtools.local_kafka import start_broker
from cashback.devtools.sample_stream import SampleRecord, generate
from cashback.domain.events import MAX_EVENT_BYTES
from cashback.runtime.topics import TopicSpec, create_topics

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "examples" / "rules"
PARTITIONS = 4


def bad_records(count: int) -> list[SampleRecord]:
    """Every bad kind of the sample stream, repeated; a too-large one (512 KiB+, copied to
    the DLQ whole) only 1 in 1,000, else its bytes, not the refusals, set the pace."""
    found = [
        r for r in generate(20_000, seed=3, bad_every=1) if r.kind not in ("purchase", "refund")
    ]
    small = [r for r in found if r.value is None or len(r.value) <= MAX_EVENT_BYTES]
    large = [r for r in found if r.value is not None and len(r.value) > MAX_EVENT_BYTES][:1]
    cycle = itertools.cycle(small)
    return [large[0] if large and i % 1000 == 999 else next(cycle) for i in range(count)]


def good_records(count: int) -> list[SampleRecord]:
    return list(generate(count, seed=7, bad_every=None))


def committed(bootstrap: str, group: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        try:
            return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
        except KafkaException:  # a coordinator moving under load: ask again next turn
            return 0
    finally:
        consumer.close()


def committed_records(bootstrap: str, topic: str) -> int:
    """Records a read_committed reader sees (end offsets would count transaction markers)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"bench-count-{uuid.uuid4().hex}",
         "isolation.level": "read_committed", "enable.partition.eof": True,
         "enable.auto.commit": False, "fetch.max.bytes": 50_000_000}
    )  # fmt: skip
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        pending, count = set(range(PARTITIONS)), 0
        while pending:
            for message in consumer.consume(1000, 1.0):
                if message.error() is None:
                    count += 1
                else:
                    pending.discard(message.partition())
        return count
    finally:
        consumer.close()


def one_run(bootstrap: str, records: list[SampleRecord], work: Path) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    names = {k: f"bench-{k}-{tag}" for k in ("in", "acc", "not", "dlq")}
    create_topics(
        {"bootstrap.servers": bootstrap},
        [
            TopicSpec(name, PARTITIONS, config={"max.message.bytes": "2000000"})
            for name in names.values()
        ],
    )
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "message.max.bytes": 2_000_000}
    )
    for n, record in enumerate(records):
        producer.produce(names["in"], key=record.key, value=record.value)
        if n % 5000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    group = f"bench-{tag}"
    log = work / f"worker-{tag}.log"
    args = [
        sys.executable, "-m", "cashback.cli.main", "run", "--bootstrap-servers", bootstrap,
        "--input-topics", names["in"], "--accruals-topic", names["acc"],
        "--notifications-topic", names["not"], "--dlq-topic", names["dlq"], "--rules-topic", "",
        "--rules", str(RULES), "--group-id", group, "--metrics-host", "127.0.0.1",
        "--metrics-port", "0", "--transactional-id", f"tx-{tag}",
        "--kafka", "message.max.bytes=2000000",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=out)
    try:
        started = None
        while True:
            done = committed(bootstrap, group, names["in"])
            if started is None and done > 0:
                started, first = time.monotonic(), done
            if done >= len(records):
                break
            if proc.poll() is not None:
                raise RuntimeError(f"the worker exited with {proc.returncode}; see {log}")
            time.sleep(0.2)
        seconds = time.monotonic() - (started or time.monotonic())
        port = next(
            int(line.split(b'"port":')[1].split(b"}")[0].split(b",")[0])
            for line in log.read_bytes().splitlines()
            if b"metrics server listening" in line
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
            ready = answer.status == 200
    finally:
        proc.terminate()
        proc.wait(30)
    return {
        "per_s": (len(records) - first) / seconds if seconds > 0 else float("nan"),
        "dlq": committed_records(bootstrap, names["dlq"]),
        "ready": float(ready),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    inputs = {"all-bad": bad_records(args.events), "all-good": good_records(args.events)}
    with (
        tempfile.TemporaryDirectory(prefix="bench-bad-") as tmp,
        start_broker(Path(tmp), timeout=240) as broker,
    ):
        results: dict[str, list[dict[str, float]]] = {name: [] for name in inputs}
        for _ in range(args.repeats):
            for name, records in inputs.items():
                results[name].append(one_run(broker.bootstrap, records, Path(tmp)))
    print(f"cashback run, exactly once, {args.events} records x {args.repeats} repeats")
    medians = {}
    for name, runs in results.items():
        rates = sorted(r["per_s"] for r in runs)
        medians[name] = statistics.median(rates)
        print(
            f"  {name:9} {medians[name]:8.0f} records/s ({rates[0]:.0f}-{rates[-1]:.0f}); "
            f"DLQ records {[int(r['dlq']) for r in runs]}; ready at the end "
            f"{all(r['ready'] for r in runs)}"
        )
    print(f"  all-bad / all-good: {medians['all-bad'] / medians['all-good']:.2f}")


if __name__ == "__main__":
    main()
