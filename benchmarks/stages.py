"""Where an event's microseconds go: the worker's steps, timed one by one on a real broker.

    python -m benchmarks.stages [--events 40000] [--repeats 3] [--paths a,b] [--bootstrap H:P]

Every path reads the same preloaded topic (the `make bench` workload: sample stream,
4 partitions, no headers) on a fresh consumer group into fresh output topics, with the
worker's own client configs, batch size and exactly-once delivery
(`eos.TransactionalDelivery`, one transaction per batch), and times each step of every
batch on the loop's thread (wall clock and that thread's CPU):

- `consume`: `Worker.poll` (librdkafka hands over the fetched records);
- `batch step`: records in, produce requests and counts out (`runtime.batch.price_batch`);
- `produce`: `delivery.produce_all`, one `Producer.produce` per output;
- `transaction`: the rest of `TransactionalDelivery.write` (begin, position,
  send_offsets_to_transaction, commit_transaction, each on its helper thread);
- `metrics`: `between_batches.report_batch` (Prometheus, once per batch).

Plus the process's CPU (every thread: librdkafka's sending and fetching) per event.
Paths, all interleaved within each repeat so machine noise hits them alike:

- `passthrough-eos`: no batch step; each input produced to two topics as is (the bare
  exactly-once loop of benchmarks/passthrough.py, through the same delivery code);
- `per-event`: the batch step calling the engine once per record and building a Python
  object per event and per output (the path before the native batch call);
- `batch`: the batch step as the worker runs it (`engine.price_batch`: one native call
  per batch, pricing with the GIL released on up to 2 threads);
- `batch-1-thread`: the same on the loop's thread only.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from prometheus_client import CollectorRegistry

from benchmarks.workload import PARTITIONS, RULES, events, preload
from cashback.devtools.local_kafka import start_broker
from cashback.domain.native_engine import make_engine
from cashback.rulefiles import load_catalog
from cashback.runtime import batch, eos
from cashback.runtime.between_batches import report_batch
from cashback.runtime.clients import consumer_config, producer_config
from cashback.runtime.delivery import produce_all
from cashback.runtime.metrics import Metrics
from cashback.runtime.settings import EXACTLY_ONCE, Settings
from cashback.runtime.topics import TopicSpec, create_topics

STEPS = ("consume", "batch step", "produce", "transaction", "metrics")
PriceStep = Callable[[Any, Sequence[Any], batch.Routes], batch.PricedBatch]


def _passthrough(_engine: Any, records: Sequence[Any], routes: batch.Routes) -> batch.PricedBatch:
    requests = []
    for message in records:
        key, value, headers = message.key(), message.value(), message.headers()
        requests.append(batch.ProduceRequest(routes.accruals, key, value, headers or []))
        requests.append(batch.ProduceRequest(routes.notifications, key, value, headers or []))
    return batch.PricedBatch(requests, batch.BatchStats(events=len(records)))


def paths() -> dict[str, PriceStep | None]:
    found: dict[str, PriceStep | None] = {"passthrough-eos": None}
    per_event = getattr(batch, "price_batch_per_event", None)
    found["per-event"] = per_event or batch.price_batch
    if per_event is not None:
        found["batch"] = batch.price_batch
        found["batch-1-thread"] = _one_thread
    return found


def _one_thread(engine: Any, records: Sequence[Any], routes: batch.Routes) -> batch.PricedBatch:
    engine.pricing_threads = 1  # the loop's thread only
    return batch.price_batch(engine, records, routes)


class Timed:
    """`produce_all` as the delivery calls it, with its wall and CPU time summed."""

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0

    def __call__(self, producer: Any, requests: Sequence[Any], *args: Any) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        produce_all(producer, requests, *args)
        self.wall += time.perf_counter() - wall
        self.cpu += time.thread_time() - cpu


def run_path(
    bootstrap: str, source: str, count: int, name: str, price: PriceStep | None
) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    outputs = {role: f"stages-{tag}-{role}" for role in ("accruals", "notifications", "dlq")}
    create_topics(
        {"bootstrap.servers": bootstrap},
        [TopicSpec(topic, PARTITIONS) for topic in outputs.values()],
    )
    routes = batch.Routes(outputs["accruals"], outputs["notifications"], outputs["dlq"])
    settings = Settings(
        bootstrap_servers=bootstrap,
        input_topics=(source,),
        group_id=f"stages-{tag}",
        processing_guarantee=EXACTLY_ONCE,
        transactional_id=f"stages-{tag}",
    )
    log = logging.getLogger("stages")
    metrics = Metrics(CollectorRegistry())
    consumer = Consumer(
        consumer_config(settings, log=log, on_error=lambda _e: None, on_stats=lambda _s: None)
    )
    config = producer_config(settings, log=log, on_error=lambda _e: None)
    delivery = eos.TransactionalDelivery(
        lambda: Producer(config), consumer, metrics, log, transactional_id=settings.transactional_id
    )
    engine = make_engine(load_catalog([RULES]), mode="native")
    timed = Timed()
    eos.produce_all = timed  # type: ignore[assignment]
    walls = dict.fromkeys(STEPS, 0.0)
    cpus = dict.fromkeys(STEPS, 0.0)
    try:
        delivery.start(threading.Event())
        consumer.subscribe([source])
        first: list[Any] = []
        while not first:  # the group join is not part of any event's time
            first = [m for m in consumer.consume(settings.batch_size, 1.0) if m.error() is None]
        done = 0
        started, process = time.perf_counter(), _process_cpu()
        records: list[Any] = first
        while True:
            if records:
                marks = [(time.perf_counter(), time.thread_time())]
                priced = (price or _passthrough)(engine, records, routes)
                marks.append((time.perf_counter(), time.thread_time()))
                before = (timed.wall, timed.cpu)
                delivery.write(priced.requests)
                marks.append((time.perf_counter(), time.thread_time()))
                report_batch(metrics, log, priced.stats, marks[-1][0] - marks[0][0])
                marks.append((time.perf_counter(), time.thread_time()))
                produce = (timed.wall - before[0], timed.cpu - before[1])
                _add(walls, cpus, "batch step", marks[0], marks[1])
                walls["produce"] += produce[0]
                cpus["produce"] += produce[1]
                walls["transaction"] += marks[2][0] - marks[1][0] - produce[0]
                cpus["transaction"] += marks[2][1] - marks[1][1] - produce[1]
                _add(walls, cpus, "metrics", marks[2], marks[3])
                done += len(records)
            if done >= count:
                break
            mark = (time.perf_counter(), time.thread_time())
            records = [m for m in consumer.consume(settings.batch_size, 0.1) if m.error() is None]
            _add(walls, cpus, "consume", mark, (time.perf_counter(), time.thread_time()))
        seconds, process = time.perf_counter() - started, _process_cpu() - process
    finally:
        eos.produce_all = produce_all
        delivery.close()
        consumer.close()
    per_event = 1e6 / done
    return {
        "path": name,
        "events": done,
        "events_per_s": done / seconds,
        "wall_us": {step: walls[step] * per_event for step in STEPS},
        "cpu_us": {step: cpus[step] * per_event for step in STEPS},
        "loop_us": seconds * per_event,
        "process_cpu_us": process * per_event,
    }


def _add(
    walls: dict[str, float],
    cpus: dict[str, float],
    step: str,
    start: tuple[float, float],
    end: tuple[float, float],
) -> None:
    walls[step] += end[0] - start[0]
    cpus[step] += end[1] - start[1]


def _process_cpu() -> float:
    times = os.times()
    return times.user + times.system


@contextlib.contextmanager
def _broker(bootstrap: str) -> Iterator[str]:
    if bootstrap:
        yield bootstrap
        return
    with tempfile.TemporaryDirectory(prefix="stages-kafka-") as workdir:
        local = start_broker(Path(workdir))
        try:
            yield local.bootstrap
        finally:
            local.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--paths", help="comma-separated, of: " + ", ".join(paths()))
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", ""))
    args = parser.parse_args()
    chosen = {n: p for n, p in paths().items() if not args.paths or n in args.paths.split(",")}
    logging.basicConfig(level=logging.WARNING)
    load = os.getloadavg()
    with _broker(args.bootstrap) as bootstrap:
        source = f"stages-input-{uuid.uuid4().hex[:8]}"
        create_topics({"bootstrap.servers": bootstrap}, [TopicSpec(source, PARTITIONS)])
        preload(bootstrap, source, events(args.events))
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
        for _ in range(args.repeats):
            for name, price in chosen.items():
                rows[name].append(run_path(bootstrap, source, args.events, name, price))
    print(f"{args.events} events x {args.repeats} repeats, load average {load} before,"
          f" {os.getloadavg()} after; medians (min-max) of us per event")  # fmt: skip
    print("| step | " + " | ".join(f"{n} wall | {n} CPU" for n in chosen) + " |")
    print("|---|" + "---|---|" * len(chosen))
    for step in STEPS:
        cells = []
        for name in chosen:
            for kind in ("wall_us", "cpu_us"):
                cells.append(_spread([r[kind][step] for r in rows[name]]))
        print(f"| {step} | " + " | ".join(cells) + " |")
    for label, key in (("loop (wall)", "loop_us"), ("process CPU", "process_cpu_us")):
        cells = [_spread([r[key] for r in rows[name]]) + " | " for name in chosen]
        print(f"| {label} | " + " | ".join(cells) + " |")
    for name in chosen:
        rates = [r["events_per_s"] for r in rows[name]]
        print(f"{name}: {_spread(rates, 0)} events/s")


def _spread(values: list[float], digits: int = 2) -> str:
    ordered = sorted(values)
    mid = statistics.median(ordered)
    if len(ordered) == 1:
        return f"{mid:,.{digits}f}"
    return f"{mid:,.{digits}f} ({ordered[0]:,.{digits}f}-{ordered[-1]:,.{digits}f})"


if __name__ == "__main__":
    main()
