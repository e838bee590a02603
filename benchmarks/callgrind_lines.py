"""Instructions per line of the native engine, counted by callgrind (load-independent).

    python -m benchmarks.callgrind_lines [--json FILE]    # runs valgrind, prints a table

One process under callgrind builds the engines and events uninstrumented, then prices
`EVENTS` events of 100 and of 1,000 lines with each catalog variant, and the sample
stream with generated catalogs of 30, 1,000 and 10,000 rules. Only instructions inside
the engine's `handle` are collected (decode, price, encode, the Python objects it
builds); a `time.sleep(0)` before each part dumps the count so far.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Any

import orjson

from benchmarks import catalogs
from benchmarks.curves import full_lines, sample
from cashback.domain.native_engine import NativeEngine

VARIANTS = ("CEL rule", "CEL rule, every line built (before)", "no CEL rule")
LINES = (100, 1000)
EVENTS = 20
RULES = (30, 1000, 10_000)
SAMPLE_EVENTS = 200


def child() -> None:
    realistic = catalogs.load_examples()
    engines = {
        VARIANTS[0]: NativeEngine(realistic),
        VARIANTS[1]: NativeEngine(full_lines(catalogs.load_examples())),
        VARIANTS[2]: NativeEngine(catalogs.without_cel(realistic)),
    }
    sized = {n: NativeEngine(catalogs.build(catalogs.rules_docs(n))) for n in RULES}
    purchases, _ = sample(SAMPLE_EVENTS * 2)
    stream = purchases[:SAMPLE_EVENTS]
    bases = [orjson.loads(v) for v in purchases[:EVENTS]]
    events = {n: [orjson.dumps(catalogs.with_lines(b, n)) for b in bases] for n in LINES}
    # Setup ran uninstrumented (fast); from here every instruction is seen.
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True,
                   capture_output=True)  # fmt: skip
    for lines in LINES:
        for variant in VARIANTS:
            time.sleep(0)  # callgrind dumps here: the next part is this variant
            _price(engines[variant], events[lines])
    for n in RULES:
        time.sleep(0)
        _price(sized[n], stream)


def _price(engine: NativeEngine, values: list[bytes]) -> None:
    for value in values:
        if engine.handle(value) is None:
            raise SystemExit("declined")


def measure() -> dict[str, list[dict[str, Any]]]:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no",
             f"--callgrind-out-file={out}/cg.out",
             "--toggle-collect=cashback_native::engine::handle*", "--dump-before=time_sleep",
             sys.executable, "-m", "benchmarks.callgrind_lines", "--child"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        parts: dict[int, int] = {}
        for path in glob.glob(os.path.join(out, "cg.out*")):
            with open(path) as f:
                text = f.read()
            part = re.search(r"^part: (\d+)", text, re.M)
            total = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
            if part and total:
                parts[int(part.group(1))] = int(total.group(1))
    counts = [parts[k] for k in sorted(parts)][-(len(LINES) * len(VARIANTS) + len(RULES)) :]
    lines_rows, rules_rows = [], []
    combos = [(lines, variant) for lines in LINES for variant in VARIANTS]
    for (lines, variant), spent in zip(combos, counts, strict=False):
        lines_rows.append({"variant": variant, "lines": lines, "events": EVENTS,
                           "instructions_per_line": round(spent / (EVENTS * lines))})  # fmt: skip
        print(f"{lines:>5} lines  {variant:38} "
              f"{lines_rows[-1]['instructions_per_line']:>8,} instructions/line")  # fmt: skip
    for n, spent in zip(RULES, counts[len(combos) :], strict=True):
        rules_rows.append({"rules": n, "events": SAMPLE_EVENTS,
                           "instructions_per_event": round(spent / SAMPLE_EVENTS)})  # fmt: skip
        print(f"{n:>6} rules, sample events: "
              f"{rules_rows[-1]['instructions_per_event']:>9,} instructions/event")  # fmt: skip
    return {"lines": lines_rows, "rules": rules_rows}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--json")
    args = parser.parse_args()
    if args.child:
        child()
        return
    rows = measure()
    if args.json:
        with open(args.json, "wb") as out:
            out.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
