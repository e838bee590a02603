"""PNG plots of the core curves (benchmarks/core_results.json) for benchmarks/README.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

HERE = Path(__file__).resolve().parent
STYLE = {"native": "-o", "python": "--s"}


def _series(rows: list[dict[str, Any]], axis: str) -> dict[tuple[str, str], list[dict[str, Any]]]:
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        if row["axis"] == axis:
            found.setdefault((row["series"], row["engine"]), []).append(row)
    return found


def _plot(ax: Any, rows: list[dict[str, Any]], axis: str, metric: str, *, logx: bool) -> None:
    for (series, engine), points in _series(rows, axis).items():
        points.sort(key=lambda r: r["x"])
        xs = [p["x"] for p in points]
        ys = [p[metric] for p in points]
        low = [p[metric] - p[f"min_{metric}"] for p in points]
        high = [p[f"max_{metric}"] - p[metric] for p in points]
        ax.errorbar(xs, ys, yerr=[low, high], fmt=STYLE.get(engine, "-"), capsize=3,
                    label=f"{series} ({engine})" if series != "generated" else engine)  # fmt: skip
    if logx:
        ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)


def draw(results: dict[str, Any], out: Path = HERE) -> list[Path]:
    rows = results["curves"]
    written = []

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    _plot(left, rows, "lines", "us_per_event", logx=True)
    left.set(title="us per event against lines per event", xlabel="lines per event",
             ylabel="us / event (median, min-max)")  # fmt: skip
    _plot(right, rows, "lines", "us_per_line", logx=True)
    right.set(title="us per line", xlabel="lines per event", ylabel="us / line")
    written.append(_save(fig, out / "core_lines.png"))

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for ax, (axis, label) in zip(axes, (("rules", "rules in one rule set"),
                                        ("rule_sets", "rule sets in force (30 rules each)"),
                                        ("versions", "versions of one set (30 rules each)")),
                                 strict=True):  # fmt: skip
        _plot(ax, rows, axis, "us_per_event", logx=True)
        ax.set(title=f"us per event against {axis.replace('_', ' ')}", xlabel=label,
               ylabel="us / event")  # fmt: skip
    written.append(_save(fig, out / "core_catalog.png"))

    fig, ax = plt.subplots(figsize=(6, 4.5))
    _plot(ax, rows, "refund_share", "us_per_event", logx=False)
    ax.set(title="us per event against the share of refunds", xlabel="share of refunds",
           ylabel="us / event")  # fmt: skip
    written.append(_save(fig, out / "core_refunds.png"))

    compiled = results.get("compile") or []
    if compiled:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
        by_rules = sorted(compiled, key=lambda r: r["rules"])
        for axis, marker in (("rules", "o"), ("rule_sets", "s"), ("versions", "^")):
            points = [r for r in by_rules if r["axis"] == axis]
            xs = [r["rules"] for r in points]
            axes[0].plot(xs, [r["compile_cpu_s"] for r in points], f"-{marker}", label=axis)
            axes[1].plot(xs, [r["python_catalog_mb"] + r["native_engine_mb"] for r in points],
                         f"-{marker}", label=axis)  # fmt: skip
            swapped = [r for r in points if "swap_background" in r]
            xs = [r["rules"] for r in swapped]
            axes[2].plot(xs, [r["swap_background"]["stall_ms"] for r in swapped],
                         f"-{marker}", label=f"{axis}, compiled off the loop")  # fmt: skip
            axes[2].plot(xs, [r["swap_on_loop"]["stall_ms"] for r in swapped], f":{marker}",
                         label=f"{axis}, on the loop (before)")  # fmt: skip
        axes[0].set(title="catalog compile, CPU s", xlabel="rules in the catalog",
                    ylabel="CPU seconds (parse + compile + native)")  # fmt: skip
        axes[1].set(title="RSS of the compiled catalog", xlabel="rules in the catalog",
                    ylabel="MB (Python + native)")  # fmt: skip
        axes[2].set(title="longest batch stall during a live swap", xlabel="rules in the catalog",
                    ylabel="ms over the median batch")  # fmt: skip
        for ax in axes:
            ax.set_xscale("log")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize=7)
        axes[2].set_yscale("log")
        written.append(_save(fig, out / "core_compile.png"))
    return written


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
