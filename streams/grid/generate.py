"""Generated feeders of any size for scale work: deterministic by seed, with the structure of real networks.

substation → feeders → breaker → trunk with a mid-trunk switch and reclosers → fused laterals → transformers →
meters; normally-open ties between neighbouring feeders; PMUs at substations and feeder heads, sensors on some
transformers and trunk sections, SCADA on breakers, reclosers and switches. Meters are built as numpy columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from gridmon.errors import GridModelError
from gridmon.grid.model import KIND_CODE, Columns, DeviceKind, GridModel, Tie, phase_mask

Size = Literal["small", "medium", "large"]
K = DeviceKind
ABC = phase_mask("ABC")


@dataclass(frozen=True)
class Shape:
    """How big a generated network is; meters ≈ substations × feeders × meters_per_feeder."""

    substations: int
    feeders_per_substation: int
    meters_per_feeder: int
    trunk_sections: int = 9
    laterals_per_section: int = 2
    transformers_per_lateral_section: int = 3
    mean_meters_per_transformer: float = 7.5


SHAPES: dict[str, Shape] = {
    # four feeders, so that a scenario's overlapping trips (nested, stepped, momentary) find free feeders
    "small": Shape(substations=1, feeders_per_substation=4, meters_per_feeder=250, trunk_sections=6),
    "medium": Shape(substations=5, feeders_per_substation=4, meters_per_feeder=2_500),
    "large": Shape(substations=25, feeders_per_substation=8, meters_per_feeder=5_000, trunk_sections=12),
}


def generate(size: str = "small", *, seed: int = 1, shape: Shape | None = None) -> GridModel:
    """A generated model; `shape` overrides the named size (small ≈ 1k, medium ≈ 50k, large ≈ 1M meters)."""
    if shape is None:
        if size not in SHAPES:
            raise GridModelError(f"unknown size {size!r}: use one of {', '.join(SHAPES)}")
        shape = SHAPES[size]
    return GridModel.from_columns(_Generator(shape, np.random.default_rng(seed)).build())


class _Generator:
    def __init__(self, shape: Shape, rng: np.random.Generator) -> None:
        self.shape = shape
        self.rng = rng
        self.ids: list[str] = []
        self.kind: list[int] = []
        self.parent: list[int] = []
        self.feeder_of: list[int] = []
        self.kva: list[float] = []
        self.x: list[float] = []
        self.y: list[float] = []
        self.normally_open: list[bool] = []
        self.feeders: list[str] = [""]
        self.current_feeder = 0  # index into feeders; 0 = "" (substation level)
        self.transformers: list[int] = []
        self.ties: list[Tie] = []

    def add(
        self, device: str, kind: DeviceKind, parent: int, xy: tuple[float, float], kva: float = 0.0
    ) -> int:
        self.ids.append(device)
        self.kind.append(KIND_CODE[kind])
        self.parent.append(parent)
        self.feeder_of.append(self.current_feeder)
        self.kva.append(kva)
        self.x.append(xy[0])
        self.y.append(xy[1])
        self.normally_open.append(False)
        return len(self.ids) - 1

    def build(self) -> Columns:
        side = math.ceil(math.sqrt(self.shape.substations))
        for s in range(self.shape.substations):
            self.substation(f"S{s + 1:02d}", (s % side) * 20_000.0, (s // side) * 20_000.0)
        return self.columns()

    def substation(self, name: str, x: float, y: float) -> None:
        self.current_feeder = 0
        sub = self.add(name, K.SUBSTATION, -1, (x, y))
        self.add(f"{name}-PMU", K.PMU, sub, (x, y))
        ends: list[int] = []
        count = self.shape.feeders_per_substation
        for f in range(count):
            angle = 2 * math.pi * f / count
            ends.append(self.feeder(f"{name}F{f + 1}", sub, (x, y), (math.cos(angle), math.sin(angle))))
        for f in range(count if count > 2 else count - 1):
            self.tie(ends[f], ends[(f + 1) % count])

    def feeder(self, name: str, sub: int, origin: tuple[float, float], direction: tuple[float, float]) -> int:
        """One feeder; returns the index of its last trunk section (where a tie can land)."""
        self.feeders.append(name)
        self.current_feeder = len(self.feeders) - 1
        shape = self.shape
        at = _along(origin, direction, 50.0)
        head = self.add(f"{name}-BRK", K.BREAKER, sub, at)
        self.add(f"{name}-PMU", K.PMU, head, at)
        laterals = shape.trunk_sections * shape.laterals_per_section
        per_lateral = shape.meters_per_feeder / (laterals * shape.mean_meters_per_transformer)
        lateral_transformers = max(1, round(per_lateral))
        upstream = head
        reclosers = {shape.trunk_sections // 3, (2 * shape.trunk_sections) // 3} - {0}
        for k in range(shape.trunk_sections):
            at = _along(origin, direction, 400.0 * (k + 1))
            if k in reclosers:
                upstream = self.add(f"{name}-REC{k}", K.RECLOSER, upstream, at)
            if k == shape.trunk_sections // 2:
                upstream = self.add(f"{name}-SW{k}", K.SWITCH, upstream, at)
            upstream = self.add(f"{name}-T{k}", K.LINE, upstream, at)
            if k % 3 == 1:
                self.add(f"{name}-T{k}-SEN", K.SENSOR, upstream, at)
            for lateral in range(shape.laterals_per_section):
                self.lateral(f"{name}-T{k}L{lateral}", upstream, at, direction, lateral, lateral_transformers)
        return upstream

    def lateral(
        self,
        name: str,
        tap: int,
        at: tuple[float, float],
        direction: tuple[float, float],
        side: int,
        transformers: int,
    ) -> None:
        sign = 1.0 if side % 2 == 0 else -1.0
        across = (-direction[1] * sign, direction[0] * sign)
        upstream = self.add(f"{name}-FU", K.FUSE, tap, at)
        per_section = self.shape.transformers_per_lateral_section
        for s in range(math.ceil(transformers / per_section)):
            point = _along(at, across, 150.0 * (s + 1))
            upstream = self.add(f"{name}S{s}", K.LINE, upstream, point)
            for t in range(min(per_section, transformers - s * per_section)):
                kva = float(self.rng.choice([25.0, 37.5, 50.0, 75.0]))
                jitter = (point[0] + 30.0 * (t + 1) * direction[0], point[1] + 30.0 * (t + 1) * direction[1])
                self.transformers.append(self.add(f"{name}S{s}X{t}", K.TRANSFORMER, upstream, jitter, kva))
                if self.rng.random() < 0.05:
                    self.add(f"{name}S{s}X{t}-SEN", K.SENSOR, self.transformers[-1], jitter)

    def tie(self, a_end: int, b_end: int) -> None:
        a, b = self.ids[a_end], self.ids[b_end]
        tie = self.add(f"TIE-{a}-{b}", K.SWITCH, a_end, (self.x[a_end], self.y[a_end]))
        self.feeder_of[tie] = self.feeder_of[a_end]
        self.normally_open[tie] = True
        self.ties.append(Tie(self.ids[tie], a, b))

    def columns(self) -> Columns:
        """The structural devices plus the meters, which are generated as columns (they are most of the model)."""
        rng = self.rng
        transformers = np.array(self.transformers, dtype=np.int32)
        mean = self.shape.mean_meters_per_transformer
        counts = rng.integers(max(1, round(mean / 2)), round(mean * 1.5) + 1, size=len(transformers))
        parents = np.repeat(transformers, counts)
        within = np.arange(len(parents)) - np.repeat(np.cumsum(counts) - counts, counts)
        names = np.repeat(np.array(self.ids, dtype=object)[transformers], counts)
        meter_ids = [f"{t}-M{j}" for t, j in zip(names.tolist(), within.tolist(), strict=True)]
        customers = np.where(rng.random(len(parents)) < 0.03, rng.integers(2, 25, len(parents)), 1)
        x = np.array(self.x)[parents] + rng.normal(0, 15.0, len(parents))
        y = np.array(self.y)[parents] + rng.normal(0, 15.0, len(parents))
        n = len(self.ids)
        kinds = np.concatenate([self.kind, np.full(len(parents), KIND_CODE[K.METER])]).astype(np.int8)
        kw = np.zeros(n + len(parents), dtype=np.float32)
        kw[n:] = rng.gamma(2.0, 1.0, len(parents)) * customers
        return Columns(
            ids=self.ids + meter_ids,
            kind=kinds,
            parent=np.concatenate([self.parent, parents]).astype(np.int32),
            feeders=self.feeders,
            feeder_index=np.concatenate([self.feeder_of, np.array(self.feeder_of)[parents]]).astype(np.int32),
            customers=np.concatenate([np.zeros(n, np.int32), customers]).astype(np.int32),
            kva=np.concatenate([self.kva, np.zeros(len(parents))]).astype(np.float32),
            kw=kw,
            x=np.concatenate([self.x, x]),
            y=np.concatenate([self.y, y]),
            normally_open=np.concatenate([self.normally_open, np.zeros(len(parents), bool)]).astype(bool),
            phases=np.full(n + len(parents), ABC, dtype=np.uint8),
            names={},
            ties=self.ties,
        )


def _along(
    origin: tuple[float, float], direction: tuple[float, float], distance: float
) -> tuple[float, float]:
    return origin[0] + direction[0] * distance, origin[1] + direction[1] * distance
