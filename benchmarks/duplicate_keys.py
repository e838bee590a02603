"""What refusing repeated fields costs the Python decode: `decode_event` with the
duplicate-key check and with it switched off, interleaved in one run on the same events.

- `sample`: the deterministic sample stream (compact JSON, as producers write it);
- `pretty`: the same events indented (a blank after each value: the regex pre-check runs);
- `repeated`: each event with `total_minor` given twice (the slow exact path, then refused).

    python -m benchmarks.duplicate_keys [--events 20000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable

import orjson

from cashback.devtools.sample_stream import generate
from cashback.domain import events
from cashback.domain.events import decode_event


def per_event_us(decode: Callable[[bytes], object], values: list[bytes]) -> float:
    gc.collect()
    start = time.perf_counter()
    for value in values:
        decode(value)
    return (time.perf_counter() - start) / len(values) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    sample = [r.value for r in generate(args.events, seed=5, bad_every=None) if r.value]
    inputs = {
        "sample": sample,
        "pretty": [orjson.dumps(orjson.loads(v), option=orjson.OPT_INDENT_2) for v in sample],
        "repeated": [b'{"total_minor":1,' + v[1:] for v in sample],
    }
    original = events.certainly_unique
    print(f"decode_event, {len(sample)} events, {args.repeats} repeats (median, min-max us)")
    for name, values in inputs.items():
        times: dict[str, list[float]] = {"with the check": [], "without": []}
        for _ in range(args.repeats):
            events.certainly_unique = original
            times["with the check"].append(per_event_us(decode_event, values))
            events.certainly_unique = lambda *_args: True  # type: ignore[assignment]
            times["without"].append(per_event_us(decode_event, values))
        events.certainly_unique = original
        medians = {k: statistics.median(v) for k, v in times.items()}
        shown = "  ".join(
            f"{k} {medians[k]:6.2f} ({min(v):.2f}-{max(v):.2f})" for k, v in times.items()
        )
        print(f"  {name:9} {shown}  ratio {medians['with the check'] / medians['without']:.2f}")


if __name__ == "__main__":
    main()
