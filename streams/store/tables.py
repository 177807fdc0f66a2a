"""The raw table of each reading kind, as the migrations create them: the one mapping every reader and writer uses."""

from __future__ import annotations

RAW_TABLES: dict[str, str] = {
    "pmu": "pmu_readings",
    "sensor": "sensor_readings",
    "meter": "meter_events",
    "scada": "scada_events",
}
