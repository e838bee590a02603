"""Core pricing speed: decode -> price -> encode through `handle`, no Kafka.

Each catalog prices the same deterministic sample stream with both engines (the native
accelerator, when built, and the Python reference), all runs interleaved within each repeat
so machine noise hits them alike:

- `realistic`: the sample rule sets in deploy/examples/rules (several rule sets and
  versions, 20+ rules, one CEL expression);
- `realistic-no-cel`: the same without the rule that has a CEL `expr`, to show what the
  slow path costs;
- `1000-rules`: one generated rule set of 1,000 rules (category, sku, merchant and MCC
  promotions with tier/channel/day conditions, and a catch-all), which the engine must
  price through its indexes instead of scanning every rule.

Then the batch step on the realistic catalog, as the worker runs it (batches of 2,000
consumed records in, produce requests and counts out): the native batch call
(`NativeEngine.price_batch`) on one thread (the goal's one core) and on two, and the
same step calling the native engine per record (`price_batch_per_event`, the path
before it); the batch call's requests and counts are checked byte-identical to the
Python reference's (`price_records`) first.

Then the decoders alone on the same events: our typed `msgspec` decode (with every
constraint of the contract), an untyped `msgspec` decode, `orjson.loads`, and
`fastjsonschema` validating the parsed dict against schemas/purchase.v1.schema.json.

Then the scaling curves (benchmarks/curves.py: lines per event, catalog size, refunds),
catalog compile time, memory and live-swap stall per size (benchmarks/compile_probe.py, a
fresh process each), written to the JSON file and drawn as PNGs (benchmarks/plots.py).

    python -m benchmarks.core [--events 20000] [--repeats 5] [--json FILE] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
import msgspec
import orjson

from benchmarks import curves, plots
from benchmarks.catalogs import thousand_rules, without_cel
from benchmarks.records import Consumed, consumed
from cashback.devtools.sample_stream import generate
from cashback.domain.batch import Routes, price_records
from cashback.domain.catalog import Catalog
from cashback.domain.engine import Engine, Handled
from cashback.domain.events import decode_event
from cashback.domain.native_engine import (
    EngineMode,
    NativeEngine,
    Pricer,
    make_engine,
    native_module,
)
from cashback.rulefiles import load_catalog
from cashback.runtime.batch import price_batch, price_batch_per_event

BATCH = 2000  # the worker's default batch_size
ROUTES = Routes("accruals", "notifications", "dlq")
ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "examples" / "rules"
SCHEMAS = ROOT / "schemas"
PROBES = (("rules", curves.RULES), ("rule_sets", curves.SETS), ("versions", curves.VERSIONS))


def decoders() -> dict[str, Callable[[bytes], object]]:
    validate = fastjsonschema.compile(
        orjson.loads((SCHEMAS / "purchase.v1.schema.json").read_bytes())
    )
    untyped = msgspec.json.Decoder()
    return {
        "msgspec typed (ours)": decode_event,
        "msgspec untyped": untyped.decode,
        "orjson.loads": orjson.loads,
        "orjson + fastjsonschema": lambda raw: validate(orjson.loads(raw)),
    }


def _same(a: Handled, b: Handled) -> bool:
    return (a.outcome, a.outputs, a.tallies, a.event_id, a.event_time_us) == (
        b.outcome, b.outputs, b.tallies, b.event_id, b.event_time_us
    )  # fmt: skip


def run_once(handle: Callable[[bytes | None], object], values: list[bytes | None]) -> float:
    gc.collect()
    start = time.perf_counter()
    for value in values:
        handle(value)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, help="interleaved repeats (5; --quick: 1)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--quick", action="store_true", help="a smoke run: few events")
    parser.add_argument("--no-curves", action="store_true", help="the sample stream only")
    args = parser.parse_args()
    if args.quick:
        args.events = min(args.events, 2000)
    if args.repeats is None:
        args.repeats = 1 if args.quick else 5
    started = time.monotonic()

    values = [r.value for r in generate(args.events, seed=7, bad_every=None)]
    realistic = load_catalog([RULES])
    catalogs = {
        "realistic": realistic,
        "realistic-no-cel": without_cel(realistic),
        "1000-rules": thousand_rules(),
    }
    modes: tuple[EngineMode, ...] = ("native", "python") if native_module() else ("python",)
    engines: dict[str, Pricer] = {}
    catalog_of: dict[str, str] = {}
    for name, catalog in catalogs.items():
        for mode in modes:
            engines[f"{name} ({mode})"] = make_engine(catalog, mode=mode)
            catalog_of[f"{name} ({mode})"] = name
    answers = {name: [e.handle(v) for v in values] for name, e in engines.items()}
    outputs = {name: sum(len(h.outputs) for h in found) for name, found in answers.items()}
    for name in engines:  # the engines must agree before their speed counts
        reference = answers[f"{catalog_of[name]} (python)"]
        if not all(_same(a, b) for a, b in zip(answers[name], reference, strict=True)):
            raise SystemExit(f"{name}: different outputs from the Python engine")
    declined = {
        name: e.declined if isinstance(e, NativeEngine) else None  # over the one pass above
        for name, e in engines.items()
    }
    timings: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.repeats):
        for name, engine in engines.items():
            timings[name].append(run_once(engine.handle, values))

    rows: list[dict[str, Any]] = []
    for name, seconds in timings.items():
        rates = sorted(len(values) / s for s in seconds)
        catalog = catalogs[catalog_of[name]]
        rows.append({
            "name": name,
            "rules": sum(len(rs.rules) for rs in catalog.all()),
            "rule_set_versions": len(catalog),
            "events_per_s": round(statistics.median(rates)),
            "min_events_per_s": round(rates[0]),
            "max_events_per_s": round(rates[-1]),
            "us_per_event": round(1e6 / statistics.median(rates), 2),
            "outputs_per_event": round(outputs[name] / len(values), 2),
            "left_to_python": declined[name],
        })  # fmt: skip
    base = rows[0]["events_per_s"]
    print(f"{len(values)} sample events, {args.repeats} interleaved repeats, one core")
    print(f"{'catalog (engine)':27} {'rules':>6} {'events/s (min-max)':>26} {'us/event':>9} "
          f"{'outputs/ev':>10} {'vs first':>9} {'to python':>9}")  # fmt: skip
    for row in rows:
        spread = (
            f"{row['events_per_s']:,} ({row['min_events_per_s']:,}-{row['max_events_per_s']:,})"
        )
        left = "" if row["left_to_python"] is None else row["left_to_python"]
        ratio = row["events_per_s"] / base
        print(f"{row['name']:27} {row['rules']:>6} {spread:>26} {row['us_per_event']:>9} "
              f"{row['outputs_per_event']:>10} {ratio:>8.2f}x {left:>9}")  # fmt: skip
    by_name = {row["name"]: row for row in rows}
    if "realistic (native)" in by_name:
        print("\nnative / python, same catalog, same run:")
        for name in catalogs:
            ratio = (
                by_name[f"{name} (native)"]["events_per_s"]
                / by_name[f"{name} (python)"]["events_per_s"]
            )
            print(f"  {name:18} {ratio:5.2f}x")
    batch_rows = batch_step(values, realistic, args.repeats) if "native" in modes else []
    plain = [v for v in values if v is not None]
    found = decoders()
    decode_times: dict[str, list[float]] = {name: [] for name in found}
    for _ in range(args.repeats):
        for name, decode in found.items():
            decode_times[name].append(run_once(decode, plain))  # type: ignore[arg-type]
    size = sum(map(len, plain)) // len(plain)
    print(f"\ndecoders, {len(plain)} events of {size} bytes on average")
    decoding = []
    for name, seconds in decode_times.items():
        per_event = sorted(s / len(plain) * 1e6 for s in seconds)
        median = statistics.median(per_event)
        low, high = round(per_event[0], 2), round(per_event[-1], 2)
        decoding.append({"name": name, "us_per_event": round(median, 2), "min_us": low,
                         "max_us": high})  # fmt: skip
        print(f"  {name:26} {median:6.2f} us ({per_event[0]:.2f}-{per_event[-1]:.2f})")
    found: dict[str, Any] = {"runs": rows, "batch_step": batch_rows, "decoders": decoding}
    if not args.no_curves:
        print("\nscaling curves (us/event, us/line; Python prices fewer events at big sizes)")
        found["curves"] = curves.measure(args.quick, args.repeats, modes)
        found["compile"] = compile_probes(args.quick)
    if args.json:
        machine = {"python": platform.python_version(), "cpus": os.cpu_count(),
                   "processor": platform.processor() or platform.machine(),
                   "load_average": os.getloadavg(), "quick": args.quick,
                   "seconds": round(time.monotonic() - started)}  # fmt: skip
        found = {"machine": machine, **found}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(orjson.dumps(found, option=orjson.OPT_INDENT_2))
        if "curves" in found:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            for path in plots.draw(found, out=args.json.parent):
                print(f"wrote {path}")


def batch_step(values: list[bytes | None], catalog: Catalog, repeats: int) -> list[dict[str, Any]]:
    """The realistic catalog's batch step, one call per batch against one per record."""
    records = consumed(generate(len(values), seed=7, bad_every=None))
    batches = [records[i : i + BATCH] for i in range(0, len(records), BATCH)]
    engine = make_engine(catalog, mode="native")
    reference = Engine(catalog)
    for part in batches:  # byte-identical to the reference before its speed counts
        expected, found = (
            price_records(reference.handle, part, ROUTES),
            price_batch(engine, part, ROUTES),
        )
        if [tuple(r) for r in found.requests] != [tuple(r) for r in expected.requests]:
            raise SystemExit("native batch: different requests from the Python reference")
        if found.stats != expected.stats:
            raise SystemExit("native batch: different counts from the Python reference")
    assert isinstance(engine, NativeEngine)

    def threads(n: int) -> Callable[[Pricer, list[Consumed], Routes], object]:
        def step(found: Pricer, part: list[Consumed], routes: Routes) -> object:
            engine.pricing_threads = n
            return price_batch(found, part, routes)

        return step

    # One core is the goal's measure; the worker prices on up to 2 threads (GIL released).
    steps = {"native batch call, 1 thread": threads(1), "native batch call, 2 threads": threads(2),
             "native per record": price_batch_per_event}  # fmt: skip
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            gc.collect()
            start = time.perf_counter()
            for part in batches:
                step(engine, part, ROUTES)
            seconds[name].append(time.perf_counter() - start)
    print(f"\nbatch step, realistic catalog, batches of {BATCH}, one core"
          " (requests and counts checked identical to the Python reference first)")  # fmt: skip
    rows = []
    for name, timing in seconds.items():
        rates = sorted(len(records) / s for s in timing)
        row = {"name": name, "events_per_s": round(statistics.median(rates)),
               "min_events_per_s": round(rates[0]), "max_events_per_s": round(rates[-1]),
               "us_per_event": round(1e6 / statistics.median(rates), 2)}  # fmt: skip
        rows.append(row)
        print(f"  {name:28} {row['events_per_s']:>10,} events/s ({row['min_events_per_s']:,}-"
              f"{row['max_events_per_s']:,}), {row['us_per_event']} us/event")  # fmt: skip
    return rows


def compile_probes(quick: bool) -> list[dict[str, Any]]:
    """Compile time, memory and swap stall per catalog size, each in a fresh process."""
    print("\ncatalog compile (CPU s and wall s), RSS, live swap: longest batch stall over the"
          " median batch, ms")  # fmt: skip
    found = []
    for axis, sizes in PROBES:
        for size in sizes:
            command = [sys.executable, "-m", "benchmarks.compile_probe", axis, str(size)]
            if quick and size > 1000:
                command.append("--no-swap")
            done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
            row = orjson.loads(done.stdout.strip().splitlines()[-1])
            found.append(row)
            loop, background = row.get("swap_on_loop"), row.get("swap_background")
            swap = (f"on the loop {loop['stall_ms']:>8.1f}, off it {background['stall_ms']:>7.1f}"
                    if loop and background else "(swap not measured)")  # fmt: skip
            print(f"  {axis:9} {size:>6}: {row['rules']:>6} rules, compile "
                  f"{row['compile_cpu_s']:6.2f} CPU s ({row['compile_s']:6.2f} s), "
                  f"{row['python_catalog_mb']:6.1f} + {row['native_engine_mb']:5.1f} MB, "
                  f"swap stall {swap}")  # fmt: skip
    return found


if __name__ == "__main__":
    main()
