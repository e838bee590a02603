"""SPEC "Which version applies", "Accrual event", "Notification event" and determinism."""

from __future__ import annotations

import uuid

import orjson
import pytest

from cashback.domain.engine import ACCRUALS, NOTIFICATIONS, Outcome
from cashback.domain.records import accrual_id, name_uuid
from pricing_support import SATURDAY, amounts, handle, line, purchase, rule, ruleset


def version(n: int, effective_from: str, percent: str) -> object:
    return ruleset([rule(pay={"percent": percent})], version=n, effective_from=effective_from)


@pytest.mark.parametrize(
    ("occurred_at", "expected"),
    [
        ("2025-12-31T23:59:59+03:00", {}),  # before any version: nothing applies
        ("2026-01-01T00:00:00+03:00", {"retail": 100}),  # v1 from its first instant: 1%
        ("2026-06-30T12:00:00+03:00", {"retail": 100}),  # v2 not yet effective
        ("2026-07-01T00:00:00+03:00", {"retail": 200}),  # v2: 2%
        # v3 was published later to roll back to 1% from 2026-09-01: highest version wins
        ("2026-09-01T00:00:00+03:00", {"retail": 100}),
        ("2026-09-01T00:00:00+00:00", {"retail": 100}),
        ("2026-08-31T23:59:59+03:00", {"retail": 200}),
    ],
)
def test_highest_version_effective_at_event_time(
    occurred_at: str, expected: dict[str, int]
) -> None:
    versions = [
        version(1, "2026-01-01T00:00:00+03:00", "1"),
        version(2, "2026-07-01T00:00:00+03:00", "2"),
        version(3, "2026-09-01T00:00:00+03:00", "1"),
    ]
    handled = handle(versions, purchase([line(10000)], occurred_at=occurred_at))  # type: ignore[arg-type]
    assert amounts(handled) == expected


def test_a_higher_version_with_an_earlier_start_overrides_from_its_start() -> None:
    v1 = version(1, "2026-01-01T00:00:00Z", "1")
    v2 = version(2, "2026-06-01T00:00:00Z", "2")
    v3 = version(3, "2026-03-01T00:00:00Z", "3")  # correction published last
    event = purchase([line(10000)], occurred_at="2026-07-01T00:00:00Z")
    assert amounts(handle([v1, v2, v3], event)) == {"retail": 300}  # type: ignore[list-item]
    early = purchase([line(10000)], occurred_at="2026-02-01T00:00:00Z")
    assert amounts(handle([v1, v2, v3], early)) == {"retail": 100}  # type: ignore[list-item]


def test_rule_sets_apply_side_by_side_in_name_order() -> None:
    retail = ruleset([rule(pay={"percent": "1"})])
    black_friday = ruleset([rule(pay={"percent": "5"})], ruleset="black-friday")
    handled = handle([retail, black_friday], purchase([line(10000)]))
    assert [a.ruleset for a in handled.accruals] == ["black-friday", "retail"]
    assert amounts(handled) == {"black-friday": 500, "retail": 100}
    assert handled.accruals[0].accrual_id != handled.accruals[1].accrual_id


def test_other_currencies_earn_nothing() -> None:
    handled = handle(ruleset([rule()]), purchase([line(10000)], currency="EUR"))
    assert handled.outcome is Outcome.NOT_ELIGIBLE
    assert handled.outputs == []


def test_not_eligible_writes_nothing() -> None:
    rs = ruleset([rule(when={"categories": ["fuel"]})])
    handled = handle(rs, purchase([line(10000)]))
    assert handled.outcome is Outcome.NOT_ELIGIBLE
    assert handled.outputs == []
    assert handled.purchase_minor == 10000


def test_accrual_document() -> None:
    rs = ruleset(
        [rule("groceries-weekend", pay={"percent": "5"}, description="5% back on groceries")],
        version=3,
        hold_days=14,
        expires_days=365,
        notify={"accrual": "cashback_accrued"},
    )
    event = purchase([line(123400)], customer={"id": "C-42", "locale": "ru-RU"})
    handled = handle(rs, event)
    assert handled.outcome is Outcome.ACCRUED
    accrual_out, note_out = handled.outputs
    assert (accrual_out.destination, note_out.destination) == (ACCRUALS, NOTIFICATIONS)
    assert accrual_out.key == note_out.key == b"C-42"
    accrual = orjson.loads(accrual_out.value)
    assert accrual == {
        "accrual_id": accrual_id("evt-1", "retail"),
        "kind": "accrual",
        "event_id": "evt-1",
        "purchase_id": "P-1",
        "customer_id": "C-42",
        "ruleset": "retail",
        "ruleset_version": 3,
        "currency": "RUB",
        "amount_minor": 6170,  # 123400 * 5% = 6170
        "base_minor": 123400,
        "rules": [{"id": "groceries-weekend", "base_minor": 123400, "amount_minor": 6170}],
        "status": "pending",
        "occurred_at": SATURDAY,
        "available_at": "2026-12-19T14:00:00+03:00",  # + 14 x 24 h
        "expires_at": "2027-12-19T14:00:00+03:00",  # + 365 x 24 h
    }
    assert list(accrual) == list(orjson.loads(accrual_out.value))  # field order is the struct's
    note = orjson.loads(note_out.value)
    assert note == {
        "notification_id": note["notification_id"],
        "template": "cashback_accrued",
        "customer_id": "C-42",
        "locale": "ru-RU",
        "accrual_id": accrual["accrual_id"],
        "kind": "accrual",
        "params": {
            "amount_minor": 6170,
            "currency": "RUB",
            "available_at": "2026-12-19T14:00:00+03:00",
            "expires_at": "2027-12-19T14:00:00+03:00",
            "descriptions": ["5% back on groceries"],
        },
    }


def test_no_hold_means_available_and_no_expiry_means_null() -> None:
    handled = handle(ruleset([rule()]), purchase([line(10000)]))
    accrual = orjson.loads(handled.outputs[0].value)
    assert accrual["status"] == "available"
    assert accrual["available_at"] == accrual["occurred_at"] == SATURDAY
    assert accrual["expires_at"] is None


def test_hold_counts_whole_days_of_24_hours_across_dst() -> None:
    # Berlin leaves summer time on 2026-10-25; the event's own offset is kept.
    rs = ruleset([rule()], hold_days=1, timezone="Europe/Berlin")
    handled = handle(rs, purchase([line(10000)], occurred_at="2026-10-24T12:00:00+02:00"))
    assert handled.accruals[0].available_at.isoformat() == "2026-10-25T12:00:00+02:00"


@pytest.mark.parametrize(
    ("notify", "customer", "expected"),
    [
        ({"accrual": "t"}, {"id": "C"}, 1),
        ({"accrual": "t"}, {"id": "C", "notifications": True}, 1),
        ({"accrual": "t"}, {"id": "C", "notifications": False}, 0),  # opted out
        ({"reversal": "t"}, {"id": "C"}, 0),  # no template for accruals
        (None, {"id": "C"}, 0),
    ],
)
def test_notifications_only_with_template_and_consent(
    notify: dict[str, str] | None, customer: dict[str, object], expected: int
) -> None:
    fields = {"notify": notify} if notify else {}
    handled = handle(ruleset([rule()], **fields), purchase([line(10000)], customer=customer))
    assert [o.destination for o in handled.outputs].count(NOTIFICATIONS) == expected
    assert len(handled.accruals) == 1


def test_notification_carries_no_other_personal_data() -> None:
    customer = {"id": "C-1", "tier": "gold", "segments": ["vip"], "locale": "en-GB"}
    rs = ruleset([rule()], notify={"accrual": "t"})
    note = orjson.loads(handle(rs, purchase([line(10000)], customer=customer)).outputs[1].value)
    assert set(note) == {
        "notification_id",
        "template",
        "customer_id",
        "locale",
        "accrual_id",
        "kind",
        "params",
    }
    assert "gold" not in str(note) and "vip" not in str(note)


def test_same_input_same_bytes() -> None:
    rs = ruleset([rule()], notify={"accrual": "t"}, hold_days=3, expires_days=30)
    event = purchase([line(10000), line(333, "toys")])
    first = [(o.key, o.value) for o in handle(rs, event).outputs]
    second = [(o.key, o.value) for o in handle(rs, event).outputs]
    assert first == second


def test_ids_are_version_5_uuids_of_event_and_ruleset() -> None:
    namespace = uuid.UUID("5d2f7a4e-0c3b-4e8f-9a61-b2c3d4e5f601")
    assert accrual_id("evt-1", "retail") == str(uuid.uuid5(namespace, "evt-1\x1fretail"))
    assert name_uuid(namespace.bytes, "x") == str(uuid.uuid5(namespace, "x"))
    assert accrual_id("evt-1", "retail") != accrual_id("evt-1", "black-friday")
    assert accrual_id("evt-1", "retail") != accrual_id("evt-2", "retail")
