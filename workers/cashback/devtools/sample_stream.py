"""A deterministic stream of realistic purchases and refunds, with a few bad events mixed in.

The demo, the tests and the benchmarks all feed the worker from here. Everything comes from
one seeded `random.Random` and a fixed calendar (never the wall clock), so the same
`count`, `seed` and `bad_every` always give the same bytes.

The stream covers four weeks around Black Friday 2026 (9 November to 7 December, Moscow
time), so it crosses the `retail` v1 -> v2 switch and every `black-friday` version of the
sample rule sets in deploy/examples/rules. Event times rise through the stream, denser in
daytime and on the campaign days. About 5 % of the records are refunds of purchases
generated earlier (whole orders, whole lines, parts of lines, some after earlier refunds);
every `bad_every`-th record is a bad event, cycling through each dead-letter code.

    python -m cashback.devtools.sample_stream --count 10000 --seed 7 > events.jsonl

writes one record value per line, as `cashback price --input` reads them (an empty value is
a blank line); `--records` writes `{"key", "kind", "value"}` objects instead.
"""

from __future__ import annotations

import argparse
import sys
import time
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from itertools import accumulate
from random import Random
from typing import Any, Final, NamedTuple

import orjson

from cashback.domain.events import (
    DUPLICATE_KEY,
    EMPTY,
    INVALID_JSON,
    MAX_EVENT_BYTES,
    REFUND_MISMATCH,
    SCHEMA_VIOLATION,
    TOO_LARGE,
)

PURCHASE: Final = "purchase"
REFUND: Final = "refund"
DEFAULT_BAD_EVERY: Final = 300

# The calendar: 28 days from Monday 9 November 2026, 00:00 Moscow time (UTC+3).
WINDOW_START: Final = 1_794_171_600  # 2026-11-08T21:00:00Z
WINDOW_DAYS: Final = 28
_HOUR_WEIGHTS: Final = (
    *(2, 1, 1, 1, 1, 2, 4, 7),  # 00-07
    *(10, 12, 13, 14, 15, 14, 13, 13),  # 08-15
    *(14, 15, 16, 16, 14, 11, 7, 4),  # 16-23
)
# Day weights by day of the window: weekends busier, Black Friday weekend and Cyber Monday peaks.
_DAY_WEIGHTS: Final = (
    *(10, 10, 10, 11, 12, 14, 13) * 2,
    10,
    10,
    11,
    12,
    30,
    28,
    24,
    20,
    *(10,) * 6,
)

REFUND_SHARE: Final = 0.05
_POOL_SIZE: Final = 4096
_MAX_LINES: Final = 8
_LINE_COUNT_WEIGHTS: Final = (30, 22, 16, 11, 8, 6, 4, 3)  # 1..8 lines


class SampleRecord(NamedTuple):
    """One Kafka record: key (the customer id), value, and what it is.

    `kind` is "purchase", "refund", or for a deliberately bad record the `error.code` the
    worker should give it ("invalid_json", "schema_violation", "too_large", ...).
    """

    key: bytes | None
    value: bytes | None
    kind: str


# ---------------------------------------------------------------------------- the world

# Category: (SKU prefix, lowest and highest unit price in RUB kopecks, largest quantity).
_CATEGORIES: Final[dict[str, tuple[str, int, int, int]]] = {
    "groceries": ("GRO", 3_900, 180_000, 6),
    "electronics": ("ELE", 99_000, 18_000_000, 2),
    "fuel": ("FUEL", 5_600, 7_900, 0),  # quantity is litres, priced per litre
    "pharmacy": ("PHA", 9_000, 450_000, 3),
    "apparel": ("APP", 59_000, 1_600_000, 2),
    "travel": ("TRV", 450_000, 9_500_000, 2),
    "restaurants": ("RST", 25_000, 900_000, 1),
    "home": ("HOM", 15_000, 3_200_000, 3),
    "beauty": ("BEA", 19_000, 650_000, 3),
    "auto": ("AUTO", 30_000, 450_000, 1),
}
_FUEL_GRADES: Final = ("FUEL-AI92", "FUEL-AI95", "FUEL-AI98", "FUEL-DT")
_CAR_WASH: Final = ("AUTO-WASH-1", "AUTO-WASH-2")


class _Format(NamedTuple):
    """A kind of store: its MCCs, what it sells (weights), how people buy there, how often."""

    code: str
    mccs: tuple[str, ...]
    categories: tuple[tuple[str, int], ...]
    channels: tuple[tuple[str, int], ...]
    max_lines: int
    weight: int
    refundable: bool


_FORMATS: Final = (
    _Format(
        "GROC",
        ("5411",),
        (("groceries", 84), ("home", 8), ("beauty", 5), ("pharmacy", 3)),
        (("pos", 70), ("online", 12), ("app", 18)),
        8,
        340,
        True,
    ),
    _Format(
        "REST", ("5812", "5814"), (("restaurants", 1),), (("pos", 70), ("app", 30)), 3, 140, False
    ),
    _Format(
        "FUEL",
        ("5541", "5542"),
        (("fuel", 70), ("groceries", 20), ("auto", 10)),
        (("pos", 80), ("app", 20)),
        3,
        100,
        False,
    ),
    _Format(
        "PHAR",
        ("5912",),
        (("pharmacy", 85), ("beauty", 15)),
        (("pos", 75), ("app", 25)),
        5,
        80,
        True,
    ),
    _Format(
        "MKTP",
        ("5399",),
        (("electronics", 20), ("apparel", 25), ("home", 25), ("beauty", 15), ("groceries", 15)),
        (("online", 50), ("app", 50)),
        8,
        80,
        True,
    ),
    _Format(
        "APPR",
        ("5651",),
        (("apparel", 1),),
        (("pos", 40), ("online", 30), ("app", 30)),
        5,
        60,
        True,
    ),
    _Format(
        "ELEC",
        ("5732",),
        (("electronics", 90), ("home", 10)),
        (("pos", 40), ("online", 35), ("app", 25)),
        3,
        60,
        True,
    ),
    _Format(
        "HOME", ("5200",), (("home", 90), ("auto", 10)), (("pos", 50), ("online", 50)), 6, 50, True
    ),
    _Format("BEAU", ("5977",), (("beauty", 1),), (("pos", 60), ("app", 40)), 4, 40, True),
    _Format("AIRL", ("4511",), (("travel", 1),), (("online", 60), ("app", 40)), 2, 25, True),
    _Format("HOTL", ("7011",), (("travel", 1),), (("online", 55), ("app", 45)), 1, 15, True),
)
_MERCHANTS_PER_REGION: Final = 3

# Region: (country, UTC offset in hours, share of that country's customers).
_REGIONS: Final[dict[str, tuple[str, int, int]]] = {
    "RU-MOW": ("RU", 3, 40),
    "RU-SPE": ("RU", 3, 25),
    "RU-KDA": ("RU", 3, 12),
    "RU-SVE": ("RU", 5, 13),
    "RU-NVS": ("RU", 7, 10),
    "KZ-ALA": ("KZ", 5, 60),
    "KZ-AST": ("KZ", 5, 40),
}
_COUNTRIES: Final = (("RU", 85), ("KZ", 15))
_CURRENCY: Final = {"RU": "RUB", "KZ": "KZT"}
_LOCALES: Final = {
    "RU": (("ru-RU", 92), ("en-US", 5), ("tt-RU", 3)),
    "KZ": (("kk-KZ", 50), ("ru-KZ", 50)),
}
_TIERS: Final = ((None, 35), ("silver", 30), ("gold", 25), ("platinum", 10))
_SEGMENTS: Final = (
    ("new", 0.08),
    ("student", 0.10),
    ("family", 0.20),
    ("frequent-flyer", 0.08),
    ("pensioner", 0.08),
    ("employee", 0.02),
)
_PAY_POS: Final = (("card", 70), ("wallet", 16), ("cash", 14))
_PAY_REMOTE: Final = (("card", 74), ("wallet", 21), ("bnpl", 5))
# Prices are kept in RUB kopecks; purchases in other currencies convert with integer ratios.
_FX: Final = {"RUB": (1, 1), "KZT": (11, 2), "EUR": (1, 95)}


class _Pick:
    """Weighted choice over fixed options: one `random()` and a C-level bisect per draw."""

    __slots__ = ("cumulative", "options", "total")

    def __init__(self, weighted: Sequence[tuple[Any, float]]) -> None:
        self.options = [option for option, _ in weighted]
        self.cumulative = list(accumulate(weight for _, weight in weighted))
        self.total = self.cumulative[-1]

    def __call__(self, random: Any) -> Any:
        return self.options[bisect_right(self.cumulative, random() * self.total)]


class _Store(NamedTuple):
    merchant: dict[str, str]
    format: _Format
    categories: _Pick
    channels: _Pick


class _Customer(NamedTuple):
    doc: dict[str, Any]
    original: dict[str, Any]  # the `original.customer` a refund carries
    key: bytes
    country: str
    region: str


class _Sold(NamedTuple):
    """A purchase that may still be refunded, with what is left of each line."""

    event: dict[str, Any]
    customer: _Customer
    remaining: list[int]
    earlier: list[dict[str, int]]


# ---------------------------------------------------------------------------- generator


def generate(
    count: int, seed: int = 42, bad_every: int | None = DEFAULT_BAD_EVERY
) -> Iterator[SampleRecord]:
    """`count` records: purchases, ~5 % refunds, and every `bad_every`-th record a bad one."""
    if count < 0:
        raise ValueError("count must be >= 0")
    if bad_every is not None and bad_every < 1:
        raise ValueError("bad_every must be >= 1 (or None for no bad events)")
    return _Stream(count, seed, bad_every).records()


class _Stream:
    def __init__(self, count: int, seed: int, bad_every: int | None) -> None:
        self.rng = Random(seed)
        self.random = self.rng.random
        self.count = count
        self.seed = seed
        self.bad_every = bad_every
        self.skus = self._skus()
        self.stores = self._stores()
        self.customers = self._customers(min(20_000, max(200, count // 8)))
        self.pool: list[_Sold] = []
        self.line_counts = _Pick(list(enumerate(_LINE_COUNT_WEIGHTS, start=1)))
        self.pay_pos = _Pick(_PAY_POS)
        self.pay_remote = _Pick(_PAY_REMOTE)
        hours = [d * h for d in _DAY_WEIGHTS for h in _HOUR_WEIGHTS]
        self.hour_cdf = list(accumulate(hours))
        self.clock_prefix: dict[tuple[int, int], str] = {}
        self.bad_makers = (
            self._not_json,
            self._float_amount,
            self._empty,
            self._refund_overdraw,
            self._missing_field,
            self._too_large,
            self._refund_missing_line,
            self._naive_time,
            self._duplicate_key,
        )

    # -- the world, built once per stream from the seed

    def _skus(self) -> dict[str, list[tuple[str, int]]]:
        rng = self.rng
        skus: dict[str, list[tuple[str, int]]] = {}
        for category, (prefix, low, high, _) in _CATEGORIES.items():
            if category == "fuel":
                skus[category] = [(grade, rng.randint(low, high)) for grade in _FUEL_GRADES]
                continue
            # Log-uniform prices: many cheap items, a few expensive ones.
            ratio = high / low
            items = [
                (f"{prefix}-{n:05d}", int(low * ratio ** rng.random()) // 100 * 100 + 99)
                for n in rng.sample(range(1, 100_000), 60)
            ]
            if category == "auto":
                items += [(_CAR_WASH[0], 50_000), (_CAR_WASH[1], 90_000)] * 10
            skus[category] = items
        return skus

    def _stores(self) -> dict[tuple[str, str], list[_Store]]:
        rng = self.rng
        stores: dict[tuple[str, str], list[_Store]] = {}
        for fmt in _FORMATS:
            number = 0
            for region in _REGIONS:
                for _ in range(_MERCHANTS_PER_REGION):
                    number += 1
                    # Numbered per format, Moscow first: the fuel partner's M-FUEL-001..004.
                    merchant = {
                        "id": f"M-{fmt.code}-{number:03d}",
                        "mcc": fmt.mccs[rng.randrange(len(fmt.mccs))],
                        "region": region,
                    }
                    store = _Store(merchant, fmt, _Pick(fmt.categories), _Pick(fmt.channels))
                    stores.setdefault((fmt.code, region), []).append(store)
        return stores

    def _customers(self, size: int) -> list[_Customer]:
        rng = self.rng
        countries = _Pick(_COUNTRIES)
        regions = {
            country: _Pick([(r, share) for r, (c, _, share) in _REGIONS.items() if c == country])
            for country, _ in _COUNTRIES
        }
        locales = {country: _Pick(weighted) for country, weighted in _LOCALES.items()}
        tiers = _Pick(_TIERS)
        customers = []
        for number in range(1, size + 1):
            country = countries(rng.random)
            tier = tiers(rng.random)
            segments = [name for name, share in _SEGMENTS if rng.random() < share]
            doc: dict[str, Any] = {"id": f"C-{number:06d}"}
            if tier is not None:
                doc["tier"] = tier
            if segments:
                doc["segments"] = segments
            doc["locale"] = locales[country](rng.random)
            if rng.random() < 0.12:
                doc["notifications"] = False
            original = {"id": doc["id"], "tier": tier, "segments": segments}
            region = regions[country](rng.random)
            customers.append(_Customer(doc, original, doc["id"].encode(), country, region))
        return customers

    # -- the stream

    def records(self) -> Iterator[SampleRecord]:
        random = self.random
        bad_every = self.bad_every or 0
        for index in range(self.count):
            if bad_every and (index + 1) % bad_every == 0:
                maker = self.bad_makers[((index + 1) // bad_every - 1) % len(self.bad_makers)]
                yield maker(index)
            elif self.pool and random() < REFUND_SHARE:
                refund = self._refund(index)
                yield SampleRecord(refund[0].key, orjson.dumps(refund[1]), REFUND)
            else:
                customer, event, store = self._purchase(index)
                if store.format.refundable:
                    self._remember(event, customer)
                yield SampleRecord(customer.key, orjson.dumps(event), PURCHASE)

    def _timestamp(self, index: int, offset_hours: int) -> str:
        """Event time of record `index`: rising through the window, shown in local time."""
        cdf = self.hour_cdf
        position = (index + self.random()) / max(self.count, 1) * cdf[-1]
        hour = bisect_right(cdf, position)
        hour = min(hour, len(cdf) - 1)
        low = cdf[hour - 1] if hour else 0
        second = int((position - low) / (cdf[hour] - low) * 3600)
        second = min(max(second, 0), 3599)
        prefix = self.clock_prefix.get((hour, offset_hours))
        if prefix is None:
            local = time.gmtime(WINDOW_START + (hour + offset_hours) * 3600)
            prefix = time.strftime("%Y-%m-%dT%H", local)
            self.clock_prefix[(hour, offset_hours)] = prefix
        return f"{prefix}:{second // 60:02d}:{second % 60:02d}+{offset_hours:02d}:00"

    def _purchase(self, index: int) -> tuple[_Customer, dict[str, Any], _Store]:
        random = self.random
        customers = self.customers
        # Squared draws: a few customers buy often, most now and then.
        customer = customers[int(random() * random() * len(customers))]
        fmt = _FORMATS_PICK(random)
        region = customer.region if random() < 0.9 else _REGION_PICK(random)
        stores = self.stores[(fmt.code, region)]
        store = stores[int(random() * len(stores))]
        channel = store.channels(random)
        currency = _CURRENCY[customer.country]
        if fmt.code in ("AIRL", "HOTL") and random() < 0.6:
            currency = "EUR"
        lines = self._lines(store, currency)
        event: dict[str, Any] = {
            "event_id": f"evt-{self.seed}-{index:08d}",
            "type": PURCHASE,
            "purchase_id": f"ORD-{self.seed}-{index:08d}",
            "occurred_at": self._timestamp(index, _REGIONS[region][1]),
            "customer": customer.doc,
            "merchant": store.merchant,
            "channel": channel,
            "payment_method": (self.pay_pos if channel == "pos" else self.pay_remote)(random),
            "currency": currency,
            "total_minor": sum(line["amount_minor"] for line in lines),
            "lines": lines,
        }
        return customer, event, store

    def _lines(self, store: _Store, currency: str) -> list[dict[str, Any]]:
        random = self.random
        multiply, divide = _FX[currency]
        count = min(self.line_counts(random), store.format.max_lines)
        lines = []
        for _ in range(count):
            category = store.categories(random)
            skus = self.skus[category]
            sku, unit = skus[int(random() * len(skus))]
            largest = _CATEGORIES[category][3]
            if largest == 0:  # fuel: 15-60 litres
                quantity = 15 + int(random() * 46)
            else:
                quantity = 1 + int(random() * random() * largest)
            amount = unit * quantity * multiply // divide
            if random() < 0.15:  # a promotion: 10 % off the line
                amount -= amount // 10
            lines.append(
                {"sku": sku, "category": category, "quantity": quantity, "amount_minor": amount}
            )
        return lines

    def _remember(self, event: dict[str, Any], customer: _Customer) -> None:
        remaining = [line["amount_minor"] for line in event["lines"]]
        sold = _Sold(event, customer, remaining, [])
        if len(self.pool) < _POOL_SIZE:
            self.pool.append(sold)
        else:
            self.pool[int(self.random() * _POOL_SIZE)] = sold

    def _refund(self, index: int) -> tuple[_Customer, dict[str, Any]]:
        """Refund part or all of an earlier purchase that still has something to return."""
        random = self.random
        pool = self.pool
        slot = int(random() * len(pool))
        sold = pool[slot]
        remaining = sold.remaining
        open_lines = [n for n, amount in enumerate(remaining) if amount > 0]
        mode = random()
        if mode < 0.3:  # the whole order (what is left of it)
            returned = [(n, remaining[n]) for n in open_lines]
        else:
            line = open_lines[int(random() * len(open_lines))]
            amount = remaining[line]
            if mode >= 0.75 and amount > 1:  # part of a line, e.g. a partial price adjustment
                amount = max(1, amount * (2 + int(random() * 7)) // 10)
            returned = [(line, amount)]
        refunded = [{"line": n, "amount_minor": amount} for n, amount in returned]
        event = self._refund_event(index, sold, refunded)
        for n, amount in returned:
            remaining[n] -= amount
        sold.earlier.extend(refunded)
        if not any(remaining):
            pool[slot] = pool[-1]
            pool.pop()
        return sold.customer, event

    def _refund_event(
        self, index: int, sold: _Sold, refunded: list[dict[str, int]]
    ) -> dict[str, Any]:
        purchase = sold.event
        merchant = purchase["merchant"]
        offset = _REGIONS[merchant["region"]][1] if merchant else 3
        event: dict[str, Any] = {
            "event_id": f"evt-{self.seed}-{index:08d}",
            "type": REFUND,
            "purchase_id": purchase["purchase_id"],
            "occurred_at": self._timestamp(index, offset),
            "customer": purchase["customer"],
            "currency": purchase["currency"],
            "original": {
                "occurred_at": purchase["occurred_at"],
                "total_minor": purchase["total_minor"],
                "lines": purchase["lines"],
                "merchant": merchant,
                "channel": purchase["channel"],
                "payment_method": purchase["payment_method"],
                "customer": sold.customer.original,
            },
            "refunded_lines": refunded,
        }
        if sold.earlier:
            event["previously_refunded_lines"] = list(sold.earlier)
        return event

    # -- bad events, one of each in turn

    def _bad_purchase(self, index: int) -> tuple[_Customer, dict[str, Any]]:
        customer, event, _ = self._purchase(index)
        event["lines"] = [dict(line) for line in event["lines"]]
        return customer, event

    def _not_json(self, index: int) -> SampleRecord:
        customer, event = self._bad_purchase(index)
        raw = orjson.dumps(event)
        return SampleRecord(customer.key, raw[: len(raw) // 2], INVALID_JSON)

    def _float_amount(self, index: int) -> SampleRecord:
        customer, event = self._bad_purchase(index)
        event["lines"][0]["amount_minor"] += 0.5  # money as a float: refused
        return SampleRecord(customer.key, orjson.dumps(event), SCHEMA_VIOLATION)

    def _missing_field(self, index: int) -> SampleRecord:
        customer, event = self._bad_purchase(index)
        del event["currency"]
        return SampleRecord(customer.key, orjson.dumps(event), SCHEMA_VIOLATION)

    def _naive_time(self, index: int) -> SampleRecord:
        customer, event = self._bad_purchase(index)
        event["occurred_at"] = event["occurred_at"][:19]  # no UTC offset
        return SampleRecord(customer.key, orjson.dumps(event), SCHEMA_VIOLATION)

    def _duplicate_key(self, index: int) -> SampleRecord:
        customer, event = self._bad_purchase(index)
        # Two totals: parsers that keep the first and those that keep the last disagree.
        raw = b'{"total_minor":1,' + orjson.dumps(event)[1:]
        return SampleRecord(customer.key, raw, DUPLICATE_KEY)

    def _empty(self, index: int) -> SampleRecord:
        customer, _ = self._bad_purchase(index)
        return SampleRecord(customer.key, None, EMPTY)

    def _too_large(self, index: int) -> SampleRecord:
        customer, event = self._bad_purchase(index)
        event["receipt_image_base64"] = "QUJD" * (MAX_EVENT_BYTES // 4 + 256)
        return SampleRecord(customer.key, orjson.dumps(event), TOO_LARGE)

    def _sold_for_bad_refund(self, index: int) -> _Sold:
        if self.pool:
            return self.pool[int(self.random() * len(self.pool))]
        customer, event, _ = self._purchase(index)  # nothing sold yet: a purchase never sent
        return _Sold(event, customer, [line["amount_minor"] for line in event["lines"]], [])

    def _refund_overdraw(self, index: int) -> SampleRecord:
        sold = self._sold_for_bad_refund(index)
        line = int(self.random() * len(sold.remaining))
        refunded = [{"line": line, "amount_minor": sold.remaining[line] + 100}]
        event = self._refund_event(index, sold, refunded)
        return SampleRecord(sold.customer.key, orjson.dumps(event), REFUND_MISMATCH)

    def _refund_missing_line(self, index: int) -> SampleRecord:
        sold = self._sold_for_bad_refund(index)
        refunded = [{"line": len(sold.remaining) + 1, "amount_minor": 100}]
        event = self._refund_event(index, sold, refunded)
        return SampleRecord(sold.customer.key, orjson.dumps(event), REFUND_MISMATCH)


_FORMATS_PICK: Final = _Pick([(fmt, fmt.weight) for fmt in _FORMATS])
_REGION_PICK: Final = _Pick([(region, share) for region, (_, _, share) in _REGIONS.items()])


# ---------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cashback.devtools.sample_stream",
        description="Write a deterministic sample stream of purchases and refunds as JSON lines.",
    )
    parser.add_argument("--count", type=int, default=3000, help="records to write")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--bad-every",
        type=int,
        default=DEFAULT_BAD_EVERY,
        metavar="N",
        help=f"every N-th record is a bad one (0 = none; default {DEFAULT_BAD_EVERY})",
    )
    parser.add_argument(
        "--records",
        action="store_true",
        help='write {"key", "kind", "value"} objects (value as text) instead of bare values',
    )
    args = parser.parse_args(argv)
    if args.count < 0 or args.bad_every < 0:
        parser.error("--count and --bad-every must be >= 0")
    out = sys.stdout.buffer
    chunk: list[bytes] = []
    try:
        for record in generate(args.count, args.seed, args.bad_every or None):
            chunk.append(_record_line(record) if args.records else (record.value or b"") + b"\n")
            if len(chunk) >= 4096:
                out.write(b"".join(chunk))
                chunk.clear()
        out.write(b"".join(chunk))
        out.flush()
    except BrokenPipeError:  # `... | head`: stop quietly
        return 0
    return 0


def _record_line(record: SampleRecord) -> bytes:
    return orjson.dumps(
        {
            "key": None if record.key is None else record.key.decode(),
            "kind": record.kind,
            "value": None if record.value is None else record.value.decode(),
        },
        option=orjson.OPT_APPEND_NEWLINE,
    )


if __name__ == "__main__":
    sys.exit(main())
