"""A simulation report as tables for people (`cashback simulate` without --json).

Amounts are minor units with thousands separators; rates are exact to two decimals. PAYOUT
is net: accruals minus reversals.
"""

from __future__ import annotations

from collections.abc import Sequence

from cashback.reports.numbers import grouped, percent_text
from cashback.reports.simulate_report import Delta, Figures, Report


def render(report: Report) -> str:
    out = [_input_line(report)]
    out.append(
        "versions: the newest of each rule set for every event (--as-of-latest)"
        if report.as_of_latest
        else "versions: the one in force at each event's time (a refund: its original's)"
    )
    compared = any(row.baseline is not None for row in report.rulesets)
    headers = ["RULE SET / RULE", "CUR", "VERSIONS", "EVENTS", "ELIGIBLE", "REVERSALS", "BASE"]
    headers += ["PAYOUT", "RATE"]
    if compared:
        headers += ["BASELINE PAYOUT", "BASELINE RATE", "DELTA", "CHANGE"]
    rows: list[list[str]] = []
    for row in report.rulesets:
        versions = _versions(row.versions)
        if compared:
            versions = f"{_versions(row.baseline_versions or [])} → {versions}"
        cells = [row.ruleset, row.currency, versions, *_figures(row.figures, events=True)]
        if compared:
            cells += _compared(row.figures, row.baseline, row.delta)
        rows.append(cells)
        for rule in row.rules:
            cells = ["  " + rule.rule, "", "", *_figures(rule.figures, events=False)]
            if compared:
                cells += _compared(rule.figures, rule.baseline, rule.delta)
            rows.append(cells)
    out.append("")
    out.extend(_table(headers, rows, left=3) if rows else ["no rule set applies to any event"])
    out.append("")
    totals = ["CUR", "PURCHASES", "REFUNDS", "SALES", "PAYOUT", "COST"]
    if compared:
        totals += ["BASELINE PAYOUT", "DELTA"]
    total_rows = []
    for currency in report.currencies:
        cells = [
            currency.currency,
            grouped(currency.purchases),
            grouped(currency.refunds),
            grouped(currency.sales_minor),
            grouped(currency.payout_minor),
            _rate(percent_text(currency.payout_minor, currency.sales_minor)),
        ]
        if compared:
            cells += [
                grouped(currency.baseline_payout_minor or 0),
                _signed(currency.delta_payout_minor or 0),
            ]
        total_rows.append(cells)
    out.extend(_table(totals, total_rows, left=1))
    out.append("")
    out.append("Amounts in minor units. ELIGIBLE: purchases that earned; PAYOUT: accruals plus")
    out.append(
        "reversals; RATE: PAYOUT / BASE; COST: PAYOUT of every rule set / SALES (purchases)."
    )
    return "\n".join(out) + "\n"


def _versions(versions: list[int]) -> str:
    return ",".join(map(str, versions)) or "-"


def _input_line(report: Report) -> str:
    dead = sum(report.dead_letters.values())
    text = f"input: {_count(report.lines, 'line')}, {_count(report.lines - dead, 'event')}"
    if dead:
        codes = ", ".join(f"{code} {count:,}" for code, count in report.dead_letters.items())
        text += f", {_count(dead, 'dead letter')} ({codes})"
    return text


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _figures(figures: Figures, *, events: bool) -> list[str]:
    return [
        grouped(figures.events) if events else "",
        grouped(figures.eligible),
        grouped(figures.reversals),
        grouped(figures.base_minor),
        grouped(figures.payout_minor),
        _rate(percent_text(figures.payout_minor, figures.base_minor)),
    ]


def _compared(now: Figures, baseline: Figures | None, delta: Delta | None) -> list[str]:
    if baseline is None or delta is None:
        return ["", "", "", ""]
    if delta.payout_minor == 0:
        change = "0%"
    elif baseline.payout_minor == 0:
        change = "new" if now.payout_minor else "-"
    else:
        change = _signed_rate(percent_text(delta.payout_minor, abs(baseline.payout_minor), 1))
    return [
        grouped(baseline.payout_minor),
        _rate(percent_text(baseline.payout_minor, baseline.base_minor)),
        _signed(delta.payout_minor),
        change,
    ]


def _rate(text: str | None) -> str:
    return "-" if text is None else f"{text}%"


def _signed(amount: int) -> str:
    return f"{amount:+,}" if amount else "0"


def _signed_rate(text: str | None) -> str:
    if text is None:
        return "-"
    return f"{text}%" if text.startswith("-") else f"+{text}%"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int) -> list[str]:
    """Columns padded to fit; the first `left` columns left-aligned, numbers right-aligned."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    return [line(headers), *(line(row) for row in rows)]
