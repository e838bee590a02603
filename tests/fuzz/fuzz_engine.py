"""Coverage-guided fuzzing of decode + price + encode in the Python engine (atheris), with
the native engine checked against it on every input it answers.

    python tests/fuzz/fuzz_engine.py [libFuzzer flags] CORPUS_DIR SEED_DIR

`make fuzz` runs it for a fixed time on a corpus seeded from schemas/examples and the
sample events (tests/fuzz/run.py). A crash is an exception out of `Engine.handle` (it
must answer every input: a result or a rejection), a native answer that differs from
Python's, or an output that is not the JSON it claims; libFuzzer saves the input.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["cashback"]):
    from cashback.domain.engine import Engine, Output, Tally
    from cashback.domain.native_engine import NATIVE_OUTCOMES, native_module
    from cashback.domain.native_spec import export_catalog
    from cashback.rulefiles import load_catalog

import orjson

ROOT = Path(__file__).resolve().parents[2]
CATALOG = load_catalog([ROOT / "deploy" / "examples" / "rules"])
MAX_EVENT_BYTES = 64 * 1024
ENGINE = Engine(CATALOG, MAX_EVENT_BYTES)
_module = native_module()
NATIVE = (
    _module.Engine(export_catalog(CATALOG, MAX_EVENT_BYTES), Output, Tally) if _module else None
)


def check(data: bytes) -> None:
    handled = ENGINE.handle(data)
    if handled.rejection is None:
        for output in handled.outputs:
            # Money stays an integer whose sign is the kind's: + accrual, - reversal.
            document = orjson.loads(output.value)
            money = document if output.destination == "accruals" else document["params"]
            amount = money["amount_minor"]
            sign_ok = amount >= 0 if document["kind"] == "accrual" else amount <= 0
            assert type(amount) is int and sign_ok, output
    if NATIVE is None:
        return
    answer = NATIVE.handle(data)
    if answer is None:
        return
    outcome, outputs, tallies, event_id, currency, purchase_minor, event_us = answer
    assert handled.rejection is None, f"native accepted what Python refuses: {handled.rejection}"
    assert NATIVE_OUTCOMES[outcome] == handled.outcome
    assert [tuple(o) for o in outputs] == [tuple(o) for o in handled.outputs]
    assert [tuple(t) for t in tallies] == [tuple(t) for t in handled.tallies]
    assert (event_id, currency, purchase_minor, event_us) == (
        handled.event_id, handled.currency, handled.purchase_minor, handled.event_time_us,
    )  # fmt: skip


def main() -> None:
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
