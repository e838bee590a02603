"""Draws the dashboard's panels to one PNG from query results, laid out as Grafana lays them
out (24-column grid, a band per row), with each panel's unit and legend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
from prometheus_support import Sample

BACKGROUND = "#111217"
PANEL = "#181b1f"
TEXT = "#ccccdc"
GRID = "#2c3235"
PALETTE = ("#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9")


def _format(unit: str) -> FuncFormatter:
    def percent(value: float, _: int) -> str:
        return f"{value * 100:.3g}%"

    def seconds(value: float, _: int) -> str:
        if abs(value) >= 86400:
            return f"{value / 86400:.3g} d"
        if abs(value) >= 3600:
            return f"{value / 3600:.3g} h"
        if abs(value) >= 1 or value == 0:
            return f"{value:.3g} s"
        return f"{value * 1000:.3g} ms"

    def short(value: float, _: int) -> str:
        for size, suffix in ((1e9, " B"), (1e6, " M"), (1e3, " K")):
            if abs(value) >= size:
                return f"{value / size:.3g}{suffix}"
        return f"{value:.3g}"

    def per_second(value: float, position: int) -> str:
        return f"{short(value, position)}/s"

    if unit == "percentunit":
        return FuncFormatter(percent)
    if unit == "s":
        return FuncFormatter(seconds)
    if unit == "cps":
        return FuncFormatter(per_second)
    if unit.startswith("suffix:"):
        tail = unit.split(":", 1)[1]
        return FuncFormatter(lambda v, p: f"{short(v, p)}{tail}")
    if unit == "bool_yes_no":
        return FuncFormatter(lambda v, _: "yes" if v >= 0.5 else "no")
    return FuncFormatter(short)


def _legend(template: str, labels: Mapping[str, str]) -> str:
    text = template
    for name, value in labels.items():
        text = text.replace("{{" + name + "}}", value)
    # matplotlib leaves out labels starting with "_", as librdkafka's error names do.
    return " " + text if text.startswith("_") else text


def draw(
    dashboard: Mapping[str, Any],
    results: Mapping[int, Sequence[Sequence[Sample]]],
    out: Path,
    *,
    subtitle: str = "",
) -> None:
    """`results[panel id][target index]` are the series each target returned."""
    panels = [p for p in dashboard["panels"]]
    bands: list[tuple[str, list[dict[str, Any]]]] = []
    for panel in panels:
        if panel["type"] == "row":
            bands.append((panel["title"], []))
        else:
            bands[-1][1].append(panel)
    figure = plt.figure(figsize=(24, 3.1 * len(bands) + 0.8), dpi=60, facecolor=BACKGROUND)
    grid = figure.add_gridspec(len(bands), 24, hspace=0.75, wspace=3.2, top=0.965, bottom=0.02)
    figure.suptitle(
        f"{dashboard['title']}  (uid {dashboard['uid']}){subtitle}",
        color=TEXT,
        fontsize=20,
        x=0.01,
        ha="left",
    )
    for row, (band_title, band_panels) in enumerate(bands):
        x = 0
        for panel in band_panels:
            width = panel["gridPos"]["w"]
            axes = figure.add_subplot(grid[row, x : x + width], facecolor=PANEL)
            x += width
            _plot(axes, panel, results.get(panel["id"], []), band_title)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, facecolor=BACKGROUND)
    plt.close(figure)


def _plot(
    axes: Any, panel: Mapping[str, Any], found: Sequence[Sequence[Sample]], band: str
) -> None:
    unit = panel["fieldConfig"]["defaults"].get("unit", "short")
    colour = 0
    for target, series_list in zip(panel["targets"], found, strict=False):
        for series in series_list:
            times = [datetime.fromtimestamp(t, UTC) for t, _ in series.points]
            values = [v for _, v in series.points]
            axes.plot(
                times,
                values,
                color=PALETTE[colour % len(PALETTE)],
                linewidth=1.6,
                label=_legend(target.get("legendFormat", ""), series.labels)[:40],
            )
            colour += 1
    axes.set_title(f"{band} / {panel['title']}", color=TEXT, fontsize=12, loc="left")
    axes.yaxis.set_major_formatter(_format(unit))
    if unit == "bool_yes_no":
        axes.set_yticks([0, 1])
        axes.set_ylim(-0.1, 1.1)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
    axes.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=5))
    axes.tick_params(colors=TEXT, labelsize=9)
    axes.grid(color=GRID, linewidth=0.6)
    for spine in axes.spines.values():
        spine.set_color(GRID)
    if colour:
        legend = axes.legend(
            loc="upper left", fontsize=8, ncol=2, frameon=False, labelcolor=TEXT, handlelength=1
        )
        legend.set_zorder(5)
    else:
        axes.text(0.5, 0.5, "No data", color=TEXT, ha="center", transform=axes.transAxes)
