"""Input events (`purchase/v1`, refunds) as typed structs, and their strict decoding.

Decoding is one typed `msgspec` pass (schema, types, lengths, patterns) followed by the few
checks a schema cannot express: timestamps must carry an offset, and a refund must add up.
Every rejection has a stable code and a message that names the field, never its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Final, NamedTuple

import msgspec
from msgspec import Meta, Struct

from cashback.domain.duplicates import certain_keys as _keys
from cashback.domain.duplicates import certainly_unique, repeated_field, schema_of
from cashback.domain.money import MAX_MINOR

MAX_EVENT_BYTES: Final = 512 * 1024
MAX_LINES: Final = 1000

# Stable `error.code` values written to dead letters and counted in metrics.
TOO_LARGE: Final = "too_large"
EMPTY: Final = "empty"
INVALID_JSON: Final = "invalid_json"
SCHEMA_VIOLATION: Final = "schema_violation"
REFUND_MISMATCH: Final = "refund_mismatch"
DUPLICATE_KEY: Final = "duplicate_key"  # a contract field twice in one object: ambiguous
ERROR_CODES: Final = (
    TOO_LARGE,
    EMPTY,
    INVALID_JSON,
    SCHEMA_VIOLATION,
    REFUND_MISMATCH,
    DUPLICATE_KEY,
)

# The timestamp form of the schemas' "date-time". msgspec's datetime decoding also takes
# near forms (a space for `T`, `+0300`), which the contract refuses: checked after it.
RFC3339: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})\Z"
)
NOT_RFC3339: Final = "not an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SS with Z or a ±HH:MM offset)"

Id = Annotated[str, Meta(min_length=1, max_length=128)]
Text = Annotated[str, Meta(max_length=128)]
Minor = Annotated[int, Meta(ge=0, le=MAX_MINOR)]
Currency = Annotated[str, Meta(pattern="^[A-Z]{3}\\Z")]
Mcc = Annotated[str, Meta(pattern="^[0-9]{4}\\Z")]
Locale = Annotated[str, Meta(pattern="^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*\\Z", max_length=35)]
Segments = Annotated[tuple[Text, ...], Meta(max_length=64)]


class Customer(Struct, frozen=True, kw_only=True):
    id: Id
    tier: Text | None = None
    segments: Segments = ()
    locale: Locale | None = None
    notifications: bool = True


class OriginalCustomer(Struct, frozen=True, kw_only=True):
    """The customer as they were at the original purchase (conditions read these)."""

    id: Id | None = None
    tier: Text | None = None
    segments: Segments = ()


class Merchant(Struct, frozen=True, kw_only=True):
    id: Text | None = None
    mcc: Mcc | None = None
    region: Text | None = None


class Line(Struct, frozen=True, kw_only=True):
    sku: Text
    category: Text
    quantity: Annotated[int, Meta(ge=1, le=MAX_MINOR)]
    amount_minor: Minor


Lines = Annotated[tuple[Line, ...], Meta(min_length=1, max_length=MAX_LINES)]


class Purchase(Struct, frozen=True, kw_only=True, tag="purchase", tag_field="type"):
    event_id: Id
    purchase_id: Id
    occurred_at: datetime
    customer: Customer
    currency: Currency
    total_minor: Minor
    lines: Lines
    merchant: Merchant | None = None
    channel: Text | None = None
    payment_method: Text | None = None


class Original(Struct, frozen=True, kw_only=True):
    """The original purchase as it was, carried by a refund so pricing stays stateless."""

    occurred_at: datetime
    total_minor: Minor
    lines: Lines
    merchant: Merchant | None = None
    channel: Text | None = None
    payment_method: Text | None = None
    customer: OriginalCustomer | None = None


class RefundLine(Struct, frozen=True, kw_only=True):
    line: Annotated[int, Meta(ge=0, lt=MAX_LINES)]
    amount_minor: Minor


RefundLines = Annotated[tuple[RefundLine, ...], Meta(max_length=MAX_LINES)]


class Refund(Struct, frozen=True, kw_only=True, tag="refund", tag_field="type"):
    event_id: Id
    purchase_id: Id
    occurred_at: datetime
    customer: Customer
    currency: Currency
    original: Original
    refunded_lines: Annotated[tuple[RefundLine, ...], Meta(min_length=1, max_length=MAX_LINES)]
    previously_refunded_lines: RefundLines = ()


Event = Purchase | Refund


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why an input cannot be priced: a stable code and a message naming the field."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class RefundAmounts:
    """Per-line amounts and totals before and after this refund (O - P and O - P - R)."""

    before_lines: tuple[int, ...]
    before_total: int
    after_lines: tuple[int, ...]
    after_total: int


_decoder: Final = msgspec.json.Decoder(Event)


# The timestamps of an event as written (the typed decode keeps only their values). Read
# only after the typed decode succeeded, so these fields are there and are strings.
class _Stamp(Struct):
    occurred_at: str


class _RefundStamps(Struct):
    occurred_at: str
    original: _Stamp


_PURCHASE_FIELDS: Final = schema_of(
    ("$", Purchase), ("$.customer", Customer), ("$.merchant", Merchant), ("$.lines[]", Line),
    extra_root=("type",),
)  # fmt: skip
_REFUND_FIELDS: Final = schema_of(
    ("$", Refund), ("$.customer", Customer), ("$.original", Original),
    ("$.original.customer", OriginalCustomer), ("$.original.merchant", Merchant),
    ("$.original.lines[]", Line), ("$.refunded_lines[]", RefundLine),
    ("$.previously_refunded_lines[]", RefundLine),
    extra_root=("type",),
)  # fmt: skip
_purchase_stamps: Final = msgspec.json.Decoder(_Stamp)


def _purchase_keys(p: Purchase) -> int:
    """`duplicates.certain_keys` of a purchase, written out: the walk is most of the
    check's cost and purchases are most of the stream (test_duplicate_keys keeps both equal)."""
    c, m = p.customer, p.merchant
    count = 8 + 4 * len(p.lines) + (p.channel is not None) + (p.payment_method is not None)
    count += (c.tier is not None) + (c.segments != ()) + (c.locale is not None)
    count += not c.notifications
    if m is not None:
        count += 1 + (m.id is not None) + (m.mcc is not None) + (m.region is not None)
    return count


_refund_stamps: Final = msgspec.json.Decoder(_RefundStamps)


class CheckedRefund(NamedTuple):
    """A refund that adds up, with the amounts its pricing needs (worked out once)."""

    refund: Refund
    amounts: RefundAmounts


def decode_event(raw: bytes | None, max_bytes: int = MAX_EVENT_BYTES) -> Event | Rejection:
    """Decode one input value into a typed event, or say exactly why not."""
    found = decode(raw, max_bytes)
    return found.refund if isinstance(found, CheckedRefund) else found


def decode(
    raw: bytes | None, max_bytes: int = MAX_EVENT_BYTES
) -> Purchase | CheckedRefund | Rejection:
    """`decode_event`, keeping a refund's checked amounts for the engine."""
    if raw is None or len(raw) == 0:
        return Rejection(EMPTY, "the record has no value")
    if len(raw) > max_bytes:
        return Rejection(TOO_LARGE, f"the value is {len(raw)} bytes; the limit is {max_bytes}")
    if not raw.isascii():  # JSON is UTF-8; the decoder does not check keys it skips
        try:
            raw.decode()
        except UnicodeDecodeError as exc:
            return Rejection(INVALID_JSON, f"not UTF-8 at byte {exc.start}")
    try:
        event: Event = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        return Rejection(SCHEMA_VIOLATION, str(exc))
    except msgspec.DecodeError as exc:
        return Rejection(INVALID_JSON, str(exc))
    except RecursionError:  # msgspec's nesting limit, reached inside a field it skips
        return Rejection(INVALID_JSON, "nested deeper than the decoder allows")
    if not certainly_unique(raw, event, _purchase_keys if type(event) is Purchase else _keys):
        repeated = repeated_field(
            raw, _PURCHASE_FIELDS if isinstance(event, Purchase) else _REFUND_FIELDS
        )
        if repeated is not None:
            return Rejection(DUPLICATE_KEY, f"the field `{repeated}` is given twice")
    if event.occurred_at.tzinfo is None:
        return _naive("$.occurred_at")
    if isinstance(event, Purchase):
        if not RFC3339.match(_purchase_stamps.decode(raw).occurred_at):
            return _not_rfc3339("$.occurred_at")
        if sum([line.amount_minor for line in event.lines]) > MAX_MINOR:
            return _too_much("$.lines")
    else:
        if event.original.occurred_at.tzinfo is None:
            return _naive("$.original.occurred_at")
        stamps = _refund_stamps.decode(raw)
        if not RFC3339.match(stamps.occurred_at):
            return _not_rfc3339("$.occurred_at")
        if not RFC3339.match(stamps.original.occurred_at):
            return _not_rfc3339("$.original.occurred_at")
        if sum([line.amount_minor for line in event.original.lines]) > MAX_MINOR:
            return _too_much("$.original.lines")
        amounts = refund_amounts(event)
        if isinstance(amounts, Rejection):
            return amounts
        return CheckedRefund(event, amounts)
    return event


def _too_much(path: str) -> Rejection:
    # Every sum the worker writes must stay an integer any JSON reader keeps exactly.
    return Rejection(SCHEMA_VIOLATION, f"the lines add up to more than {MAX_MINOR} - at `{path}`")


def _not_rfc3339(path: str) -> Rejection:
    return Rejection(SCHEMA_VIOLATION, f"{NOT_RFC3339} - at `{path}`")


def _naive(path: str) -> Rejection:
    return Rejection(SCHEMA_VIOLATION, f"timestamp without a UTC offset - at `{path}`")


def refund_amounts(refund: Refund) -> RefundAmounts | Rejection:
    """O - P and O - P - R, or a rejection: a missing line, or more returned than remains."""
    lines = [line.amount_minor for line in refund.original.lines]
    total = _subtract(
        "previously_refunded_lines",
        refund.previously_refunded_lines,
        lines,
        refund.original.total_minor,
    )
    if isinstance(total, Rejection):
        return total
    before_lines, before_total = tuple(lines), total
    after_total = _subtract("refunded_lines", refund.refunded_lines, lines, before_total)
    if isinstance(after_total, Rejection):
        return after_total
    return RefundAmounts(before_lines, before_total, tuple(lines), after_total)


def _subtract(
    field: str, entries: tuple[RefundLine, ...], lines: list[int], total: int
) -> int | Rejection:
    """Lower `lines` (in place) and `total` by `entries`; a rejection names the entry that fails."""
    for position, entry in enumerate(entries):
        where = f"`$.{field}[{position}]`"
        if entry.line >= len(lines):
            return Rejection(
                REFUND_MISMATCH,
                f"line {entry.line} does not exist: the original has {len(lines)} lines"
                f" - at {where}",
            )
        if entry.amount_minor > lines[entry.line]:
            return Rejection(
                REFUND_MISMATCH,
                f"returns {entry.amount_minor} on line {entry.line} where {lines[entry.line]}"
                f" remains - at {where}",
            )
        if entry.amount_minor > total:
            return Rejection(
                REFUND_MISMATCH,
                f"returns {entry.amount_minor} where {total} of the order total remains"
                f" - at {where}",
            )
        lines[entry.line] -= entry.amount_minor
        total -= entry.amount_minor
    return total
