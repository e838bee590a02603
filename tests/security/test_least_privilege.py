"""Least privilege on a SASL_SSL broker: the worker runs the exactly-once scenario with
exactly the ACLs `cashback acls` prints (applied as printed, through the admin's
properties) and nothing more; without any one of them, or with a wrong password, it
stops with one line naming what is wrong; its password is in no log line, metric or
message."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
import pytest
from acl_support import apply, bindings_of, create_user, describe, for_principal
from confluent_kafka.admin import AclBinding, AdminClient
from test_worker_harness import (
    Topics,
    WorkerProcess,
    by_key,
    engine_for,
    expected_by_key,
    produce,
    publish_rules,
    read_all,
    wait_for,
    wait_until_committed,
)

from cashback.cli.acls import parse_commands
from cashback.devtools.local_kafka.security import ADMIN_TOOL_PROPERTIES
from cashback.domain.engine import ACCRUALS
from cashback.runtime.topics import TopicSpec, create_topics
from conftest import SecuredBroker
from events_factory import bad_events, ruleset_document, stream

pytestmark = [pytest.mark.kafka, pytest.mark.security]

EVENTS = 4000
MAX_EVENT_BYTES = 2048


def new_topics(broker: SecuredBroker, partitions: int) -> Topics:
    tag = uuid.uuid4().hex[:8]
    topics = Topics(f"in-{tag}", f"acc-{tag}", f"not-{tag}", f"dlq-{tag}", f"rules-{tag}")
    specs = [
        TopicSpec(name, partitions)
        for name in (topics.input, topics.accruals, topics.notifications, topics.dlq)
    ]
    specs.append(TopicSpec(topics.rules, 1, config={"cleanup.policy": "compact"}))
    create_topics(broker.admin, specs)
    return topics


def printed_acls(
    broker: SecuredBroker, principal: str, topics: Topics, group: str, prefix: str
) -> str:
    """What an operator gets from `cashback acls` for this deployment."""
    done = subprocess.run(
        [sys.executable, "-m", "cashback.cli.main", "acls", "--principal", principal,
         "--transactional-id-prefix", prefix, "--group-id", group,
         "--bootstrap-servers", broker.bootstrap,
         "--command-config", str(broker.files / ADMIN_TOOL_PROPERTIES), *topics.args()],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def bindings_printed(text: str) -> list[AclBinding]:
    return [binding for command in parse_commands(text) for binding in bindings_of(command)]


def user_file(broker: SecuredBroker, folder: Path, name: str, password: str) -> Path:
    """The worker's --kafka-config file for one user (what `up --security` writes)."""
    props = {**broker.tls, "sasl.username": name, "sasl.password": password}
    path = folder / f"{name}.properties"
    path.write_text("".join(f"{key}={value}\n" for key, value in props.items()))
    return path


def start_worker(
    workers: Callable[..., WorkerProcess],
    broker: SecuredBroker,
    topics: Topics,
    group: str,
    *,
    transactional_id: str,
    config: Path,
    ready: bool = True,
) -> WorkerProcess:
    extra = ["--kafka-config", str(config), "--max-event-bytes", str(MAX_EVENT_BYTES),
             "--batch-size", "200"]  # fmt: skip
    worker = workers(
        broker.bootstrap, topics, group=group, transactional_id=transactional_id, extra=extra
    )
    return worker.start(ready=ready)


def test_exactly_once_with_only_the_printed_acls(
    secured_broker: SecuredBroker, workers: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    broker, admin_props = secured_broker, secured_broker.admin
    topics = new_topics(broker, partitions=4)
    document = ruleset_document()
    publish_rules(broker.bootstrap, topics.rules, document, config=admin_props)
    good = stream(EVENTS, seed=31, customers=300)
    bad = bad_events(MAX_EVENT_BYTES)
    produce(broker.bootstrap, topics.input, [*good[:100], *bad, *good[100:]], config=admin_props)

    tag = uuid.uuid4().hex[:8]
    user, group, prefix = f"worker-{tag}", f"g-{tag}", f"cashback-{tag}-"
    admin = AdminClient(admin_props)
    password = create_user(admin, user)
    text = printed_acls(broker, f"User:{user}", topics, group, prefix)
    apply(admin, bindings_printed(text))
    config = user_file(broker, tmp_path, user, password)

    # One SIGKILL mid-stream: the restart's init_transactions (same id) aborts what the
    # killed one left open, with the same ACLs.
    first = start_worker(
        workers, broker, topics, group, transactional_id=prefix + "0", config=config
    )
    wait_for(lambda: first.metric("cashback_events_consumed_total") >= 1000, 60, "progress")
    first.kill()
    second = start_worker(
        workers, broker, topics, group, transactional_id=prefix + "0", config=config
    )
    total = len(good) + len(bad)
    wait_until_committed(broker.bootstrap, group, topics.input, total, 120, config=admin_props)
    metrics = second.get("/metrics")[1]

    expected = expected_by_key(engine_for(document), good)[ACCRUALS]
    accruals = read_all(broker.bootstrap, topics.accruals, config=admin_props)
    decoded = [orjson.loads(r.value or b"") for r in accruals]
    once = Counter((a["event_id"], a["ruleset"]) for a in decoded)
    assert max(once.values()) == 1, "an accrual was written twice"
    assert len(once) == sum(len(v) for v in expected.values())
    payout = sum(orjson.loads(v)["amount_minor"] for vs in expected.values() for v in vs)
    assert sum(a["amount_minor"] for a in decoded) == payout
    assert by_key(accruals) == expected
    letters = read_all(broker.bootstrap, topics.dlq, config=admin_props)
    assert sorted(r.key for r in letters) == sorted(b.key for b in bad)

    # The password: in no log line, no metric, not in what `cashback acls` printed.
    logs = first.log_path.read_text() + second.log_path.read_text()
    for where, found in (("logs", logs), ("/metrics", metrics), ("cashback acls", text)):
        assert password not in found, f"the password is in {where}"
    assert user in logs  # the principal is named (it is not a secret)


def missing_one_cases(
    broker: SecuredBroker, folder: Path, topics: Topics, group: str, prefix: str
) -> list[tuple[str, Path, str]]:
    """(what is wrong, the user's --kafka-config, the user's password) per case: each
    user gets every printed ACL but one; the last one has a wrong password."""
    admin = AdminClient(broker.admin)
    template = bindings_printed(printed_acls(broker, "User:PRINCIPAL", topics, group, prefix))
    cases = []
    for dropped, binding in enumerate(template):
        name = f"lacks-{dropped}-{uuid.uuid4().hex[:6]}"
        password = create_user(admin, name)
        kept = [b for i, b in enumerate(template) if i != dropped]
        apply(admin, for_principal(kept, f"User:{name}"))
        cases.append((describe(binding), user_file(broker, folder, name, password), password))
    name = f"wrong-password-{uuid.uuid4().hex[:6]}"
    password = create_user(admin, name)
    apply(admin, for_principal(template, f"User:{name}"))
    path = user_file(broker, folder, name, "not-" + password)
    cases.append(("a wrong password", path, password))
    return cases


def expected_words(case: str) -> Sequence[str]:
    """What the one line must name: the operation and the resource, or the refusal."""
    if case == "a wrong password":
        return ("authentication failed", "check sasl.username and sasl.password")
    operation, _, rest = case.partition(" on ")
    kind, _, name = rest.partition(" ")
    kind = {"TOPIC": "topic", "GROUP": "group", "TRANSACTIONAL_ID": "transactional id"}[kind]
    return (f"{operation.capitalize()} on {kind} '{name}",)


def test_without_any_one_acl_or_with_a_wrong_password_the_worker_says_what_and_stops(
    secured_broker: SecuredBroker, workers: Callable[..., WorkerProcess], tmp_path: Path
) -> None:
    broker = secured_broker
    topics = new_topics(broker, partitions=1)
    publish_rules(broker.bootstrap, topics.rules, ruleset_document(), config=broker.admin)
    tag = uuid.uuid4().hex[:8]
    group, prefix = f"g-{tag}", f"cashback-{tag}-"
    cases = missing_one_cases(broker, tmp_path, topics, group, prefix)
    assert (
        len(cases)
        == len(bindings_printed(printed_acls(broker, "User:x", topics, group, prefix))) + 1
    )
    started = [
        (
            case,
            password,
            start_worker(
                workers,
                broker,
                topics,
                group,
                transactional_id=prefix + "0",
                config=path,
                ready=False,
            ),
        )
        for case, path, password in cases
    ]
    deadline = time.monotonic() + 120
    report = []
    for case, password, worker in started:
        assert worker.proc is not None
        code = worker.proc.wait(max(deadline - time.monotonic(), 1))
        lines = worker.logs()
        stopping = [line for line in lines if str(line.get("msg", "")).startswith("stopping:")]
        assert code != 0, f"{case}: exit {code}"
        assert len(stopping) == 1, f"{case}: {stopping}"
        said = stopping[0]["msg"]
        for words in expected_words(case):
            assert words in said, f"{case}: {said}"
        assert password not in worker.log_path.read_text(), f"{case}: the password is logged"
        report.append(f"{case}: exit {code}: {said}")
    print("\n" + "\n".join(report))
