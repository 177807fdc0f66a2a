"""Pipeline health written to ClickHouse every few seconds: throughput, dead letters, busy time, consumer lag.

The Grafana "Pipeline health" dashboard and the lag alert read the `pipeline_metrics` table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gridmon.pipeline.progress import Progress

log = logging.getLogger(__name__)
COLUMNS = ("ts", "worker", "stage", "metric", "value")


@dataclass
class _Last:
    at: float
    messages: int = 0
    readings: int = 0
    dead_letters: int = 0
    opted_out: int = 0
    busy_seconds: float = 0.0


@dataclass
class MetricsRecorder:
    """Samples each stage's Progress; `lag_of(stage)` gives the consumer lag in messages (or None)."""

    worker: str
    stages: dict[str, Progress]
    lag_of: Any = None
    _last: dict[str, _Last] = field(default_factory=dict)

    def sample(self) -> list[tuple[Any, ...]]:
        now = time.monotonic()
        stamp = datetime.now(tz=UTC)
        rows: list[tuple[Any, ...]] = []
        for stage, progress in self.stages.items():
            last = self._last.get(stage) or _Last(at=now - 1e-9)
            span = max(now - last.at, 1e-9)
            values = {
                "messages_per_s": (progress.messages - last.messages) / span,
                "readings_per_s": (progress.readings - last.readings) / span,
                "dead_letters_per_s": (progress.dead_letters - last.dead_letters) / span,
                "opted_out_per_s": (progress.opted_out - last.opted_out) / span,
                "busy_fraction": (progress.busy_seconds - last.busy_seconds) / span,
            }
            lag = self.lag_of(stage) if self.lag_of else None
            if lag is not None:
                values["consumer_lag"] = float(lag)
            rows += [(stamp, self.worker, stage, metric, float(value)) for metric, value in values.items()]
            self._last[stage] = _Last(
                now,
                progress.messages,
                progress.readings,
                progress.dead_letters,
                progress.opted_out,
                progress.busy_seconds,
            )
        return rows

    async def run(self, client: Any, interval_s: float = 5.0) -> None:
        """Write a sample every `interval_s` until cancelled; a failed write is logged, never fatal."""
        while True:
            await asyncio.sleep(interval_s)
            rows = self.sample()
            try:
                await asyncio.to_thread(client.insert, "pipeline_metrics", rows, column_names=list(COLUMNS))
            except Exception as exc:  # health metrics must never stop the pipeline
                log.warning("could not write pipeline metrics: %s", exc)


@contextlib.asynccontextmanager
async def recording(recorder: MetricsRecorder, client: Any, interval_s: float) -> Any:
    task = asyncio.create_task(recorder.run(client, interval_s))
    try:
        yield recorder
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
