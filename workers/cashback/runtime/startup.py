"""What every runtime does around its loop: exit codes, rule files, the HTTP endpoints,
readiness and the stop signals. `bootstrap` (confluent-kafka) and `faust_runtime.runner`
(faust-streaming) both start this way, so the two cannot drift apart."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Final

from confluent_kafka import Consumer
from prometheus_client import CollectorRegistry

from cashback.domain.catalog import Catalog
from cashback.domain.native_engine import Pricer
from cashback.rulefiles import RuleSetFilesError, load_catalog
from cashback.runtime import logs
from cashback.runtime.clients import rules_consumer_config
from cashback.runtime.http import Health, HealthServer
from cashback.runtime.logs import fields
from cashback.runtime.metrics import Metrics
from cashback.runtime.rules_feed import RulesFeed
from cashback.runtime.rules_swap import BackgroundRules
from cashback.runtime.settings import Settings
from cashback.runtime.worker import ClientErrors

EXIT_OK: Final = 0
EXIT_KAFKA: Final = 1
EXIT_CONFIG: Final = 2


def file_catalog(settings: Settings, log: logging.Logger) -> Catalog | None:
    """The rule set files' catalog (empty without --rules); None if a file is refused."""
    try:
        return load_catalog(settings.rules) if settings.rules else Catalog()
    except RuleSetFilesError as exc:
        log.error("rule files refused", extra=fields(problems=[str(p) for p in exc.problems]))
        return None


def start_http(
    settings: Settings,
    registry: CollectorRegistry,
    health: Health,
    log: logging.Logger,
    on_listening: Callable[[int], None] | None,
) -> HealthServer | None:
    """/metrics, /healthz and /readyz listening (logged with the port); None if it cannot."""
    try:
        server = HealthServer(settings.metrics_host, settings.metrics_port, registry, health)
    except OSError as exc:
        log.error("cannot listen for /metrics", extra=fields(error=str(exc)))
        return None
    server.start()
    log.info("metrics server listening", extra=fields(port=server.port))
    if on_listening is not None:
        on_listening(server.port)
    return server


@contextlib.contextmanager
def ready(health: Health, metrics: Metrics) -> Iterator[None]:
    health.set_ready(True)
    metrics.set_ready(True)
    try:
        yield
    finally:
        health.set_ready(False)
        metrics.set_ready(False)


def stop_on_signals(stop: threading.Event, log: logging.Logger) -> None:
    """SIGTERM/SIGINT set `stop` (main thread only); the loop then finishes its batch."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handle(signum: int, _frame: object) -> None:
        if not stop.is_set():
            log.info(
                "signal received; finishing the batch in hand",
                extra=fields(signal=signal.Signals(signum).name),
            )
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def open_rules_feed(
    settings: Settings,
    *,
    engine: Pricer,
    metrics: Metrics,
    health: Health,
    stop: threading.Event,
    cleanup: contextlib.ExitStack,
    log: logging.Logger,
) -> tuple[bool, BackgroundRules | None]:
    """Read the rules topic to its end into `engine` (both runtimes use this one reader:
    an assigned consumer, no group, so every instance sees every version).

    Returns (go on, the live updates, read and compiled off the loop); (False, None) when
    stopped first, and (True, None) without a rules topic. The feed is closed by `cleanup`.
    """
    if not settings.rules_topic:
        return True, None
    kafka_log = logs.get("kafka")
    errors = ClientErrors(metrics, kafka_log)
    consumer = Consumer(rules_consumer_config(settings, log=kafka_log, on_error=errors))
    feed = RulesFeed(consumer, settings.rules_topic, metrics, logs.get("rules"))
    cleanup.callback(_quietly, feed.close, log)
    loaded = feed.catch_up(engine.catalog, stop=stop, beat=health.beat)
    if loaded is None:
        return False, None
    engine.catalog = loaded
    metrics.show_catalog(loaded)
    # From here the feed is read, and new versions compiled, on a thread of its own; the
    # loop only swaps a prepared catalog in between batches.
    updates = BackgroundRules(feed, engine, logs.get("rules"), on_swap=metrics.show_catalog)
    updates.start()
    cleanup.callback(updates.close)  # before feed.close: callbacks run last first
    return True, updates


def _quietly(close: Callable[[], object], log: logging.Logger) -> None:
    """Shutdown goes on when one client fails to close; the failure is logged."""
    try:
        close()
    except Exception as exc:  # a client failing to close must not hide the exit code
        log.warning("close failed", extra=fields(error=str(exc)))
