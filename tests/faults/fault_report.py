"""The verdicts of a fault run, and docs/reliability.md written from them.

Each verdict is appended to a JSON-lines file as its cell ends (so a run cut short keeps
what it measured); `write_report` turns that file into the markdown table. The table is
never typed: `make faults` runs the cells, then this module.
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

ENV_RESULTS = "CASHBACK_FAULTS_RESULTS"
BEGIN, END = "<!-- faults:begin -->", "<!-- faults:end -->"


class Verdict(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


def record(verdict: Verdict) -> None:
    target = os.environ.get(ENV_RESULTS)
    if not target:
        return
    with Path(target).open("ab") as out:
        out.write(orjson.dumps(verdict.as_dict()) + b"\n")


def record_stall(cell: str, guarantee: str, events: int, reason: str, seconds: float) -> None:
    """A cell that never finished: the stream stalled for a cause the workers named."""
    target = os.environ.get(ENV_RESULTS)
    if not target:
        return
    row = {"cell": cell, "guarantee": guarantee, "events": events, "stalled": reason}
    with Path(target).open("ab") as out:
        out.write(orjson.dumps({**row, "seconds": round(seconds), "exact": False}) + b"\n")


def _row(v: dict[str, object]) -> str:
    if "stalled" in v:
        return (
            f"| {v['cell']} | {str(v['guarantee']).replace('_', ' ')} | {v['events']:,} | "
            f"- | - | - | - | - | **stalled**: {v['stalled']} | - | {v['seconds']} |"
        )

    def yes(flag: object) -> str:
        return "yes" if flag else "**NO**"

    recovery = ", ".join(f"{r:.1f}" for r in v["recovery_seconds"]) or "-"  # type: ignore[attr-defined]
    metrics = v.get("metrics") or {}
    shown = ", ".join(f"{k} {int(n)}" for k, n in metrics.items() if n)  # type: ignore[union-attr]
    return (
        f"| {v['cell']} | {v['guarantee'].replace('_', ' ')} | {v['events']:,} | "  # type: ignore[union-attr]
        f"{v['lost']} | {v['duplicated']} | {yes(v['payout_exact'])} | {yes(v['order_kept'])} | "
        f"{recovery} | {v['worker']} | {shown or '-'} | {v['seconds']} |"
    )


def write_report(results: Path, target: Path) -> None:
    verdicts = [orjson.loads(line) for line in results.read_bytes().splitlines() if line]
    exact = [v for v in verdicts if v["guarantee"] == "exactly_once"]
    bad = [v["cell"] for v in exact if not v["exact"] and "stalled" not in v]
    stalled = [v["cell"] for v in verdicts if "stalled" in v]
    lines = [
        BEGIN,
        "## Fault matrix",
        "",
        f"Written by `make faults` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"({platform.machine()}, {os.cpu_count()} CPUs shared with other jobs, Python "
        f"{sys.version.split()[0]}): {len(verdicts)} cells, {len(exact)} exactly-once, "
        + (
            f"**not exact: {', '.join(bad)}**"
            if bad
            else "every exactly-once cell that ran to the end exact"
        )
        + (f"; **stalled, not judged: {', '.join(stalled)}**" if stalled else "")
        + ". Recovery: seconds from the fault lifted to the next accrual a read_committed "
        "reader saw. Lost and duplicated count accruals and dead letters.",
        "",
        "| fault | guarantee | events | lost | duplicated | payout exact | order per key | "
        "recovery s | worker | metrics during the fault | cell s |",
        "|---|---|---:|---:|---:|---|---|---|---|---|---:|",
        *(_row(v) for v in verdicts),
        "",
        END,
    ]
    replace_section(target, "\n".join(lines))


def replace_section(path: Path, text: str) -> None:
    """Put `text` (from BEGIN to END) in place of the old section, or append it."""
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + text + rest.split(END, 1)[1]
    else:
        new = old.rstrip() + ("\n\n" if old else "") + text + "\n"
    path.write_text(new)


if __name__ == "__main__":
    write_report(Path(sys.argv[1]), Path(sys.argv[2]))
