"""`make bench`: the worker against a bare Kafka loop and Quix Streams, on one local broker.

    python -m benchmarks.run [--quick] [--events N] [--repeats R] [--no-latency] ...

Throughput: every system reads the same preloaded topic on a fresh consumer group and
writes fresh output topics (see benchmarks/README.md for the method). Latency: a fresh
input topic fed at a fixed rate while a read_committed reader tails the outputs.
Results go to benchmarks/results.json and benchmarks/RESULTS.md and to the screen.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaException

from benchmarks import kstreams, report, trials
from benchmarks.systems import SYSTEMS, ensure_quix_venv, quix_ready
from benchmarks.workload import PARTITIONS, SEED, WORK, events, expected_outputs, preload
from cashback.devtools.local_kafka import LocalBroker, start_broker
from cashback.runtime.topics import TopicSpec, create_topics

OUT = Path(__file__).resolve().parent


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (~2 minutes)")
    parser.add_argument("--events", type=int, help="events preloaded [200000; quick 20000]")
    parser.add_argument("--repeats", type=int, help="repeats of every run [3; quick 1]")
    parser.add_argument("--latency-rate", type=int, help="events/s [5000; quick 2000]")
    parser.add_argument("--latency-seconds", type=float, help="[30; quick 5]")
    parser.add_argument("--latency-repeats", type=int, help="[= --repeats]")
    parser.add_argument("--no-latency", action="store_true", help="skip the fixed-rate runs")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated runs")
    parser.add_argument(
        "--no-quix-install",
        action="store_true",
        help="skip the quixstreams runs unless benchmarks/.venv-quix is already there",
    )
    parser.add_argument(
        "--no-kstreams-build",
        action="store_true",
        help="skip the Kafka Streams run unless benchmarks/kstreams is already built",
    )
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", ""))
    parser.add_argument("--output-dir", type=Path, default=OUT)
    args = parser.parse_args(argv)
    quick = args.quick
    args.events = args.events or (20_000 if quick else 200_000)
    args.repeats = args.repeats or (1 if quick else 3)
    args.latency_rate = args.latency_rate or (2_000 if quick else 5_000)
    args.latency_seconds = args.latency_seconds or (5.0 if quick else 30.0)
    args.latency_repeats = args.latency_repeats or args.repeats
    unknown = [name for name in args.systems.split(",") if name not in SYSTEMS]
    if unknown:
        parser.error(f"unknown systems {unknown}; known: {', '.join(SYSTEMS)}")
    return args


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def broker(bootstrap: str) -> Iterator[tuple[str, str]]:
    """(bootstrap, broker description): the given one, or a fresh local broker."""
    if bootstrap:
        yield bootstrap, f"external ({bootstrap})"
        return
    with tempfile.TemporaryDirectory(prefix="bench-kafka-") as workdir:
        local: LocalBroker = start_broker(Path(workdir))
        say(f"local broker at {local.bootstrap} ready in {local.startup_seconds:.1f}s")
        try:
            yield local.bootstrap, f"local single-node KRaft, Apache Kafka {_kafka_version()}"
        finally:
            local.stop()


def _kafka_version() -> str:
    pom = OUT.parent / "deploy" / "local-kafka" / "pom.xml"
    text = pom.read_text() if pom.exists() else ""
    start = text.find("<kafka.version>")
    return text[start + 15 : text.find("<", start + 15)] if start >= 0 else "?"


def machine(broker_name: str) -> dict[str, Any]:
    cpu = "?"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as info:
        cpu = next((ln.split(":", 1)[1].strip() for ln in info if ln.startswith("model name")), cpu)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "confluent_kafka": _version_text(confluent_kafka.version()),
        "librdkafka": confluent_kafka.libversion()[0],
        "quixstreams": trials.quix_version(),
        "broker": broker_name,
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }


def _version_text(found: object) -> str:
    """confluent_kafka.version() is a string in some releases, (text, number) in others."""
    return str(found[0] if isinstance(found, tuple) else found)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    started = time.monotonic()
    names = args.systems.split(",")
    skipped: dict[str, str] = {}
    if any(name.startswith("quixstreams") for name in names):
        why = _quix(args.no_quix_install)
        if why is not None:
            skipped.update({n: why for n in names if n.startswith("quixstreams")})
            names = [n for n in names if n not in skipped]
            say(f"quixstreams runs skipped: {why}")
    if any(SYSTEMS[name].family == "kstreams" for name in names):
        why = _kstreams(args.no_kstreams_build)
        if why is not None:
            skipped.update({n: why for n in names if SYSTEMS[n].family == "kstreams"})
            names = [n for n in names if n not in skipped]
            say(f"kstreams run skipped: {why}")
    run_id = uuid.uuid4().hex[:8]
    WORK.mkdir(parents=True, exist_ok=True)
    logs = WORK / f"logs-{run_id}"
    logs.mkdir()

    # The broker starts in a thread while the workload is generated and priced.
    records: list[Any] = []
    prepared = threading.Thread(target=lambda: records.extend(events(args.events)))
    prepared.start()
    with broker(args.bootstrap) as (bootstrap, broker_name):
        info = machine(broker_name)
        prepared.join()
        priced = expected_outputs(records, args.events, seed=SEED)
        source = f"bench-{run_id}-purchases"
        create_topics({"bootstrap.servers": bootstrap}, [TopicSpec(source, PARTITIONS)])
        say(f"preloading {len(records):,} events into {source} ({PARTITIONS} partitions)")
        preload(bootstrap, source, records)
        bench = trials.Bench(bootstrap, run_id, logs, say)
        through: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        latency: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        inputs, rate = len(records), args.latency_rate
        for rep in range(args.repeats):
            for name in names:
                trial = partial(bench.throughput, SYSTEMS[name], source, inputs, priced, rep)
                through[name].append(_guarded(trial))
        if not args.no_latency:
            count = int(args.latency_rate * args.latency_seconds)
            fixed = events(count + trials.WARMUP, seed=11)
            for rep in range(args.latency_repeats):
                for name in names:
                    trial = partial(bench.latency, SYSTEMS[name], fixed, rate, rep)
                    latency[name].append(_guarded(trial))
        bench.delete_topics([source])
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    rows = [report.summarize(n, through[n], latency[n]) for n in names]
    results = {
        "machine": info,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "make bench" + (" QUICK=1" if args.quick else "")
        if argv is None and sys.argv[1:] in ([], ["--quick"])
        else "python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv),
        "duration_s": round(time.monotonic() - started, 1),
        "config": {
            "events": args.events,
            "workload": "sample_stream.generate(seed=7, bad_every=None): purchases, ~5% refunds",
            "partitions": PARTITIONS,
            "repeats": args.repeats,
            "latency_rate": 0 if args.no_latency else args.latency_rate,
            "latency_seconds": 0 if args.no_latency else args.latency_seconds,
            "latency_repeats": 0 if args.no_latency else args.latency_repeats,
        },
        "runs": rows,
        "ratios": report.ratios(rows),
        "skipped": skipped,
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.output_dir / "RESULTS.md").write_text(report.markdown(results))
    print(report.screen(results))
    say(f"done in {results['duration_s']:.0f}s; logs in {logs}")
    return 0 if all(row["complete"] for row in rows) else 1


def _guarded(trial: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """One run's result, or why it failed: one failed run does not end the benchmark."""
    try:
        return trial()
    except (trials.RunFailedError, RuntimeError, KafkaException) as exc:
        say(f"run failed: {exc}")
        return {"complete": False, "error": str(exc)}


def _quix(no_install: bool) -> str | None:
    if quix_ready():
        return None
    if no_install:
        return "benchmarks/.venv-quix is not set up (--no-quix-install)"
    say("creating benchmarks/.venv-quix (Quix Streams from PyPI), once...")
    WORK.mkdir(parents=True, exist_ok=True)
    return ensure_quix_venv(WORK / "quix-venv.log")


def _kstreams(no_build: bool) -> str | None:
    if not no_build and kstreams.classpath() is None:
        say("building benchmarks/kstreams with Maven (Kafka Streams from Maven Central), once...")
    return kstreams.ensure_built(WORK / "kstreams-build.log", build=not no_build)


if __name__ == "__main__":
    sys.exit(main())
