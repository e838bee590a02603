"""`cashback run --runtime faust`: the faust composition root.

The same start as the default runtime (rule files, /metrics /healthz /readyz, the rules
topic read to its end before ready, through `startup`), then a faust app with one agent
(`agent.PricingAgent`) instead of the confluent-kafka loop. Exit codes as bootstrap's.

Stopping (SIGTERM/SIGINT or `stop`): the input partitions are paused, the batch in hand
and what faust already fetched are written and acked, then faust stops, which commits
the acked offsets (in exactly once: each partition's transaction) and leaves the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any, Final, cast

import faust
from confluent_kafka import KafkaException
from prometheus_client import CollectorRegistry

from cashback.domain.catalog import Catalog
from cashback.domain.native_engine import EngineMode, NativeEngine, make_engine
from cashback.runtime import logs
from cashback.runtime.batch import Routes
from cashback.runtime.between_batches import RuleUpdates, swap_rules
from cashback.runtime.clients import admin_config
from cashback.runtime.faust_runtime.agent import PricingAgent
from cashback.runtime.faust_runtime.copartition import copartition_problem, partition_counts
from cashback.runtime.faust_runtime.options import app_settings, refusals
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

TURN_SECONDS: Final = 0.1
DRAIN_TIMEOUT_SECONDS: Final = 10.0


class _EmbeddedWorker(faust.Worker):
    """faust's worker without its own signal handlers and terminal output: `stop` is ours."""

    def install_signal_handlers(self) -> None:
        """Signals set the runner's `stop` (startup.stop_on_signals)."""


def run(
    settings: Settings,
    *,
    stop: threading.Event | None = None,
    registry: CollectorRegistry | None = None,
    on_listening: Callable[[int], None] | None = None,
) -> int:
    """Run the faust runtime until `stop` is set (or SIGTERM/SIGINT in the main thread)."""
    logs.configure(settings.log_level)
    _route_client_logs()
    log = logs.get("worker")
    stop = stop or threading.Event()
    stop_on_signals(stop, log)
    log.info("starting", extra=fields(settings=settings.describe(), runtime="faust"))
    problems = refusals(settings)
    if problems:
        log.error("settings the faust runtime cannot honour", extra=fields(problems=problems))
        return EXIT_CONFIG
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
    engine = make_engine(catalog, settings.max_event_bytes, cast(EngineMode, settings.engine))
    metrics.show_catalog(catalog)
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
        log.info(
            "pricing engine",
            extra=fields(engine="native" if isinstance(engine, NativeEngine) else "python"),
        )
        if settings.exactly_once:
            outputs = (settings.accruals_topic, settings.notifications_topic, settings.dlq_topic)
            try:
                counts = partition_counts(
                    admin_config(settings), [*settings.input_topics, *outputs]
                )
            except KafkaException as exc:
                log.error("cannot read the topics' partition counts", extra=fields(error=str(exc)))
                return EXIT_KAFKA
            problem = copartition_problem(settings.input_topics, outputs, counts)
            if problem is not None:
                log.error("refusing to start: %s", problem, extra=fields(partitions=counts))
                return EXIT_CONFIG
        datadir = tempfile.mkdtemp(prefix="cashback-faust-")
        cleanup.callback(shutil.rmtree, datadir, True)
        app = faust.App(**app_settings(settings, datadir))
        topic = app.topic(
            *settings.input_topics,
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            allow_empty=True,
        )
        agent = PricingAgent(
            engine=engine,
            routes=Routes(
                settings.accruals_topic, settings.notifications_topic, settings.dlq_topic
            ),
            metrics=metrics,
            log=log,
            batch_size=settings.batch_size,
            within_seconds=settings.commit_interval_ms / 1000,
            exactly_once=settings.exactly_once,
            on_failure=_exit_at_once,
        )
        agent.mount(app, topic)
        return asyncio.run(
            _run_app(
                app, agent=agent, feed=feed, health=health, metrics=metrics, stop=stop, log=log
            )
        )


async def _run_app(
    app: Any,
    *,
    agent: PricingAgent,
    feed: RuleUpdates | None,
    health: Health,
    metrics: Metrics,
    stop: threading.Event,
    log: logging.Logger,
) -> int:
    worker = _EmbeddedWorker(
        app,
        loop=asyncio.get_running_loop(),
        quiet=True,
        override_logging=False,
        redirect_stdouts=False,
        loglevel=None,
        daemon=False,  # start() returns once started; this loop is the runner's
    )
    worker.spinner = None
    # faust's start waits for the first assignment (a slow rebalance, a broker away):
    # a stop in the meantime must still end the process.
    starting = asyncio.ensure_future(worker.start())
    while not starting.done():
        health.beat()
        if stop.is_set():
            log.info("stopping before faust finished starting")
            starting.cancel()
            await worker.stop()
            return EXIT_OK
        await asyncio.wait({starting}, timeout=TURN_SECONDS)
    problem = starting.exception()
    if problem is not None:  # e.g. no broker answers: faust does not wait for one
        log.error("stopping: faust could not start", extra=fields(error=repr(problem)))
        await worker.stop()
        return EXIT_KAFKA
    with ready(health, metrics):
        log.info("consuming", extra=fields(topics=agent.topics))
        while not stop.is_set():
            if worker.crashed or app.crashed:
                reason = worker.crash_reason or app.crash_reason
                log.error("stopping: faust crashed", extra=fields(error=repr(reason)))
                # Not faust's stop: it would ack the batch in hand, written or not.
                _exit_at_once(repr(reason))
            swap_rules(agent.engine, feed, log)
            health.beat()
            await asyncio.sleep(TURN_SECONDS)
        log.info("stopping: finishing the batch in hand, leaving the group")
        await _drain(app, agent, health)
        await worker.stop()
    log.info("stopped")
    return EXIT_OK


async def _drain(app: Any, agent: PricingAgent, health: Health) -> None:
    """Pause fetching, then wait until the agent has written what faust already fetched:
    faust acks a batch when the agent leaves it, so nothing half-written may be left."""
    with contextlib.suppress(Exception):
        app.consumer.pause_partitions(app.consumer.assignment())
    began = time.monotonic()
    quiet_for = agent.within_seconds + 0.3
    while time.monotonic() < began + DRAIN_TIMEOUT_SECONDS:
        health.beat()
        since = time.monotonic() - max(began, agent.last_activity)
        if not agent.busy and since > quiet_for:
            return
        await asyncio.sleep(0.05)


def _route_client_logs() -> None:
    """faust's, mode's and aiokafka's warnings and errors as the worker's JSON lines (they
    log and swallow most transaction errors: the log is where those show)."""
    handlers = logging.getLogger(logs.ROOT).handlers
    for name in ("faust", "mode", "aiokafka"):
        client = logging.getLogger(name)
        client.handlers[:] = list(handlers)
        client.setLevel(logging.WARNING)
        client.propagate = False
    # "Timer commit is overlapping": a commit round longer than the commit interval, on
    # every busy second; not a fault.
    logging.getLogger("mode.timers").setLevel(logging.ERROR)


def _exit_at_once(_error: str) -> None:
    """A batch that cannot be written must not be acked, and stopping faust would ack
    it: end the process now; the orchestrator restarts it from the committed offsets."""
    logging.shutdown()
    os._exit(EXIT_KAFKA)
