"""What the worker writes: `accrual/v1` and `notification/v1` documents, with deterministic ids.

Field order is fixed by the struct definitions and timestamps come from the input, never
from a clock, so the same input and rule set versions always encode to the same bytes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Final, Literal

import msgspec
from msgspec import Struct

ACCRUAL_SCHEMA: Final = "accrual/v1"
NOTIFICATION_SCHEMA: Final = "notification/v1"

# Fixed namespaces for the name-based (version 5) UUIDs of accruals and notifications.
_ACCRUAL_NAMESPACE: Final = bytes.fromhex("5d2f7a4e0c3b4e8f9a61b2c3d4e5f601")
_NOTIFICATION_NAMESPACE: Final = bytes.fromhex("8a41c9e27f6d4b0c8e35a1b2c3d4e5f6")

Kind = Literal["accrual", "reversal"]
Status = Literal["pending", "available"]


class RuleAmount(Struct, frozen=True):
    id: str
    base_minor: int
    amount_minor: int


class Accrual(Struct, frozen=True, kw_only=True):
    accrual_id: str
    kind: Kind
    event_id: str
    purchase_id: str
    customer_id: str
    ruleset: str
    ruleset_version: int
    currency: str
    amount_minor: int
    base_minor: int
    rules: tuple[RuleAmount, ...]
    status: Status
    occurred_at: datetime
    available_at: datetime
    expires_at: datetime | None


class NotificationParams(Struct, frozen=True, kw_only=True):
    amount_minor: int
    currency: str
    available_at: datetime
    expires_at: datetime | None
    descriptions: tuple[str, ...]


class Notification(Struct, frozen=True, kw_only=True):
    notification_id: str
    template: str
    customer_id: str
    locale: str | None
    accrual_id: str
    kind: Kind
    params: NotificationParams


def name_uuid(namespace: bytes, name: str) -> str:
    """RFC 4122 version-5 UUID text, equal to `uuid.uuid5`, without building UUID objects."""
    h = hashlib.sha1(namespace + name.encode(), usedforsecurity=False).hexdigest()
    # Version nibble 5; the variant's top two bits 10 (the table maps the original nibble).
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_VARIANT: Final = {f"{n:x}": f"{(n & 0x3) | 0x8:x}" for n in range(16)}


def accrual_id(event_id: str, ruleset: str) -> str:
    # The unit separator cannot be confused with text in either part.
    return name_uuid(_ACCRUAL_NAMESPACE, f"{event_id}\x1f{ruleset}")


def notification_id(accrual: str, template: str) -> str:
    return name_uuid(_NOTIFICATION_NAMESPACE, f"{accrual}\x1f{template}")


def notification_for(
    accrual: Accrual, template: str, locale: str | None, descriptions: tuple[str, ...]
) -> Notification:
    return Notification(
        notification_id=notification_id(accrual.accrual_id, template),
        template=template,
        customer_id=accrual.customer_id,
        locale=locale,
        accrual_id=accrual.accrual_id,
        kind=accrual.kind,
        params=NotificationParams(
            amount_minor=accrual.amount_minor,
            currency=accrual.currency,
            available_at=accrual.available_at,
            expires_at=accrual.expires_at,
            descriptions=descriptions,
        ),
    )


encoder: Final = msgspec.json.Encoder()
