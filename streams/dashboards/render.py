"""Draw every panel's query result to PNG with matplotlib and lay each dashboard out as a static HTML page.

The page keeps Grafana's grid (24 columns, gridPos): a preview of what operators see, with no Grafana needed.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from gridmon.dashboards.check import QueryOutcome  # noqa: E402
from gridmon.dashboards.macros import TimeRange  # noqa: E402

PX_PER_COLUMN = 60
PX_PER_ROW = 30
DPI = 100
TABLE_ROWS = 12
UNIT_SUFFIX = {
    "hertz": " Hz",
    "percent": " %",
    "amp": " A",
    "volt": " V",
    "s": " s",
    "degree": "°",
    "reqps": "/s",
    "Hz/s": " Hz/s",
}


@dataclass(frozen=True)
class RenderedPanel:
    title: str
    image: str  # file name beside the page
    grid: dict[str, int]
    description: str
    sql: str
    problem: str


def render_dashboard(
    dashboard: dict[str, Any], outcomes: Sequence[QueryOutcome], out_dir: Path, time_range: TimeRange
) -> Path:
    """Write one PNG per panel and `<uid>.html`; returns the page."""
    uid = str(dashboard["uid"])
    out_dir.mkdir(parents=True, exist_ok=True)
    panels = [p for p in dashboard.get("panels", []) if p.get("type") != "row"]
    rendered = []
    for number, (panel, outcome) in enumerate(zip(panels, outcomes, strict=True), start=1):
        image = f"{uid}-{number:02d}.png"
        options = panel.get("options", {})
        figure = draw_panel(outcome, panel["gridPos"], stacked=options.get("stacking") == "normal")
        figure.savefig(out_dir / image, dpi=DPI)
        plt.close(figure)
        rendered.append(
            RenderedPanel(
                outcome.title,
                image,
                panel["gridPos"],
                panel.get("description", ""),
                outcome.sql,
                outcome.problem,
            )
        )
    page = out_dir / f"{uid}.html"
    page.write_text(_page_html(dashboard, rendered, time_range))
    return page


def write_index(dashboards: Sequence[dict[str, Any]], out_dir: Path, time_range: TimeRange) -> Path:
    items = "\n".join(
        f'<li><a href="{html.escape(d["uid"])}.html">{html.escape(d["title"])}</a> — {html.escape(d.get("description", ""))}</li>'
        for d in dashboards
    )
    index = out_dir / "index.html"
    index.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>gridmon dashboards</title>{STYLE}</head>"
        f"<body><h1>gridmon dashboards (preview)</h1><p class='range'>{_range_text(time_range)}</p>"
        f"<ul class='index'>{items}</ul></body></html>\n"
    )
    return index


def draw_panel(outcome: QueryOutcome, grid: dict[str, int], stacked: bool = False) -> Figure:
    """One panel as a figure sized like its Grafana grid cell."""
    figure = plt.figure(figsize=(grid["w"] * PX_PER_COLUMN / DPI, grid["h"] * PX_PER_ROW / DPI), dpi=DPI)
    if outcome.error:
        _message(figure, "Query error", outcome.error, "#c4162a")
    elif outcome.empty:
        _message(figure, "No data", "", "#6e6e6e")
    elif outcome.kind == "stat":
        _draw_stat(figure, outcome)
    elif outcome.kind == "table":
        _draw_table(figure, outcome)
    elif outcome.kind == "barchart":
        _draw_bars(figure, outcome, stacked)
    else:
        _draw_timeseries(figure, outcome)
    return figure


def _message(figure: Figure, headline: str, detail: str, color: str) -> None:
    figure.text(0.5, 0.55, headline, ha="center", va="center", fontsize=14, color=color)
    if detail:
        figure.text(0.5, 0.3, detail[:120], ha="center", va="center", fontsize=7, color=color, wrap=True)


def _draw_stat(figure: Figure, outcome: QueryOutcome) -> None:
    values = list(zip(outcome.columns, outcome.rows[0], strict=True))
    for index, (name, value) in enumerate(values):
        x = (index + 0.5) / len(values)
        figure.text(
            x,
            0.55,
            _format_value(value, outcome.unit),
            ha="center",
            va="center",
            fontsize=22,
            color="#1f60c4",
            weight="bold",
        )
        figure.text(x, 0.2, name, ha="center", va="center", fontsize=9, color="#464c54")


def _draw_table(figure: Figure, outcome: QueryOutcome) -> None:
    axes = figure.add_axes((0.01, 0.01, 0.98, 0.98))
    axes.axis("off")
    cells = [[_cell(value) for value in row] for row in outcome.rows[:TABLE_ROWS]]
    table = axes.table(cellText=cells, colLabels=list(outcome.columns), loc="upper left", cellLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    table.auto_set_column_width(list(range(len(outcome.columns))))
    for (row, _column), cell in table.get_celld().items():
        cell.set_edgecolor("#d8d9da")
        if row == 0:
            cell.set_facecolor("#f4f5f5")
            cell.set_text_props(weight="bold")
    if len(outcome.rows) > TABLE_ROWS:
        figure.text(
            0.99,
            0.01,
            f"{len(outcome.rows)} rows, first {TABLE_ROWS} shown",
            ha="right",
            fontsize=7,
            color="#6e6e6e",
        )


def _draw_bars(figure: Figure, outcome: QueryOutcome, stacked: bool) -> None:
    axes = figure.add_axes((0.08, 0.3, 0.9, 0.65))
    categories = [str(row[0]) for row in outcome.rows]
    series = _numeric_columns(outcome)
    positions = list(range(len(categories)))
    width = 0.8 if stacked else 0.8 / max(len(series), 1)
    bottom = [0.0] * len(categories)
    for index, (name, column) in enumerate(series):
        values = [_number(row[column]) for row in outcome.rows]
        offsets = positions if stacked else [p - 0.4 + width * (index + 0.5) for p in positions]
        axes.bar(offsets, values, width=width, bottom=bottom if stacked else None, label=name)
        if stacked:
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_xticks(positions, [c[-22:] for c in categories], rotation=30, ha="right", fontsize=7)
    _style(axes, legend=len(series) > 1)


def _draw_timeseries(figure: Figure, outcome: QueryOutcome) -> None:
    axes = figure.add_axes((0.08, 0.22, 0.9, 0.72))
    for name, points in sorted(long_to_wide(outcome).items()):
        times, values = zip(*sorted(points), strict=True)
        axes.plot(times, values, label=name, linewidth=1.2)
    axes.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))  # type: ignore[no-untyped-call]
    axes.yaxis.set_major_formatter(
        matplotlib.ticker.FuncFormatter(lambda v, _: _format_value(v, outcome.unit, 6))
    )
    _style(axes, legend=True)


def long_to_wide(outcome: QueryOutcome) -> dict[str, list[tuple[datetime, float]]]:
    """Grafana's long-to-wide: string columns name the series, each numeric column is a series per name."""
    labels = [i for i, value in enumerate(outcome.rows[0]) if i > 0 and isinstance(value, str)]
    numeric = _numeric_columns(outcome)
    series: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    for row in outcome.rows:
        label = " ".join(str(row[i]) for i in labels)
        for name, column in numeric:
            key = " ".join(part for part in (label, name if len(numeric) > 1 or not label else "") if part)
            series[key].append((row[0], _number(row[column])))
    return series


def _numeric_columns(outcome: QueryOutcome) -> list[tuple[str, int]]:
    first = outcome.rows[0]
    return [
        (name, index)
        for index, name in enumerate(outcome.columns)
        if index > 0 and isinstance(first[index], int | float) and not isinstance(first[index], bool)
    ]


def _style(axes: Axes, legend: bool) -> None:
    axes.grid(True, color="#e9e9e9", linewidth=0.6)
    axes.tick_params(labelsize=7)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if legend and axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=6, loc="upper left", ncols=4, frameon=False)


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def _format_value(value: Any, unit: str, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        text = f"{value:.{digits}g}" if abs(value) < 1e6 else f"{value:,.0f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return text + UNIT_SUFFIX.get(unit, "")


def _cell(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%H:%M:%S")
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _range_text(time_range: TimeRange) -> str:
    return (
        f"{time_range.start:%Y-%m-%d %H:%M:%S} → {time_range.end:%Y-%m-%d %H:%M:%S} UTC, "
        f"interval {time_range.interval_s} s"
    )


STYLE = """<style>
body { font-family: Inter, Helvetica, Arial, sans-serif; background: #f4f5f5; color: #24292e; margin: 16px; }
h1 { font-size: 20px; margin: 0 0 4px 0; } .range { color: #6e6e6e; font-size: 12px; margin: 0 0 12px 0; }
.grid { display: grid; grid-template-columns: repeat(24, 1fr); grid-auto-rows: 30px; gap: 8px; }
.panel { background: #fff; border: 1px solid #dcdee0; border-radius: 4px; overflow: hidden; display: flex;
         flex-direction: column; }
.panel h2 { font-size: 13px; margin: 6px 8px 2px 8px; font-weight: 600; }
.panel img { width: 100%; flex: 1; min-height: 0; object-fit: contain; }
.panel.failed { border-color: #c4162a; } .problem { color: #c4162a; font-size: 11px; margin: 0 8px; }
details { font-size: 11px; margin: 0 8px 4px 8px; } pre { white-space: pre-wrap; }
.index li { margin: 6px 0; } nav a { margin-right: 12px; font-size: 13px; }
</style>"""


def _page_html(dashboard: dict[str, Any], panels: Sequence[RenderedPanel], time_range: TimeRange) -> str:
    cells = "\n".join(_panel_html(panel) for panel in panels)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(dashboard['title'])}</title>{STYLE}"
        f"</head><body><nav><a href='index.html'>← all dashboards</a></nav>"
        f"<h1>{html.escape(dashboard['title'])}</h1><p class='range'>{_range_text(time_range)} · "
        f"{html.escape(dashboard.get('description', ''))}</p><div class='grid'>\n{cells}\n</div></body></html>\n"
    )


def _panel_html(panel: RenderedPanel) -> str:
    grid = panel.grid
    style = f"grid-column: {grid['x'] + 1} / span {grid['w']}; grid-row: {grid['y'] + 1} / span {grid['h']};"
    problem = f"<p class='problem'>{html.escape(panel.problem)}</p>" if panel.problem else ""
    return (
        f"<section class='panel{' failed' if panel.problem else ''}' style='{style}' "
        f"title='{html.escape(panel.description)}'><h2>{html.escape(panel.title)}</h2>{problem}"
        f"<img src='{html.escape(panel.image)}' alt='{html.escape(panel.title)}'></section>"
    )
