"""`make bench-tuning`: the worker's client settings measured side by side, in one run.

    python -m benchmarks.tuning [--quick] [--events N] [--repeats R] [--variants a,b] ...

Each variant is the `cashback-eos` run of `make bench` (same preloaded input, fresh group
and output topics, the same throughput window, CPU sampling and fixed-rate latency run;
see benchmarks/README.md "Method") with one change: librdkafka properties passed with
`cashback run --kafka key=value` (they reach the consumer and the producer alike; each
client ignores the other's), or the worker's own batch settings. All variants run in turn
within each repeat, so machine noise hits them alike; each variant's events/s is also
given as a ratio to the defaults of the same repeat.

Bytes on the wire: the output topics' log segments on the broker's disk (*.log files of
their partition directories, read just before the topics are deleted): what the producer
sent, compressed batches and transaction markers included. So the driver always starts
its own local broker. Results go to benchmarks/tuning_results.json, and the table into
benchmarks/README.md between the "tuning:" markers (`--no-readme` leaves it alone).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import report, trials
from benchmarks.run import _guarded, machine, say
from benchmarks.systems import SYSTEMS, System
from benchmarks.workload import PARTITIONS, SEED, WORK, events, expected_outputs, preload
from cashback.devtools.local_kafka import start_broker
from cashback.runtime.topics import TopicSpec, create_topics

OUT = Path(__file__).resolve().parent
README = OUT / "README.md"
BEGIN, END = "<!-- tuning:begin -->", "<!-- tuning:end -->"
BASE = SYSTEMS["cashback-eos"]


@dataclass(frozen=True, slots=True)
class Tuned(System):
    """`cashback-eos` with extra `cashback run` arguments."""

    extra: tuple[str, ...] = ()

    def command(
        self, bootstrap: str, source: str, outputs: Mapping[str, str], group: str
    ) -> tuple[list[str], dict[str, str]]:
        args, env = BASE.command(bootstrap, source, outputs, group)
        return [*args, *self.extra], env


def _kafka(*pairs: str) -> tuple[str, ...]:
    return tuple(arg for pair in pairs for arg in ("--kafka", pair))


# What each variant changes (names go into topic names); the defaults in brackets.
VARIANTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("defaults", ()),
    ("linger-0", _kafka("linger.ms=0")),  # [5 ms]
    ("linger-50", _kafka("linger.ms=50")),
    ("batch.size-64k", _kafka("batch.size=65536")),  # [1,000,000 bytes per partition batch]
    # The worker's default is lz4 since the first of these runs (librdkafka's is none).
    ("no-compression", _kafka("compression.type=none")),
    ("lz4", _kafka("compression.type=lz4")),
    ("zstd", _kafka("compression.type=zstd")),
    ("fetch-wait-10", _kafka("fetch.wait.max.ms=10")),  # [500 ms]
    ("fetch-min-256k", _kafka("fetch.min.bytes=262144", "fetch.wait.max.ms=100")),  # [1 byte]
    ("partition-fetch-256k", _kafka("max.partition.fetch.bytes=262144")),  # [1 MiB]
    ("partition-fetch-8m", _kafka("max.partition.fetch.bytes=8388608")),
    ("batch-500", ("--batch-size", "500")),  # records per transaction [2000]
    ("batch-10000", ("--batch-size", "10000")),
)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.tuning", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--events", type=int, help="events preloaded [100000; quick 10000]")
    parser.add_argument("--repeats", type=int, help="repeats of every variant [3; quick 1]")
    parser.add_argument("--latency-rate", type=int, help="events/s [5000; quick 2000]")
    parser.add_argument("--latency-seconds", type=float, help="[10; quick 3]")
    parser.add_argument("--latency-repeats", type=int, help="[2; quick 1]")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--variants", default=",".join(name for name, _ in VARIANTS))
    parser.add_argument("--no-readme", action="store_true", help="leave README.md alone")
    parser.add_argument("--output", type=Path, default=OUT / "tuning_results.json")
    args = parser.parse_args(argv)
    args.events = args.events or (10_000 if args.quick else 100_000)
    args.repeats = args.repeats or (1 if args.quick else 3)
    args.latency_rate = args.latency_rate or (2_000 if args.quick else 5_000)
    args.latency_seconds = args.latency_seconds or (3.0 if args.quick else 10.0)
    args.latency_repeats = args.latency_repeats or (1 if args.quick else 2)
    known = dict(VARIANTS)
    unknown = [name for name in args.variants.split(",") if name not in known]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {', '.join(known)}")
    return args


class DiskBench(trials.Bench):
    """A Bench that weighs each run's output topics on the broker's disk before deleting them."""

    def __init__(self, log_dirs: Path, *args: Any) -> None:
        super().__init__(*args)
        self.log_dirs = log_dirs
        self.weighed: list[int] = []

    def delete_topics(self, names: Sequence[str]) -> None:
        self.weighed.append(sum(_topic_bytes(self.log_dirs, name) for name in names))
        super().delete_topics(names)


def _topic_bytes(log_dirs: Path, topic: str) -> int:
    return sum(
        segment.stat().st_size
        for directory in log_dirs.rglob(f"{topic}-*")
        if directory.is_dir() and directory.name.rsplit("-", 1)[0] == topic
        for segment in directory.glob("*.log")
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    started = time.monotonic()
    chosen = {name: extra for name, extra in VARIANTS if name in args.variants.split(",")}
    systems = {
        name: Tuned(f"tuned-{name}", BASE.family, BASE.guarantee, extra)
        for name, extra in chosen.items()
    }
    run_id = uuid.uuid4().hex[:8]
    logs = WORK / f"logs-tuning-{run_id}"
    logs.mkdir(parents=True)
    records = events(args.events)
    priced = expected_outputs(records, args.events, seed=SEED)
    through: dict[str, list[dict[str, Any]]] = {n: [] for n in systems}
    latency: dict[str, list[dict[str, Any]]] = {n: [] for n in systems}
    with tempfile.TemporaryDirectory(prefix="bench-tuning-kafka-") as workdir:
        local = start_broker(Path(workdir))
        say(f"local broker at {local.bootstrap} ready in {local.startup_seconds:.1f}s")
        try:
            info = machine("local single-node KRaft")
            info["uptime"] = _uptime()
            source = f"bench-{run_id}-purchases"
            create_topics({"bootstrap.servers": local.bootstrap}, [TopicSpec(source, PARTITIONS)])
            preload(local.bootstrap, source, records)
            bench = DiskBench(Path(workdir), local.bootstrap, run_id, logs, say)
            for rep in range(args.repeats):
                for name, system in systems.items():
                    trial = partial(bench.throughput, system, source, len(records), priced, rep)
                    result = _guarded(trial)
                    if "error" not in result:
                        result["output_bytes"] = bench.weighed[-1]
                    through[name].append(result)
            if not args.no_latency:
                fixed = events(int(args.latency_rate * args.latency_seconds) + trials.WARMUP, 11)
                for rep in range(args.latency_repeats):
                    for name, system in systems.items():
                        trial = partial(bench.latency, system, fixed, args.latency_rate, rep)
                        latency[name].append(_guarded(trial))
            bench.delete_topics([source])
        finally:
            local.stop()
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    rows = [_row(name, chosen[name], through, latency) for name in systems]
    results = {
        "machine": info,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m benchmarks.tuning "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "duration_s": round(time.monotonic() - started, 1),
        "config": {
            "events": args.events,
            "repeats": args.repeats,
            "latency_rate": 0 if args.no_latency else args.latency_rate,
            "latency_seconds": 0 if args.no_latency else args.latency_seconds,
            "latency_repeats": 0 if args.no_latency else args.latency_repeats,
        },
        "rows": rows,
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    print(table)
    if not args.no_readme:
        _into_readme(table)
    say(f"done in {results['duration_s']:.0f}s; logs in {logs}")
    return 0 if all(row["complete"] for row in rows) else 1


def _row(
    name: str,
    extra: tuple[str, ...],
    through: Mapping[str, Sequence[dict[str, Any]]],
    latency: Mapping[str, Sequence[dict[str, Any]]],
) -> dict[str, Any]:
    row = report.summarize(name, through[name], latency[name])
    row["variant"] = name
    row["change"] = " ".join(extra) or "(none)"
    runs = [r for r in through[name] if "error" not in r]
    sizes = [r["output_bytes"] / r["events"] for r in runs]
    row["bytes_per_event"] = round(statistics.median(sizes), 1) if sizes else None
    # events/s against the defaults' run of the same repeat: noise shared within a repeat.
    base = through.get("defaults", ())
    ratios = [
        mine["events_per_s"] / theirs["events_per_s"]
        for mine, theirs in zip(through[name], base, strict=False)
        if "error" not in mine and "error" not in theirs
    ]
    row["ratio"] = round(statistics.median(ratios), 3) if ratios else None
    row["ratio_min"] = round(min(ratios), 3) if ratios else None
    row["ratio_max"] = round(max(ratios), 3) if ratios else None
    return row


def _uptime() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "?"


def markdown(results: Mapping[str, Any]) -> str:
    config = results["config"]
    head = (
        f"`{results['command'].strip()}`, {results['date']}, {results['duration_s']:.0f} s; "
        f"{config['events']:,} events x {config['repeats']} repeats; latency at "
        f"{config['latency_rate']:,} events/s for {config['latency_seconds']} s x "
        f"{config['latency_repeats']}; /proc/loadavg before: {results['machine']['uptime']}, "
        f"load after {results['machine']['load_after']}."
    )
    lines = [
        head,
        "",
        "| cashback-eos with | events/s | / defaults | CPU s / 1k events "
        "| output bytes / event | p50 ms | p99 ms | ok |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
        if row["ratio"] is not None and row["repeats"] > 1:
            ratio += f" ({row['ratio_min']:.2f}-{row['ratio_max']:.2f})"
        size = "-" if row["bytes_per_event"] is None else f"{row['bytes_per_event']:,.0f}"
        cells = report.table_rows([row])[0]
        lines.append(
            f"| `{row['change']}` | {cells[1]} | {ratio} | {cells[5]} | {size} | {cells[2]} "
            f"| {cells[3]} | {cells[6]} |"
        )
    return "\n".join(lines) + "\n"


def _into_readme(table: str) -> None:
    text = README.read_text()
    if BEGIN not in text or END not in text:
        say(f"{README} has no {BEGIN} ... {END} markers: the table is only on the screen")
        return
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    README.write_text(f"{before}{BEGIN}\n{table}{END}{after}")


if __name__ == "__main__":
    sys.exit(main())
