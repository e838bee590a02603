"""How pricing cost grows: us/event and us/line against lines per event, catalog size and
the share of refunds, both engines, interleaved repeats (see benchmarks/README.md).

Every point is measured on its own engine and event list; within a repeat all points of
an axis run in turn, so machine noise hits them alike. Medians with (min-max) over the
repeats. The Python engine prices fewer events at big sizes (`python_events`), the
figures are per event and per line, so they compare.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from benchmarks import catalogs
from cashback.devtools.sample_stream import generate
from cashback.domain import cel
from cashback.domain.catalog import Catalog
from cashback.domain.conditions import Expression
from cashback.domain.native_engine import EngineMode, make_engine

LINES = (1, 10, 100, 1000)
RULES = (30, 1000, 10_000)
SETS = (1, 10, 50)
VERSIONS = (1, 10, 300)
REFUND_SHARES = (0.0, 0.05, 0.25, 0.5, 1.0)


@dataclass
class Point:
    axis: str
    series: str  # what is compared along the axis, e.g. "CEL rule (native)"
    engine: str
    x: float
    handle: Callable[[bytes | None], object]
    values: list[bytes]
    lines: int  # lines over all `values`
    seconds: list[float]


def full_lines(catalog: Catalog) -> Catalog:
    """The catalog as before `cel.demand` knew sizes: CEL builds every line it names."""
    for ruleset in catalog.all():
        for rule in ruleset.rules:
            for condition in rule.conditions:
                if isinstance(condition, Expression) and condition.demand.sized:
                    condition.demand = cel.Demand(condition.demand.fields)
    return catalog


def _lines_of(raw: bytes) -> int:
    event = orjson.loads(raw)
    if event["type"] == "refund":
        return len(event["original"]["lines"])
    return len(event["lines"])


def sample(count: int, seed: int = 7) -> tuple[list[bytes], list[bytes]]:
    """(purchases, refunds) of the sample stream, as raw JSON."""
    purchases: list[bytes] = []
    refunds: list[bytes] = []
    for record in generate(count, seed=seed, bad_every=None):
        if record.value is not None:
            (refunds if record.kind == "refund" else purchases).append(record.value)
    return purchases, refunds


def _point(axis: str, series: str, mode: EngineMode, x: float, *, catalog: Catalog,
           values: list[bytes]) -> Point:  # fmt: skip
    engine = make_engine(catalog, mode=mode)
    lines = sum(_lines_of(v) for v in values)
    return Point(axis, series, mode, x, engine.handle, values, lines, [])


def build_points(quick: bool, modes: tuple[EngineMode, ...]) -> list[Point]:
    scale = 0.1 if quick else 1.0
    purchases, refunds = sample(4000 if quick else 40_000)
    realistic = catalogs.load_examples()
    variants = {
        "CEL rule": realistic,
        "CEL rule, every line built (before)": full_lines(catalogs.load_examples()),
        "no CEL rule": catalogs.without_cel(realistic),
    }
    points: list[Point] = []
    bases = [orjson.loads(v) for v in purchases[:50]]
    for mode in modes:
        budget = (100_000 if mode == "native" else 10_000) * scale  # lines per repeat
        for n in LINES:
            count = max(5, int(budget // n))
            values = [orjson.dumps(catalogs.with_lines(bases[i % len(bases)], n))
                      for i in range(count)]  # fmt: skip
            for series, catalog in variants.items():
                points.append(_point("lines", series, mode, n, catalog=catalog, values=values))
    for mode in modes:
        events = int((10_000 if mode == "native" else 2_000) * scale)
        stream = purchases[:events]
        for axis, sizes, docs in (
            ("rules", RULES, catalogs.rules_docs),
            ("rule_sets", SETS, catalogs.sets_docs),
            ("versions", VERSIONS, catalogs.versions_docs),
        ):
            for size in sizes:
                catalog = catalogs.build(docs(size))
                # 50 rule sets price each event 50 times: fewer events for Python there
                few = stream[: events // 4] if mode == "python" and size >= 50 else stream
                points.append(_point(axis, "generated", mode, size, catalog=catalog, values=few))
        for share in REFUND_SHARES:
            count_refunds = min(int(events * share), len(refunds))
            mixed = _mix(stream[: events - count_refunds], refunds[:count_refunds])
            points.append(_point("refund_share", "example rules", mode, share,
                                 catalog=realistic, values=mixed))  # fmt: skip
    return points


def _mix(purchases: list[bytes], refunds: list[bytes]) -> list[bytes]:
    """Refunds spread evenly through the purchases."""
    if not refunds:
        return list(purchases)
    out: list[bytes] = []
    step = (len(purchases) + len(refunds)) / len(refunds)
    r = 0
    for i in range(len(purchases) + len(refunds)):
        if r < len(refunds) and i >= r * step:
            out.append(refunds[r])
            r += 1
        else:
            out.append(purchases[i - r])
    return out


def run(points: list[Point], repeats: int) -> None:
    for point in points:  # warm-up, and the answers must not raise
        for value in point.values[:20]:
            point.handle(value)
    for _ in range(repeats):
        for point in points:
            gc.collect()
            start = time.perf_counter()
            for value in point.values:
                point.handle(value)
            point.seconds.append(time.perf_counter() - start)


def rows(points: list[Point]) -> list[dict[str, Any]]:
    found = []
    for p in points:
        per_event = sorted(s / len(p.values) * 1e6 for s in p.seconds)
        per_line = sorted(s / p.lines * 1e6 for s in p.seconds)
        found.append({
            "axis": p.axis, "series": p.series, "engine": p.engine, "x": p.x,
            "events": len(p.values), "lines_per_event": round(p.lines / len(p.values), 2),
            "us_per_event": round(statistics.median(per_event), 3),
            "min_us_per_event": round(per_event[0], 3),
            "max_us_per_event": round(per_event[-1], 3),
            "us_per_line": round(statistics.median(per_line), 4),
            "min_us_per_line": round(per_line[0], 4), "max_us_per_line": round(per_line[-1], 4),
        })  # fmt: skip
    return found


def print_rows(found: list[dict[str, Any]]) -> None:
    axis = None
    for row in found:
        if row["axis"] != axis:
            axis = row["axis"]
            print(f"\n{axis}: {'series':38} {'engine':7} {'x':>7} {'events':>6} "
                  f"{'us/event (min-max)':>28} {'us/line':>8}")  # fmt: skip
        spread = (f"{row['us_per_event']:.2f} ({row['min_us_per_event']:.2f}-"
                  f"{row['max_us_per_event']:.2f})")  # fmt: skip
        print(f"{'':{len(axis) + 1}} {row['series']:38} {row['engine']:7} {row['x']:>7} "
              f"{row['events']:>6} {spread:>28} {row['us_per_line']:>8.3f}")  # fmt: skip


def measure(quick: bool, repeats: int, modes: tuple[EngineMode, ...]) -> list[dict[str, Any]]:
    points = build_points(quick, modes)
    run(points, repeats)
    found = rows(points)
    print_rows(found)
    return found
