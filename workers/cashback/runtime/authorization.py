"""Credentials and ACLs, checked once at start: a wrong password or a missing ACL stops
the worker with one line naming what is wrong, instead of a reconnect loop or a group
that never gets partitions.

`preflight` asks the cluster, as the worker's own principal, what it may do (KIP-430
authorized operations): Read on the input and rules topics, Write on the outputs, Read on
the consumer group, Describe on the rules reader's group id. The transactional id cannot
be asked about; `init_transactions` then fails with TRANSACTIONAL_ID_AUTHORIZATION_FAILED
and `explain` names it. What is missing is exactly what `cashback acls` prints.

A broker that does not answer yet is waited for (as before); missing topics are left to
the consumer (it waits for them). ACLs revoked while running are not checked here: the
batch is retried and the error counted and logged (runtime.worker, runtime.eos).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException, TopicCollection
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import AclOperation

from cashback.runtime.clients import FatalKafkaError, admin_config
from cashback.runtime.settings import Settings

ANSWER_SECONDS: Final = 10.0
WAIT_SECONDS: Final = 2.0
RULES_READER_SUFFIX: Final = ".rules-reader"
AUTHORIZATION_FAILURES: Final = frozenset(
    {
        "TOPIC_AUTHORIZATION_FAILED",
        "GROUP_AUTHORIZATION_FAILED",
        "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
        "CLUSTER_AUTHORIZATION_FAILED",
    }
)


class NotAuthorizedError(FatalKafkaError):
    """The principal lacks an ACL, or its credentials were refused: the message says which."""


def principal(settings: Settings) -> str:
    name = settings.kafka_config().get("sasl.username")
    return f"User:{name}" if name else "this worker's principal"


def missing(settings: Settings, grants: list[str]) -> str:
    return (
        f"not authorized: {principal(settings)} lacks {', '.join(grants)}; "
        f"`cashback acls --principal {principal(settings)}` prints every ACL the worker needs"
    )


def explain(settings: Settings, error: Any) -> str | None:
    """One line for an authorization error the clients raised, or None for any other."""
    name = error.name() if hasattr(error, "name") else ""
    if name == "TRANSACTIONAL_ID_AUTHORIZATION_FAILED":
        return missing(
            settings, [f"Write on transactional id {settings.transactional_id!r} ({name})"]
        )
    if name in AUTHORIZATION_FAILURES:
        return missing(settings, [f"an ACL ({name}: {error.str()})"])
    return None


def preflight(
    settings: Settings,
    *,
    stop: threading.Event,
    beat: Callable[[], None],
    log: logging.Logger,
) -> bool:
    """Raise NotAuthorizedError for refused credentials or missing ACLs; False if stopped
    while the cluster did not answer, True once checked."""
    auth_failure: list[str] = []

    def on_error(error: Any) -> None:
        if error.code() == KafkaError._AUTHENTICATION:
            auth_failure.append(error.str())

    quiet = logging.getLogger("cashback.preflight.librdkafka")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    config: dict[str, Any] = {**admin_config(settings), "error_cb": on_error, "logger": quiet}
    admin = AdminClient(config)
    warned = False
    while not stop.is_set():
        beat()
        try:
            grants = _missing_grants(admin, settings)
        except KafkaException as exc:
            admin.poll(WAIT_SECONDS)  # error_cb runs only from poll()
            if auth_failure:
                raise NotAuthorizedError(_refused(settings, auth_failure[-1])) from None
            if not warned:
                log.warning(
                    "cluster not answering yet; waiting to check credentials and ACLs",
                    extra={"fields": {"error": str(exc.args[0])}},
                )
                warned = True
            continue
        if grants:
            raise NotAuthorizedError(missing(settings, grants))
        return True
    return False


def _refused(settings: Settings, detail: str) -> str:
    mechanism = settings.kafka_config().get("sasl.mechanism", "SASL")
    # librdkafka's text names the mechanism and the broker, never the password.
    reason = detail.rsplit(": ", 1)[-1] if ": " in detail else detail
    return (
        f"authentication failed: the brokers refused {principal(settings)} with "
        f"{mechanism} ({reason}); check sasl.username and sasl.password"
    )


def _missing_grants(admin: AdminClient, settings: Settings) -> list[str]:
    """What the principal lacks, as 'Operation on resource' texts, in `cashback acls` order."""
    admin.list_topics(timeout=ANSWER_SECONDS)  # raises until the cluster answers
    reads = [*settings.input_topics, *([settings.rules_topic] if settings.rules_topic else [])]
    writes = [settings.accruals_topic, settings.notifications_topic, settings.dlq_topic]
    needs = [(t, AclOperation.READ, "Read") for t in reads]
    needs += [(t, AclOperation.WRITE, "Write") for t in writes]
    topics = _answers(
        admin.describe_topics(
            TopicCollection(list(dict.fromkeys(t for t, _, _ in needs))),
            include_authorized_operations=True,
            request_timeout=ANSWER_SECONDS,
        )
    )
    lacking = [
        f"{verb} on topic {topic!r}"
        for topic, operation, verb in needs
        if not _allowed(topics.get(topic), operation)
    ]
    groups = [(settings.group_id, AclOperation.READ, "Read")]
    if settings.rules_topic:
        groups.append((settings.group_id + RULES_READER_SUFFIX, AclOperation.DESCRIBE, "Describe"))
    found = _answers(
        admin.describe_consumer_groups(
            [g for g, _, _ in groups],
            include_authorized_operations=True,
            request_timeout=ANSWER_SECONDS,
        )
    )
    lacking += [
        f"{verb} on group {group!r}"
        for group, operation, verb in groups
        if not _allowed(found.get(group), operation)
    ]
    return lacking


def _answers(futures: dict[str, Future[Any]]) -> dict[str, Any]:
    """name -> description, or the authorization error it failed with; None for any other
    answer (a missing topic, an unknown group: not an ACL question)."""
    found: dict[str, Any] = {}
    for name, future in futures.items():
        try:
            found[name] = future.result(ANSWER_SECONDS)
        except KafkaException as exc:
            error = exc.args[0]
            found[name] = error if error.name() in AUTHORIZATION_FAILURES else None
    return found


def _allowed(description: Any, operation: AclOperation) -> bool:
    if description is None:
        return True  # missing: not an ACL question (the consumer waits for the topic)
    if isinstance(description, KafkaError):
        return False
    operations = getattr(description, "authorized_operations", None)
    if operations is None:
        return True  # a broker without KIP-430 answers: nothing to say
    return operation in operations or AclOperation.ALL in operations
