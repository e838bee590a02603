"""Instructions per event of each in-process step, counted by callgrind (load-independent).

    python -m benchmarks.stage_instructions [--small 200] [--large 1200]

One `valgrind --tool=callgrind` process sets everything up, then runs each step on
`small` and on `large` sample events (the `make bench` workload), calling `math.erf`
between parts: callgrind dumps its counts at each such call (`--dump-before=math_erf`),
so every part is counted apart, and (large - small) / (large - small events) is the
step's cost per event with its fixed costs cancelled out. Steps:

- `pricing only`: the bare native `Engine.handle` on each value (decode, price, encode
  and its result tuple), the floor under any batch step;
- `batch step, per event`: `runtime.batch.price_batch_per_event` (the path before the
  native batch call: `NativeEngine.handle` per record, a `Handled` per event, a request
  and a header list per output built in Python);
- `batch step, one call`: `runtime.batch.price_batch` (`NativeEngine.price_batch`);
- `produce`: `delivery.produce_all` of those requests into a real confluent-kafka
  producer (no broker: each record is queued, what the loop's thread pays per call);
- `passthrough`: what benchmarks/passthrough.py does per input (key, value, headers,
  two `produce` calls).

The records are `benchmarks.records.Consumed`, small Python objects with the methods of
`confluent_kafka.Message`.
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STEPS = ("pricing only", "batch step, per event", "batch step, one call", "produce", "passthrough")


def steps(count: int) -> dict[str, Callable[[], Any]]:
    """Each step on its own `count` events, set up beforehand."""
    from confluent_kafka import Producer  # noqa: PLC0415 - only inside the measured process

    from benchmarks.records import consumed  # noqa: PLC0415
    from benchmarks.workload import RULES, events  # noqa: PLC0415
    from cashback.domain.native_engine import NativeEngine, make_engine  # noqa: PLC0415
    from cashback.rulefiles import load_catalog  # noqa: PLC0415
    from cashback.runtime.batch import (  # noqa: PLC0415
        Routes,
        price_batch,
        price_batch_per_event,
    )
    from cashback.runtime.delivery import produce_all  # noqa: PLC0415

    engine = make_engine(load_catalog([RULES]), mode="native")
    assert isinstance(engine, NativeEngine)
    records = consumed(events(count))
    routes = Routes("accruals", "notifications", "dlq")
    producer = Producer({"bootstrap.servers": "127.0.0.1:9", "queue.buffering.max.messages": 10**7})
    requests = price_batch(engine, records, routes).requests
    handle = engine._native.handle  # the bare native call

    def pricing() -> None:
        for record in records:
            handle(record.value())

    def passthrough() -> None:
        produce = producer.produce
        for message in records:
            key, value, headers = message.key(), message.value(), message.headers()
            produce("copy-a", value, key, headers=headers)
            produce("copy-b", value, key, headers=headers)

    return {
        "pricing only": pricing,
        "batch step, per event": lambda: price_batch_per_event(engine, records, routes),
        "batch step, one call": lambda: price_batch(engine, records, routes),
        "produce": lambda: produce_all(producer, requests),
        "passthrough": passthrough,
        "_producer": producer.purge,
    }


def run_parts(small: int, large: int) -> None:
    """Inside callgrind: every step on `small`, then on `large` events, a dump between."""
    sized = {small: steps(small), large: steps(large)}
    for step in STEPS:
        for count in (small, large):
            math.erf(0.0)  # callgrind dumps here: the part before ends
            sized[count][step]()
    math.erf(0.0)
    for found in sized.values():
        found["_producer"]()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--large", type=int, default=1200)
    parser.add_argument("--run", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_parts(args.small, args.large)
        return
    with tempfile.TemporaryDirectory(prefix="callgrind-") as work:
        out = Path(work) / "callgrind.out"
        command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                   "--dump-before=math_erf", sys.executable, "-m",
                   "benchmarks.stage_instructions", "--run", "--small", str(args.small),
                   "--large", str(args.large)]  # fmt: skip
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        # callgrind.out.1 is the set-up, then (small, large) per step in order;
        # callgrind.out itself holds what ran after the last part.
        parts = sorted(Path(work).glob("callgrind.out.*"), key=_part_number)
        totals = [_total(part) for part in parts]
    counted = totals[1 : 1 + 2 * len(STEPS)]
    print(f"instructions per event, ({args.large} - {args.small} events) / difference")
    for i, step in enumerate(STEPS):
        small, large = counted[2 * i], counted[2 * i + 1]
        print(f"  {step:24} {(large - small) / (args.large - args.small):>10,.0f}")


def _part_number(path: Path) -> int:
    found = re.search(r"\.(\d+)$", path.name)
    return int(found.group(1)) if found else 0


def _total(path: Path) -> int:
    text = path.read_bytes()
    found = re.search(rb"^summary: (\d+)", text, re.MULTILINE) or re.search(
        rb"^totals: (\d+)", text, re.MULTILINE
    )
    assert found is not None, f"{path}: callgrind wrote no totals"
    return int(found.group(1))


if __name__ == "__main__":
    main()
