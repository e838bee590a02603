"""The ceiling: a minimal confluent-kafka loop that copies each input to two topics unparsed.

What it does, with the worker's own client settings (`cashback.runtime.clients`
consumer and producer configs for the same `Settings`, so any tuning there applies here
too) and the worker's batching (up to `batch_size` records already fetched, else wait up
to `commit_interval_ms` for the next one):

- `--mode alo` (the `passthrough` run): produce every input record twice, key, value and
  headers untouched, once to each output topic; `flush()` until every record is
  acknowledged; then commit the consumer's positions synchronously. This is the
  at-least-once shape of `cashback.runtime.alo` without decoding, pricing or metrics.
- `--mode eos` (the `passthrough-eos` run): the same records in one transaction per batch
  with the positions sent through it, the shape of `cashback.runtime.eos`.

No error recovery beyond what a benchmark needs: any Kafka error ends the process (exit 1).
SIGTERM/SIGINT finish the batch in hand and exit 0.

    python -m benchmarks.passthrough --bootstrap HOST:PORT --input T --outputs A,B \
        --group G [--mode alo|eos]
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import uuid
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer

from cashback.runtime.clients import consumer_config, offset_reset_policy, producer_config
from cashback.runtime.settings import AT_LEAST_ONCE, EXACTLY_ONCE, Settings

TIMEOUT_SECONDS = 30.0


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmarks.passthrough", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--outputs", required=True, help="two comma-separated topics")
    parser.add_argument("--group", required=True)
    parser.add_argument("--mode", choices=("alo", "eos"), default="alo")
    return parser.parse_args(argv)


def _produce(producer: Any, topic: str, message: Any) -> None:
    while True:
        try:
            producer.produce(topic, message.value(), message.key(), headers=message.headers())
            return
        except BufferError:
            producer.poll(0.1)


def run(args: argparse.Namespace, stop: threading.Event) -> None:
    outputs = [name for name in args.outputs.split(",") if name]
    eos = args.mode == "eos"
    settings = Settings(
        bootstrap_servers=args.bootstrap,
        input_topics=(args.input,),
        group_id=args.group,
        processing_guarantee=EXACTLY_ONCE if eos else AT_LEAST_ONCE,
        transactional_id=f"passthrough-{args.group}-{uuid.uuid4().hex[:8]}",
    )
    log = logging.getLogger("passthrough")
    config = consumer_config(settings, log=log, on_error=_on_error, on_stats=lambda _stats: None)
    # The bare loop lets librdkafka pick a start offset itself (the worker decides its own).
    config["auto.offset.reset"] = offset_reset_policy(settings)
    consumer = Consumer(config)
    producer = Producer(producer_config(settings, log=log, on_error=_on_error))
    batch_size, wait = settings.batch_size, settings.commit_interval_ms / 1000
    if eos:
        producer.init_transactions(TIMEOUT_SECONDS)
    consumer.subscribe([args.input])
    try:
        while not stop.is_set():
            messages = consumer.consume(batch_size, 0) or consumer.consume(1, wait)
            records = [m for m in messages if m.error() is None]
            if not records:
                continue
            if eos:
                producer.begin_transaction()
            for message in records:
                for topic in outputs:
                    _produce(producer, topic, message)
            positions = consumer.position(consumer.assignment())
            if eos:
                group = consumer.consumer_group_metadata()
                producer.send_offsets_to_transaction(positions, group, TIMEOUT_SECONDS)
                producer.commit_transaction(TIMEOUT_SECONDS)
            else:
                if producer.flush(TIMEOUT_SECONDS):
                    raise RuntimeError("records not acknowledged in time")
                committed = [tp for tp in positions if tp.offset >= 0]
                if committed:
                    consumer.commit(offsets=committed, asynchronous=False)
    finally:
        producer.flush(TIMEOUT_SECONDS)
        consumer.close()


def _on_error(error: Any) -> None:
    print(f"passthrough: Kafka client error: {error}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    try:
        run(args, stop)
    except (KafkaException, RuntimeError) as exc:
        print(f"passthrough failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
