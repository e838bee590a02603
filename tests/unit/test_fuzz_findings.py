"""Every input `make fuzz` ever flagged (tests/fuzz/findings/<engine>/), replayed through
both engines: the Python engine answers it (a result or a rejection, never an exception)
and the native engine, where it answers, gives the same bytes. New findings land in that
folder (tests/fuzz/run.py copies them), so each becomes a case here by being committed;
a finding that needs a sharper assertion gets its own test next to the behaviour it is
about. The seed corpus (schemas/examples and the sample events) runs too."""

from __future__ import annotations

from pathlib import Path

import pytest

from cashback.rulefiles import load_catalog
from engines import CheckedEngine

ROOT = Path(__file__).resolve().parents[2]
FINDINGS = sorted((ROOT / "tests" / "fuzz" / "findings").glob("*/*"))
SEEDS = sorted((ROOT / "schemas" / "examples" / "purchase.v1").rglob("*.json"))
ENGINE = CheckedEngine(load_catalog([ROOT / "deploy" / "examples" / "rules"]), 64 * 1024)


@pytest.mark.parametrize("path", FINDINGS or [None], ids=lambda p: p.name if p else "none-yet")
def test_a_fuzz_finding_is_answered_the_same_by_both_engines(path: Path | None) -> None:
    if path is None:
        pytest.skip("make fuzz has not flagged any input yet (see tests/fuzz/run.py)")
    ENGINE.handle(path.read_bytes())


def test_the_seed_corpus_is_answered_the_same_by_both_engines() -> None:
    for path in SEEDS:
        raw = path.read_bytes()
        ENGINE.handle(raw)
        ENGINE.handle(raw.replace(b"{", b'{"type":"x",', 1))
