"""PNG charts of a demo run: PMU frequency and voltage with anomalies marked, outages on a timeline, and
customers out over time. Drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

SCOPE_COLOURS = {"individual": "#4c72b0", "street": "#dd8452", "zonal": "#c44e52"}
SEVERITY_COLOURS = {"info": "#8c8c8c", "warning": "#ccb974", "major": "#dd8452", "critical": "#c44e52"}


def _time(ns: int | float) -> datetime:
    return datetime.fromtimestamp(float(ns) / 1e9, tz=UTC)


def pmu_seconds(client: Any) -> tuple[list[datetime], np.ndarray, np.ndarray, np.ndarray]:
    """Per second over all PMUs: mean frequency, min and mean phase-A voltage."""
    rows = client.query(
        "SELECT toUnixTimestamp(toStartOfSecond(ts)) AS second, avg(freq_hz), min(va), avg(va) "
        "FROM pmu_readings GROUP BY second ORDER BY second"
    ).result_rows
    times = [_time(row[0] * 1e9) for row in rows]
    columns = np.array([row[1:] for row in rows], dtype=float).reshape(-1, 3)
    return times, columns[:, 0], columns[:, 1], columns[:, 2]


def frequency_and_voltage(client: Any, anomalies: Sequence[dict[str, Any]], path: Path) -> Path:
    times, frequency, v_min, v_mean = pmu_seconds(client)
    figure, (top, bottom) = _subplots(2, 1, figsize=(11, 6), sharex=True)
    top.plot(times, frequency, lw=0.8, color="#4c72b0")
    top.set_ylabel("frequency (Hz), mean of PMUs")
    bottom.plot(times, v_mean, lw=0.8, color="#55a868", label="mean")
    bottom.plot(times, v_min, lw=0.6, color="#c44e52", label="min")
    bottom.set_ylabel("phase A voltage (V)")
    bottom.legend(loc="lower left", fontsize=8)
    for anomaly in anomalies:
        if not str(anomaly["device"]).endswith("PMU") and "freq" not in anomaly["metric"]:
            continue
        axis = top if "freq" in anomaly["metric"] or "rocof" in anomaly["metric"] else bottom
        end = anomaly["end_ns"] or anomaly["start_ns"] + 1e9
        axis.axvspan(
            _time(anomaly["start_ns"]), _time(end), color=SEVERITY_COLOURS[anomaly["severity"]], alpha=0.3
        )
    top.set_title("PMU frequency and voltage — shaded: anomalies by severity")
    _clock_axis(bottom)
    return _save(figure, path)


def outage_timeline(outages: Sequence[dict[str, Any]], end_ns: int, path: Path) -> Path:
    figure, axis = _subplots(figsize=(11, max(2.5, 0.35 * len(outages) + 1)))
    for row, outage in enumerate(outages):
        start = _time(outage["start_ns"])
        end = _time(outage["end_ns"] or end_ns)
        colour = SCOPE_COLOURS.get(outage["scope"], "#8c8c8c")
        hatch = "//" if outage["state"] == "momentary" else None
        axis.barh(row, end - start, left=start, color=colour, hatch=hatch, edgecolor="black", lw=0.4)
        axis.text(end, row, f" {outage['device']} ({outage['customers']})", va="center", fontsize=7)
    axis.set_yticks([])
    axis.set_title("Outages — colour: scope (blue individual, orange street, red zonal); hatched: momentary")
    _clock_axis(axis)
    return _save(figure, path)


def customers_out(outages: Sequence[dict[str, Any]], start_ns: int, end_ns: int, path: Path) -> Path:
    """Customers out over time, counting each sustained outage's customers while it is open."""
    changes: list[tuple[int, int]] = []
    for outage in outages:
        if outage["state"] == "momentary":
            continue
        changes += [
            (outage["start_ns"], outage["customers"]),
            (outage["end_ns"] or end_ns, -outage["customers"]),
        ]
    changes.sort()
    times, level, current = [_time(start_ns)], [0], 0
    for at, delta in changes:
        times.append(_time(at))
        level.append(current)
        current += delta
        times.append(_time(at))
        level.append(current)
    times.append(_time(end_ns))
    level.append(current)
    figure, axis = _subplots(figsize=(11, 3))
    axis.fill_between(times, level, step=None, color="#c44e52", alpha=0.5)
    axis.set_ylabel("customers out")
    axis.set_title("Customers out over time (sustained outages)")
    _clock_axis(axis)
    return _save(figure, path)


def _subplots(*args: Any, **kwargs: Any) -> Any:
    """matplotlib's figure and axes, untyped: its stubs reject datetimes that it plots fine."""
    return plt.subplots(*args, **kwargs)


def _clock_axis(axis: Any) -> None:
    axis.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]


def _save(figure: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
