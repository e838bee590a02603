"""Exactly once: each batch's outputs, dead letters and input offsets in one transaction.

Why the offsets go through the transaction: a read_committed reader sees the outputs
exactly when the group's committed position moves past their inputs, so a crash at any
point either shows both (the batch is done) or neither (the next owner reprocesses it
and the aborted attempt stays invisible). The offsets carry the consumer's group
metadata (KIP-447): a zombie that lost its partitions in a rebalance cannot commit them,
whatever its transactional.id.

How a failed call is read (librdkafka's transactional API, see docs/reliability.md):

- retriable (a timeout, the coordinator moving or away): the call is repeated as is;
  `commit_transaction` after a timeout resumes the commit already under way;
- abortable (`txn_requires_abort`): abort, and the loop reads the batch again;
- fatal, or a transaction that has not finished within `wedged_seconds`: this producer
  is given up and a new one takes the same transactional.id. Its `init_transactions`
  fences the old epoch and makes the coordinator finish the old transaction one way or
  the other, so the committed offsets read afterwards say exactly what is done;
- fenced (another live instance has our transactional.id): exit, never fight it.

No call blocks longer than `slice_seconds`, so SIGTERM is seen within one slice: the
batch in hand then gets until `stop_seconds` after the signal to commit; if it cannot,
the worker exits non-zero saying so (the transaction is aborted, or left to the
coordinator's timeout: never visible, the next owner reads those inputs again).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from confluent_kafka import KafkaException

from cashback.runtime.batch import Request
from cashback.runtime.clients import FatalKafkaError, is_fenced
from cashback.runtime.delivery import RetryBatch, produce_all
from cashback.runtime.logs import fields
from cashback.runtime.metrics import ABORTED, COMMITTED, Metrics

SLICE_SECONDS: Final = 2.0
WEDGED_SECONDS: Final = 20.0
STOP_SECONDS: Final = 15.0
BLOCKED_MARGIN_SECONDS: Final = 5.0
BACKOFF_SECONDS: Final = 0.2
RECREATED: Final = "recreated"


class StopBeforeCommitError(FatalKafkaError):
    """Asked to stop, and the batch in hand could not be committed within the grace."""


def _bounded(what: str, operation: Callable[[float], None], timeout: float) -> None:
    """Run one transactional call on a helper thread and wait at most `timeout` plus a
    margin for it. librdkafka's send_offsets_to_transaction can block past its own
    timeout, forever, when the group coordinator goes away mid-call (librdkafka #5456,
    #5511): the loop must not sit in C code where no signal handler can run."""
    done = threading.Event()
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            operation(timeout)
        except BaseException as exc:  # handed to the loop's thread as is
            outcome.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name=f"txn-{what}", daemon=True).start()
    if not done.wait(timeout + BLOCKED_MARGIN_SECONDS):
        raise _BlockedError(f"{what} blocked past its {timeout:.0f}s timeout")
    if outcome:
        raise outcome[0]


class _GiveUp(Exception):  # noqa: N818 - control flow inside this module only
    """The transaction did not finish in time (wedged, or asked to stop)."""


class _BlockedError(_GiveUp):
    """A call never returned: its producer is stuck on a helper thread for good."""


class TransactionalDelivery:
    def __init__(
        self,
        make_producer: Callable[[], Any],
        consumer: Any,
        metrics: Metrics,
        log: logging.Logger,
        *,
        transactional_id: str,
        slice_seconds: float = SLICE_SECONDS,
        wedged_seconds: float = WEDGED_SECONDS,
        stop_seconds: float = STOP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make_producer = make_producer
        self._producer = make_producer()
        self._consumer = consumer
        self._metrics = metrics
        self._log = log
        self._transactional_id = transactional_id
        self._slice = slice_seconds
        self._wedged = wedged_seconds
        self._stop_seconds = stop_seconds
        self._clock = clock
        self._stop = threading.Event()
        self._stop_seen: float | None = None
        self._open = False
        self._retired: list[Any] = []  # producers stuck in a call that never returned

    # ---------------------------------------------------------------------- lifecycle

    def start(self, stop: threading.Event) -> None:
        """Register the transactional.id; this also aborts what a crashed predecessor with
        the same id left open, so its partitions' readers are not blocked until timeout."""
        self._stop = stop
        self._init_transactions(deadline=None)

    def write(self, requests: Sequence[Request]) -> Sequence[Any]:
        deadline = self._clock() + self._wedged
        try:
            self._begin()
            self._produce(requests)
            # The position is the next offset to read: everything handed to us is in here.
            positions = self._consumer.position(self._consumer.assignment())
            group = self._consumer.consumer_group_metadata()
            self._call(
                "send_offsets_to_transaction",
                lambda t: self._producer.send_offsets_to_transaction(positions, group, t),
                deadline,
            )
            self._call("commit_transaction", self._producer.commit_transaction, deadline)
        except _GiveUp as exc:
            self._replace_producer(str(exc), blocked=isinstance(exc, _BlockedError))
            self._raise_if_stopping(str(exc))
            raise RetryBatch(RECREATED, settled=False) from exc
        self._open = False
        self._metrics.count_transaction(COMMITTED)
        self._metrics.show_committed(positions)
        return positions  # type: ignore[no-any-return]

    def abandon(self) -> None:
        # The loop never polls inside a transaction, so this is only a safety net. It runs
        # inside librdkafka's rebalance callback: report, do not raise through it.
        if self._open:
            try:
                self._abort(self._clock() + self._slice * 2)
            except (FatalKafkaError, _GiveUp) as exc:
                self._log.error("abort on revoke failed", extra=fields(error=str(exc)))

    def close(self) -> None:
        self.abandon()
        # After a commit nothing is queued; after a failure, what is queued belongs to an
        # aborted transaction: do not wait for a broker that may be gone.
        try:
            _bounded("flush", self._purge_and_flush, self._slice)
        except _GiveUp as exc:
            self._log.warning("producer close unfinished", extra=fields(reason=str(exc)))

    def _purge_and_flush(self, timeout: float) -> None:
        self._producer.purge()
        self._producer.flush(timeout)

    # --------------------------------------------------------------------- the steps

    def _begin(self) -> None:
        try:
            self._producer.begin_transaction()
        except KafkaException as exc:
            self._fail(exc.args[0], exc)
        self._open = True

    def _produce(self, requests: Sequence[Request]) -> None:
        try:
            produce_all(self._producer, requests)
        except KafkaException as exc:
            # Refused before it left (an unknown topic, a record too large): the record,
            # not the transaction, is at fault. Drop the attempt and try the batch again.
            error = exc.args[0]
            if error.fatal() or is_fenced(error):
                self._fail(error, exc)
            self._abort(self._clock() + self._wedged)
            raise RetryBatch(error.name()) from exc

    def _call(self, what: str, operation: Callable[[float], None], deadline: float) -> None:
        """One transactional call in slices: repeated while the client says it may be,
        until it succeeds, the transaction must be aborted, or time is up."""
        while True:
            try:
                _bounded(what, operation, self._slice)
                return
            except KafkaException as exc:
                error = exc.args[0]
                if error.fatal() or is_fenced(error) or not error.retriable():
                    self._fail(error, exc)
                if error.txn_requires_abort():
                    self._fail(error, exc)
                self._metrics.count_kafka_error(error.name())
                self._check_time(what, deadline)
                self._stop.wait(BACKOFF_SECONDS)

    def _fail(self, error: Any, exc: KafkaException) -> None:
        """A call failed for more than a retry: abort and read the batch again if the
        transaction can be abandoned; a fatal producer is replaced; fenced is the end."""
        if is_fenced(error):
            raise FatalKafkaError(self._explain(error)) from exc
        if error.fatal():
            raise _GiveUp(f"fatal producer error {error.name()}: {error.str()}") from exc
        if self._open:
            self._abort(self._clock() + self._wedged)
        self._raise_if_stopping(error.name())
        raise RetryBatch(error.name()) from exc

    def _abort(self, deadline: float) -> None:
        self._open = False  # whatever happens next, this transaction is over for us
        while True:
            try:
                _bounded("abort_transaction", self._producer.abort_transaction, self._slice)
                break
            except KafkaException as exc:
                error = exc.args[0]
                if is_fenced(error):
                    raise FatalKafkaError(self._explain(error)) from exc
                if error.fatal() or not error.retriable():
                    raise _GiveUp(f"abort failed: {error.name()}") from exc
                self._check_time("abort_transaction", deadline)
                self._stop.wait(BACKOFF_SECONDS)
        self._metrics.count_transaction(ABORTED)

    def _check_time(self, what: str, deadline: float) -> None:
        now = self._clock()
        if self._stop.is_set():
            if self._stop_seen is None:
                self._stop_seen = now
            if now - self._stop_seen >= self._stop_seconds:
                raise _GiveUp(f"{what} unfinished {self._stop_seconds:.0f}s after the stop")
        if now >= deadline:
            raise _GiveUp(f"{what} unfinished by its deadline ({self._wedged:.0f}s a batch)")

    def _raise_if_stopping(self, reason: str) -> None:
        if self._stop.is_set():
            raise StopBeforeCommitError(
                f"could not commit the batch in hand before stopping ({reason}); it is not "
                "visible to read_committed readers, and the next owner reads it again"
            )

    # ------------------------------------------------------------ a new producer

    def _replace_producer(self, reason: str, *, blocked: bool) -> None:
        """Give the wedged producer up; a new one with the same transactional.id fences it
        and settles its open transaction before anything else is written."""
        self._open = False
        self._metrics.count_transaction(RECREATED)
        self._log.warning("transaction stuck; replacing the producer", extra=fields(reason=reason))
        old = self._producer
        self._producer = self._make_producer()
        if blocked:
            # Its call still holds it on a helper thread; touching it could block us too.
            # Whatever that call sends later carries the fenced epoch and is refused.
            self._retired.append(old)
        else:
            old.purge()
            # The old client's destroy joins its threads, which may wait on a dead
            # broker: let that happen off the loop's thread.
            threading.Thread(target=_drop, args=([old],), daemon=True).start()
        del old
        if self._stop.is_set():
            # Stopping: the new producer's init_transactions still fences the old one, but
            # only within what is left of the grace (the next owner's would do it anyway).
            self._init_transactions(deadline=self._clock() + self._slice * 2)
            return
        self._init_transactions(deadline=None)

    def _init_transactions(self, deadline: float | None) -> None:
        while True:
            try:
                _bounded("init_transactions", self._producer.init_transactions, self._slice)
                return
            except _BlockedError:
                self._retired.append(self._producer)
                self._producer = self._make_producer()
            except KafkaException as exc:
                error = exc.args[0]
                if is_fenced(error) or error.fatal() or not error.retriable():
                    raise FatalKafkaError(self._explain(error)) from exc
                self._metrics.count_kafka_error(error.name())
            if self._stop.is_set() or (deadline is not None and self._clock() >= deadline):
                return  # asked to stop while waiting: the loop ends without writing
            self._stop.wait(BACKOFF_SECONDS)

    def _explain(self, error: Any) -> str:
        if is_fenced(error):
            return (
                f"producer fenced ({error.name()}): another instance started with "
                f"transactional.id {self._transactional_id!r}; every instance needs its own"
            )
        return f"transactional producer failed: {error}"


def _drop(holder: list[Any]) -> None:
    holder.clear()  # the last reference: the client is destroyed on this thread
