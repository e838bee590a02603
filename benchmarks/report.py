"""Repeats summed up into one row per system, and the rows as JSON, Markdown and a screen table."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

# (numerator, denominator) run names whose events/s ratio the report shows, with the goal.
# Goals: issue 13.
RATIOS: tuple[tuple[str, str, float], ...] = (
    ("cashback-eos", "passthrough", 0.6),
    ("cashback-eos", "quixstreams-eos", 3.0),
    ("cashback-alo", "passthrough", 0.75),
    ("cashback-alo", "quixstreams-alo", 2.0),
    ("cashback-eos", "passthrough-eos", 0.85),
    # BENCH_BASELINE runs (an earlier commit's worker beside this one): after / before.
    ("cashback-eos", "cashback-eos-baseline", 0.0),
    ("cashback-alo", "cashback-alo-baseline", 0.0),
    # The second runtime on the same batch step: how much the client around it costs.
    ("faust-eos", "cashback-eos", 0.0),
    ("faust-alo", "cashback-alo", 0.0),
    # The exactly-once ceiling of a JVM team (Kafka Streams copying each input twice).
    ("cashback-eos", "kstreams-passthrough-eos", 0.0),
    ("passthrough-eos", "kstreams-passthrough-eos", 0.0),
)
P99_GOAL_MS = 200.0


def _spread(row: dict[str, Any], name: str, values: Sequence[float], digits: int) -> None:
    """`name` the median, `name_min` / `name_max` the spread; None when nothing was measured."""
    if not values:
        row[name] = row[f"{name}_min"] = row[f"{name}_max"] = None
        return
    row[name] = round(statistics.median(values), digits)
    row[f"{name}_min"] = round(min(values), digits)
    row[f"{name}_max"] = round(max(values), digits)


def summarize(
    name: str, throughput: Sequence[Mapping[str, Any]], latency: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    row: dict[str, Any] = {"name": name}
    failed = [r for r in (*throughput, *latency) if "error" in r]
    throughput = [r for r in throughput if "error" not in r]
    latency = [r for r in latency if "error" not in r]
    _spread(row, "events_per_s", [r["events_per_s"] for r in throughput], 0)
    _spread(row, "p50_ms", [r["p50_ms"] for r in latency], 1)
    _spread(row, "p99_ms", [r["p99_ms"] for r in latency], 1)
    _spread(row, "rss_mb", [r["rss_mb"] for r in throughput], 1)
    _spread(row, "cpu_s_per_1k", [r["cpu_s_per_1k"] for r in throughput], 3)
    row["repeats"] = len(throughput)
    row["latency_repeats"] = len(latency)
    row["complete"] = not failed and all(r["complete"] for r in (*throughput, *latency))
    row["errors"] = [r["error"] for r in failed]
    row["throughput_runs"] = list(throughput)
    row["latency_runs"] = list(latency)
    return row


def ratios(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    rate = {row["name"]: row["events_per_s"] for row in rows}
    found = []
    for top, bottom, goal in RATIOS:
        if rate.get(top) and rate.get(bottom):
            value = rate[top] / rate[bottom]
            found.append({"ratio": f"{top} / {bottom}", "value": round(value, 3), "goal": goal})
    return found


def _cell(row: Mapping[str, Any], name: str, digits: int) -> str:
    value = row.get(name)
    if value is None:
        return "-"
    low, high = row.get(f"{name}_min"), row.get(f"{name}_max")
    text = f"{value:,.{digits}f}"
    if low is not None and high is not None and row.get("repeats", 1) > 1 and low != high:
        text += f" ({low:,.{digits}f}-{high:,.{digits}f})"
    return text


HEADER = ("run", "events/s", "p50 ms", "p99 ms", "peak RSS MB", "CPU s / 1k events", "ok")


def table_rows(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (
            row["name"],
            _cell(row, "events_per_s", 0),
            _cell(row, "p50_ms", 1),
            _cell(row, "p99_ms", 1),
            _cell(row, "rss_mb", 0),
            _cell(row, "cpu_s_per_1k", 3),
            "yes" if row["complete"] else "NO",
        )
        for row in rows
    ]


def screen(results: Mapping[str, Any]) -> str:
    body = [HEADER, *table_rows(results["runs"])]
    widths = [max(len(line[i]) for line in body) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
             for line in body]  # fmt: skip
    lines.insert(1, "  ".join("-" * width for width in widths))
    for ratio in results["ratios"]:
        lines.append(f"{ratio['ratio']}: {ratio['value']:.2f} (goal >= {ratio['goal']})")
    for name, why in results.get("skipped", {}).items():
        lines.append(f"{name}: skipped ({why})")
    return "\n".join(lines)


def markdown(results: Mapping[str, Any]) -> str:
    machine = results["machine"]
    config = results["config"]
    lines = [
        "# Benchmark results",
        "",
        f"- date: {results['date']}",
        f"- command: `{results['command']}` ({results['duration_s']:.0f} s)",
        f"- machine: {machine['cpu']} x {machine['cores']} cores, {machine['memory_gb']} GB, "
        f"{machine['os']}; load average {machine['load_before'] or '-'} before, "
        f"{machine['load_after']} after",
        *([f"- note: {machine['note']}"] if machine.get("note") else []),
        f"- software: Python {machine['python']}, confluent-kafka {machine['confluent_kafka']} "
        f"(librdkafka {machine['librdkafka']}), Quix Streams {machine['quixstreams']}, "
        f"broker {machine['broker']}",
        f"- workload: {config['events']:,} events ({config['workload']}) preloaded into "
        f"{config['partitions']} partitions; {config['repeats']} repeats; latency at "
        f"{config['latency_rate']:,} events/s for {config['latency_seconds']} s "
        f"x {config['latency_repeats']}",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
        *("| " + " | ".join(cells) + " |" for cells in table_rows(results["runs"])),
        "",
        "Medians over the repeats, (min-max) in brackets.",
        "",
        "| ratio of events/s | value | goal |",
        "|---|---|---|",
        *(f"| {r['ratio']} | {r['value']:.2f} | >= {r['goal']} |" for r in results["ratios"]),
    ]
    lines += ["", *_memory(results["runs"])]
    for name, why in results.get("skipped", {}).items():
        lines.append(f"\n{name}: skipped ({why})")
    return "\n".join(lines) + "\n"


def _memory(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """RSS at the start and the end of each fixed-rate run: flat, or growing?"""
    found = [
        f"| {row['name']} | "
        + ", ".join(f"{r['rss_start_mb']:.0f} -> {r['rss_end_mb']:.0f}" for r in runs)
        + " |"
        for row in rows
        if (runs := row.get("latency_runs"))
    ]
    if not found:
        return []
    return ["| RSS MB during each fixed-rate run (first -> last sample) | |", "|---|---|", *found]
