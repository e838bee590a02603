"""The one composition root: settings in, clients, metrics, HTTP and the loop wired, run.

`run(settings)` is what `cashback run` calls; the demo and benchmarks can call it too,
in a thread with their own `stop` event:

    stop = threading.Event()
    thread = threading.Thread(target=run, args=(settings,), kwargs={"stop": stop})
    thread.start(); ...; stop.set(); thread.join()

Exit codes: 0 stopped on request, 1 a Kafka client failed for good (fenced, fatal),
2 bad configuration or rule files.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
from collections.abc import Callable
from typing import Any, cast

from confluent_kafka import Consumer, KafkaException, Producer
from prometheus_client import CollectorRegistry

from cashback.domain.catalog import Catalog
from cashback.domain.native_engine import EngineMode, NativeEngine, make_engine
from cashback.runtime import logs
from cashback.runtime.alo import AtLeastOnceDelivery
from cashback.runtime.authorization import NotAuthorizedError, explain, preflight
from cashback.runtime.batch import Routes
from cashback.runtime.clients import (
    FatalKafkaError,
    consumer_config,
    consumer_lags,
    offset_reset_policy,
    probe_config,
    producer_config,
)
from cashback.runtime.delivery import Delivery
from cashback.runtime.eos import TransactionalDelivery
from cashback.runtime.held_offsets import HeldOffsets
from cashback.runtime.http import Health
from cashback.runtime.logs import fields
from cashback.runtime.metrics import Metrics
from cashback.runtime.settings import Settings
from cashback.runtime.startup import (
    EXIT_CONFIG,
    EXIT_KAFKA,
    EXIT_OK,
    file_catalog,
    open_rules_feed,
    ready,
    start_http,
    stop_on_signals,
)
from cashback.runtime.worker import ClientErrors, Worker

__all__ = ["EXIT_CONFIG", "EXIT_KAFKA", "EXIT_OK", "run"]


def run(
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    registry: CollectorRegistry | None = None,
    on_listening: Callable[[int], None] | None = None,
) -> int:
    """Run the worker until `stop` is set (or SIGTERM/SIGINT in the main thread)."""
    logs.configure(settings.log_level)
    log = logs.get("worker")
    stop = stop or threading.Event()
    stop_on_signals(stop, log)
    log.info("starting", extra=fields(settings=settings.describe()))
    catalog = file_catalog(settings, log)
    if catalog is None:
        return EXIT_CONFIG
    registry = registry or CollectorRegistry()
    metrics = Metrics(registry, guarantee=settings.processing_guarantee)
    health = Health(settings.liveness_seconds)
    server = start_http(settings, registry, health, log, on_listening)
    if server is None:
        return EXIT_CONFIG
    try:
        return _serve(settings, catalog=catalog, metrics=metrics, health=health, stop=stop, log=log)
    except KafkaException as exc:
        # Raised before the loop runs: a client refused its configuration.
        log.error("Kafka client setup failed", extra=fields(error=str(exc.args[0])))
        return EXIT_CONFIG
    finally:
        server.close()


def _serve(
    settings: Settings,
    *,
    catalog: Catalog,
    metrics: Metrics,
    health: Health,
    stop: threading.Event,
    log: logging.Logger,
) -> int:
    kafka_log = logs.get("kafka")
    errors = ClientErrors(metrics, kafka_log)
    engine = make_engine(catalog, settings.max_event_bytes, cast(EngineMode, settings.engine))
    metrics.show_catalog(catalog)
    try:
        if not preflight(settings, stop=stop, beat=health.beat, log=log):
            return EXIT_OK
    except NotAuthorizedError as exc:
        log.error("stopping: %s", exc, extra=fields(error=str(exc)))
        return EXIT_CONFIG
    with contextlib.ExitStack() as cleanup:
        go_on, feed = open_rules_feed(
            settings,
            engine=engine,
            metrics=metrics,
            health=health,
            stop=stop,
            cleanup=cleanup,
            log=log,
        )
        if not go_on:
            return EXIT_OK
        problem = getattr(engine, "native_error", None)
        log.info(
            "pricing engine",
            extra=fields(engine="native" if isinstance(engine, NativeEngine) else "python"),
        )
        if problem:
            log.warning(
                "the native engine refused the catalog; the Python engine prices it",
                extra=fields(error=problem),
            )
        if not engine.catalog.all():
            log.warning("no rule sets loaded: every purchase is not eligible until one arrives")

        def on_stats(statistics: str) -> None:
            metrics.show_consumer_lag(consumer_lags(statistics))

        consumer = Consumer(
            consumer_config(settings, log=kafka_log, on_error=errors, on_stats=on_stats)
        )
        cleanup.callback(_quietly, consumer.close, log)

        def make_producer() -> Any:
            return Producer(producer_config(settings, log=kafka_log, on_error=errors))

        def make_probe(stable: bool) -> Any:
            return Consumer(probe_config(settings, stable=stable, log=kafka_log, on_error=errors))

        held = HeldOffsets(make_probe, metrics, log)
        cleanup.callback(held.close)
        delivery = _delivery(settings, make_producer, consumer, metrics, log)
        cleanup.callback(_quietly, delivery.close, log)
        worker = Worker(
            consumer=consumer,
            delivery=delivery,
            engine=engine,
            routes=Routes(
                settings.accruals_topic, settings.notifications_topic, settings.dlq_topic
            ),
            metrics=metrics,
            health=health,
            errors=errors,
            log=log,
            rules_feed=feed,
            batch_size=settings.batch_size,
            poll_seconds=settings.commit_interval_ms / 1000,
            offset_reset=offset_reset_policy(settings),
            held=held,
        )
        try:
            delivery.start(stop)
            consumer.subscribe(
                list(settings.input_topics),
                on_assign=worker.on_assign,
                on_revoke=worker.on_revoke,
                on_lost=worker.on_lost,
            )
            # What is built by now (modules, clients, the catalog) lives as long as the
            # process: frozen, the cyclic collector stops re-scanning it on every batch.
            gc.freeze()
            with ready(health, metrics):
                log.info("consuming", extra=fields(topics=list(settings.input_topics)))
                worker.run(stop)
        except (FatalKafkaError, KafkaException) as exc:
            reason = str(exc.args[0]) if isinstance(exc, KafkaException) else str(exc)
            cause = exc if isinstance(exc, KafkaException) else exc.__cause__
            if isinstance(cause, KafkaException):
                reason = explain(settings, cause.args[0]) or reason
            log.error("stopping: %s", reason, extra=fields(error=reason))
            return EXIT_KAFKA
        log.info("stopping: finished the batch in hand, leaving the group")
    log.info("stopped")
    return EXIT_OK


def _delivery(
    settings: Settings,
    make_producer: Callable[[], Any],
    consumer: Any,
    metrics: Metrics,
    log: logging.Logger,
) -> Delivery:
    if settings.exactly_once:
        # A factory, not a producer: a wedged transactional producer is replaced.
        return TransactionalDelivery(
            make_producer, consumer, metrics, log, transactional_id=settings.transactional_id
        )
    return AtLeastOnceDelivery(make_producer(), consumer, metrics, log)


def _quietly(close: Callable[[], object], log: logging.Logger) -> None:
    """Shutdown goes on when one client fails to close; the failure is logged."""
    try:
        close()
    except (KafkaException, FatalKafkaError, RuntimeError) as exc:
        log.warning("close failed", extra=fields(error=str(exc)))
