"""Scenarios: recipes of labelled faults, and their placement on a real grid model with ground truth.

`plan_faults` picks the faulted elements by seed from whatever model it is given (no hard-coded ids), keeps
faults that would overlap in space and time apart, and returns each fault with what the simulator must do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import msgspec
import numpy as np

from gridmon.errors import ConfigError
from gridmon.records import Scope
from gridmon.simulate.topology import PROTECTIVE_KINDS, Topology

FaultKind = Literal[
    "customer_loss",
    "transformer_loss",
    "fuse_trip",
    "recloser_trip",
    "breaker_trip",
    "momentary",
    "voltage_sag",
    "voltage_swell",
    "frequency_excursion",
    "oscillation",
    "sensor_stuck",
    "sensor_flatline",
    "sensor_drift",
    "sensor_spike",
    "sensor_overheating",
    "meter_tamper",
    "data_gap",
]
# Recipe kinds that expand into outage faults with structure.
RecipeKind = FaultKind | Literal["nested", "stepped"]
OUTAGE_KINDS = frozenset(
    {"customer_loss", "transformer_loss", "fuse_trip", "recloser_trip", "breaker_trip", "momentary"}
)
SECOND = 1_000_000_000
MOMENTARY_MAX_S = 300.0


class RestorationStep(msgspec.Struct, frozen=True):
    """At `ts_ns`, closing `device` gave power back to `customers`."""

    ts_ns: int
    device: str
    customers: int


class GroundTruth(msgspec.Struct, frozen=True, kw_only=True):
    """One injected fault, as a detector or the outage correlator should report it.

    `customers` is what the faulted device interrupts (outages only); `parent` links a nested outage to the
    outage enclosing it; `steps` lists a stepped restoration (the last step's time is `end_ns`).
    """

    id: str
    kind: FaultKind
    device: str
    zone: str
    feeder: str
    start_ns: int
    end_ns: int
    scope: Scope | None = None
    customers: int = 0
    parent: str | None = None
    steps: list[RestorationStep] = []
    detail: str = ""


@dataclass(frozen=True)
class Opening:
    """A device that is open (everything below it dark) during [start_ns, end_ns)."""

    device: str
    start_ns: int
    end_ns: int
    reason: Literal["trip", "momentary", "isolate"] = "trip"


@dataclass(frozen=True)
class Fault:
    """A ground-truth record plus what the traffic generator has to do to make it happen."""

    truth: GroundTruth
    openings: tuple[Opening, ...] = ()
    magnitude: float = 0.0  # per-unit factor, Hz, °C or fraction, depending on the kind
    period_s: float = 0.0  # oscillation period
    targets: tuple[str, ...] = ()  # the PMUs or sensors that show it


@dataclass(frozen=True)
class FaultSpec:
    """`count` faults of `kind` (at least `share` of the candidate elements), lasting `min_s`…`max_s`,
    starting within the `window` (fractions of the run)."""

    kind: RecipeKind
    count: int = 1
    min_s: float = 60.0
    max_s: float = 240.0
    window: tuple[float, float] = (0.05, 0.7)
    share: float = 0.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    faults: tuple[FaultSpec, ...]


# IEEE 1366: an interruption is sustained when it lasts more than 5 minutes, momentary when less. Sustained
# faults last 6–12 min so that a 900 s run holds them whole; momentaries (a recloser cycle) under a minute.
SUSTAINED_MIN_S, SUSTAINED_MAX_S = 360.0, 720.0
_OUTAGE_SPECS = (
    FaultSpec("customer_loss", 2, SUSTAINED_MIN_S, SUSTAINED_MAX_S),
    FaultSpec("transformer_loss", 2, SUSTAINED_MIN_S, SUSTAINED_MAX_S),
    FaultSpec("fuse_trip", 2, SUSTAINED_MIN_S, SUSTAINED_MAX_S),
    FaultSpec("recloser_trip", 1, SUSTAINED_MIN_S, SUSTAINED_MAX_S),
    FaultSpec("momentary", 2, 1, 45),
    FaultSpec("nested", 1, 2 * SUSTAINED_MIN_S, 2 * SUSTAINED_MIN_S + 60),  # the outer trip lasts half
    FaultSpec("stepped", 1, SUSTAINED_MIN_S, SUSTAINED_MAX_S),
)
_PMU_SPECS = (
    FaultSpec("voltage_sag", 1, 2, 8),
    FaultSpec("voltage_swell", 1, 2, 8),
    FaultSpec("frequency_excursion", 1, 20, 60),
    FaultSpec("oscillation", 1, 15, 40),
    FaultSpec("data_gap", 1, 20, 60),
)
_SENSOR_SPECS = (
    FaultSpec("sensor_stuck", 1, 60, 180),
    FaultSpec("sensor_flatline", 1, 60, 180),
    FaultSpec("sensor_drift", 1, 120, 300),
    FaultSpec("sensor_spike", 1, 5, 15),
    FaultSpec("sensor_overheating", 1, 120, 300),
    FaultSpec("meter_tamper", 1, 120, 300),
    FaultSpec("data_gap", 1, 30, 120),
)
SCENARIOS: dict[str, Scenario] = {
    "mixed": Scenario(
        "mixed", "a bit of everything (the demo default)", _OUTAGE_SPECS + _PMU_SPECS + _SENSOR_SPECS
    ),
    "outages": Scenario("outages", "every kind of outage, nested and stepped restoration", _OUTAGE_SPECS * 2),
    "pmu": Scenario("pmu", "sags, swells, frequency excursions, oscillations", _PMU_SPECS * 2),
    "sensors": Scenario("sensors", "sensor and meter data-quality faults", _SENSOR_SPECS * 2),
    "storm": Scenario(
        "storm",
        "a storm front: most feeders trip within seconds, then stepped restoration",
        (
            FaultSpec("stepped", 1, 400, 720, window=(0.1, 0.12), share=0.25),
            FaultSpec("breaker_trip", 1, 360, 720, window=(0.1, 0.12), share=0.3),
            FaultSpec("recloser_trip", 2, 360, 720, window=(0.1, 0.13), share=0.3),
            FaultSpec("fuse_trip", 3, 360, 720, window=(0.1, 0.15), share=0.2),
            FaultSpec("transformer_loss", 5, 360, 720, window=(0.1, 0.2), share=0.02),
            FaultSpec("momentary", 3, 1, 30, window=(0.08, 0.1), share=0.1),
        ),
    ),
}


def scenario_named(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ConfigError(f"unknown scenario {name!r}; choose one of: {', '.join(SCENARIOS)}") from None


@dataclass
class _Claims:
    """Elements already faulted, with when: two faults may share an element only at different times.

    `below[a]` holds the spans of every claim strictly below element `a`, so that a wide fault can check its
    whole subtree in one lookup.
    """

    margin_ns: int
    spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    below: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def _overlaps(self, spans: Sequence[tuple[int, int]], start_ns: int, end_ns: int) -> bool:
        margin = self.margin_ns
        return any(
            start_ns < busy_end + margin and busy_start < end_ns + margin for busy_start, busy_end in spans
        )

    def free(self, elements: Sequence[str], start_ns: int, end_ns: int) -> bool:
        return not any(self._overlaps(self.spans.get(element, ()), start_ns, end_ns) for element in elements)

    def below_free(self, element: str, start_ns: int, end_ns: int) -> bool:
        return not self._overlaps(self.below.get(element, ()), start_ns, end_ns)

    def take(self, element: str, start_ns: int, end_ns: int, upstream: Sequence[str]) -> None:
        self.spans.setdefault(element, []).append((start_ns, end_ns))
        for ancestor in upstream:
            self.below.setdefault(ancestor, []).append((start_ns, end_ns))


class FaultPlanner:
    """Places a scenario's faults on the model: deterministic for a seed, skipping what the model lacks."""

    def __init__(self, topology: Topology, seed: int, start_ns: int, duration_s: float) -> None:
        self.topology = topology
        self.rng = np.random.default_rng([seed, 0x5CE4A])
        self.start_ns = start_ns
        self.duration_s = duration_s
        self.end_ns = start_ns + int(duration_s * SECOND)
        self.claims = _Claims(margin_ns=5 * SECOND)
        self.faults: list[Fault] = []
        self.skipped: list[str] = []
        self._candidate_cache: dict[tuple[str, ...], list[str]] = {}

    # -- time -----------------------------------------------------------------------------------------------
    def _span(self, spec: FaultSpec) -> tuple[int, int]:
        """A duration, and a start within the window early enough that the fault ends before 95 % of the run;
        a run too short for the duration cuts the fault at that point."""
        low, high = spec.window
        run_ns = self.duration_s * SECOND
        latest_end = self.start_ns + int(0.95 * run_ns)
        duration = max(int(self.rng.uniform(spec.min_s, spec.max_s) * SECOND), SECOND // 2)
        earliest = self.start_ns + int(low * run_ns)
        latest = max(earliest, min(self.start_ns + int(high * run_ns), latest_end - duration))
        start = earliest + int(self.rng.uniform(0.0, 1.0) * (latest - earliest))
        end = min(start + duration, latest_end)
        return start, max(end, start + SECOND // 2)

    # -- placement --------------------------------------------------------------------------------------------
    def _candidates(self, kinds: Sequence[str]) -> list[str]:
        key = tuple(kinds)
        if key not in self._candidate_cache:
            self._candidate_cache[key] = [d for kind in kinds for d in self.topology.by_kind.get(kind, [])]
        return self._candidate_cache[key]

    def _pick(self, candidates: Sequence[str], start: int, end: int, *, subtree: bool = True) -> str | None:
        """A random candidate with meters whose path to the source (and itself) is not faulted at that time."""
        if not candidates:
            return None
        tries = len(candidates) if len(candidates) <= 64 else 64
        positions = (
            self.rng.permutation(tries)
            if tries == len(candidates)
            else self.rng.integers(0, len(candidates), tries)
        )
        for position in positions.tolist():
            device = candidates[position]
            if not len(self.topology.meters_below(device)):
                continue
            elements = [device, *self.topology.upstream(device)] if subtree else [device]
            if self.claims.free(elements, start, end) and self._below_free(device, start, end, subtree):
                return device
        return None

    def _below_free(self, device: str, start: int, end: int, subtree: bool) -> bool:
        """No fault already placed at that time strictly below `device`."""
        return not subtree or self.claims.below_free(device, start, end)

    def _take(self, element: str, start: int, end: int) -> None:
        upstream = [] if element.startswith("@") else self.topology.upstream(element)
        self.claims.take(element, start, end, upstream)

    def _next_id(self, kind: str) -> str:
        return f"gt-{len(self.faults) + 1:04d}-{kind}"

    def plan(self, scenario: Scenario) -> list[Fault]:
        # the widest faults first: they need a whole feeder free, the small ones fit around them
        for spec in sorted(scenario.faults, key=lambda spec: _PLACEMENT_ORDER.get(spec.kind, 99)):
            self._place_spec(spec)
        self.faults.sort(key=lambda fault: (fault.truth.start_ns, fault.truth.id))
        return self.faults

    def _place_spec(self, spec: FaultSpec) -> None:
        count = spec.count
        if spec.share:
            count = max(count, round(spec.share * len(self._candidates(_DEVICE_KINDS.get(spec.kind, ())))))
        placed = sum(any(_PLACERS[spec.kind](self, spec) for _attempt in range(4)) for _ in range(count))
        if placed < count:
            self.skipped.append(
                f"{spec.kind}: placed {placed} of {count}; no free element of the right kind left"
            )

    # -- outages ------------------------------------------------------------------------------------------------
    def _outage_truth(
        self,
        kind: FaultKind,
        device: str,
        start: int,
        end: int,
        scope: Scope,
        detail: str = "",
        **extra: object,
    ) -> GroundTruth:
        return GroundTruth(
            id=self._next_id(kind),
            kind=kind,
            device=device,
            zone=self._zone(device),
            feeder=self.topology.feeder_of(device),
            start_ns=start,
            end_ns=end,
            scope=scope,
            customers=self.topology.customers_below(device),
            detail=detail,
            **extra,  # type: ignore[arg-type]
        )

    def _zone(self, device: str) -> str:
        """The protection zone an outage of `device` empties: the device itself when it is protective."""
        if self.topology.kind_of(device) in PROTECTIVE_KINDS:
            return device
        return self.topology.zone_of(device)

    def _simple_outage(self, spec: FaultSpec) -> bool:
        kind: FaultKind = spec.kind  # type: ignore[assignment]
        start, end = self._span(spec)
        if kind == "momentary":
            end = min(end, start + int(MOMENTARY_MAX_S * SECOND) - SECOND)
        device = self._pick(self._candidates(_DEVICE_KINDS[kind]), start, end)
        if device is None:
            return False
        scope: Scope = {"customer_loss": "individual", "transformer_loss": "street"}.get(kind, "zonal")  # type: ignore[assignment]
        reason: Literal["trip", "momentary"] = "momentary" if kind == "momentary" else "trip"
        detail = _OUTAGE_DETAIL[kind]
        truth = self._outage_truth(kind, device, start, end, scope, detail)
        self._take(device, start, end)
        self.faults.append(Fault(truth, (Opening(device, start, end, reason),)))
        return True

    def _nested(self, spec: FaultSpec) -> bool:
        """An inner fault (fuse) out longest; an outer trip upstream of it starts later and ends sooner."""
        start, end = self._span(spec)
        span = end - start
        for outer in self.rng.permutation(self._candidates(("recloser", "breaker"))).tolist()[:32]:
            inner_choices = [
                d
                for d in self.topology.protective_below(outer)
                if len(self.topology.meters_below(d)) < len(self.topology.meters_below(outer))
            ]
            if not inner_choices or not self.claims.free([outer, *self.topology.upstream(outer)], start, end):
                continue
            if not self._below_free(outer, start, end, True):
                continue
            inner = inner_choices[int(self.rng.integers(len(inner_choices)))]
            outer_start, outer_end = start + span // 8, start + 5 * span // 8  # sustained: half the span
            outer_truth = self._outage_truth(
                _trip_kind(self.topology.kind_of(outer)),
                outer,
                outer_start,
                outer_end,
                "zonal",
                "encloses a fuse outage",
            )
            self.faults.append(Fault(outer_truth, (Opening(outer, outer_start, outer_end),)))
            inner_truth = self._outage_truth(
                _trip_kind(self.topology.kind_of(inner)),
                inner,
                start,
                end,
                "zonal",
                "nested inside an upstream trip",
                parent=outer_truth.id,
            )
            self.faults.append(Fault(inner_truth, (Opening(inner, start, end),)))
            self._take(outer, start, end)
            return True
        return False

    def _stepped(self, spec: FaultSpec) -> bool:
        """A trip restored in steps: isolate downstream sections, re-close upstream, close each section later."""
        start, end = self._span(spec)
        for head in self.rng.permutation(self._candidates(("breaker", "recloser"))).tolist()[:32]:
            chain = self._isolation_chain(head)
            if not chain or not self.claims.free([head, *self.topology.upstream(head)], start, end):
                continue
            if not self._below_free(head, start, end, True):
                continue
            self.faults.append(self._stepped_fault(head, chain, start, end))
            self._take(head, start, end)
            return True
        return False

    def _isolation_chain(self, head: str) -> list[str]:
        """Up to two nested protective devices below `head`, each interrupting strictly fewer meters."""
        chain: list[str] = []
        current = head
        for _ in range(2):
            below = [
                d
                for d in self.topology.protective_below(current)
                if 0 < len(self.topology.meters_below(d)) < len(self.topology.meters_below(current))
            ]
            if not below:
                break
            current = below[int(self.rng.integers(len(below)))]
            chain.append(current)
        return chain

    def _stepped_fault(self, head: str, chain: list[str], start: int, end: int) -> Fault:
        devices = [head, *chain]
        times = np.linspace(start, end, len(devices) + 1).astype(np.int64)[1:].tolist()
        openings = [Opening(head, start, times[0])]
        openings += [Opening(d, start, t, "isolate") for d, t in zip(chain, times[1:], strict=True)]
        customers = [self.topology.customers_below(d) for d in devices]
        steps = [
            RestorationStep(t, d, c - (customers[i + 1] if i + 1 < len(customers) else 0))
            for i, (d, t, c) in enumerate(zip(devices, times, customers, strict=True))
        ]
        detail = f"restored in {len(steps)} steps: " + ", ".join(
            f"{s.device} (+{s.customers})" for s in steps
        )
        truth = self._outage_truth(
            _trip_kind(self.topology.kind_of(head)), head, start, times[-1], "zonal", detail, steps=steps
        )
        return Fault(truth, tuple(openings))

    # -- power quality on PMUs, meters and sensors ---------------------------------------------------------------
    def _voltage_event(self, spec: FaultSpec) -> bool:
        start, end = self._span(spec)
        device = self._pick(self._candidates(("recloser", "breaker")), start, end)
        if device is None:
            return False
        sag = spec.kind == "voltage_sag"
        factor = float(self.rng.uniform(0.7, 0.88) if sag else self.rng.uniform(1.1, 1.18))
        truth = self._truth(spec.kind, device, start, end, f"voltage at {factor:.2f} pu below {device}")  # type: ignore[arg-type]
        self._take(device, start, end)
        self.faults.append(Fault(truth, magnitude=factor))
        return True

    def _system_event(self, spec: FaultSpec) -> bool:
        """Frequency excursion (every PMU) or a low-frequency oscillation (the PMUs of one substation)."""
        if not self.topology.pmus:
            return False
        start, end = self._span(spec)
        pmu = self.topology.pmus[int(self.rng.integers(len(self.topology.pmus)))]
        gateway_pmus = tuple(p.id for p in self.topology.pmus if p.gateway == pmu.gateway)
        if not self.claims.free(["@" + pmu.gateway], start, end):
            return False
        substation = pmu.gateway.removeprefix("pdc-")
        device = substation if substation in self.topology.by_kind.get("substation", []) else pmu.id
        if spec.kind == "frequency_excursion":
            delta = float(self.rng.choice([-1.0, 1.0]) * self.rng.uniform(0.15, 0.4))
            truth = self._truth(
                "frequency_excursion", device, start, end, f"system frequency {delta:+.2f} Hz"
            )
            fault = Fault(truth, magnitude=delta, targets=tuple(p.id for p in self.topology.pmus))
        else:
            period = float(self.rng.uniform(0.5, 5.0))
            amplitude = float(self.rng.uniform(0.02, 0.05))
            truth = self._truth(
                "oscillation",
                device,
                start,
                end,
                f"{1 / period:.2f} Hz mode, ±{amplitude:.3f} Hz at {pmu.gateway}",
            )
            fault = Fault(truth, magnitude=amplitude, period_s=period, targets=gateway_pmus)
        self._take("@" + pmu.gateway, start, end)
        self.faults.append(fault)
        return True

    # -- data quality ---------------------------------------------------------------------------------------------
    def _sensor_fault(self, spec: FaultSpec) -> bool:
        sites = self.topology.sensors
        if not sites:
            return False
        start, end = self._span(spec)
        for position in self.rng.permutation(len(sites)).tolist()[:32]:
            site = sites[position]
            if self.claims.free([site.id, site.location, *self.topology.upstream(site.location)], start, end):
                magnitude, detail = _sensor_magnitude(spec.kind, self.rng)
                truth = self._truth(spec.kind, site.id, start, end, detail, location=site.location)  # type: ignore[arg-type]
                self._take(site.id, start, end)
                self.faults.append(Fault(truth, magnitude=magnitude, targets=(site.id,)))
                return True
        return False

    def _data_gap(self, spec: FaultSpec) -> bool:
        """A device that goes silent: a PMU in the PMU recipe, a sensor otherwise."""
        sites = self.topology.pmus if spec.max_s <= 60 and self.topology.pmus else self.topology.sensors
        if not sites:
            return False
        start, end = self._span(spec)
        for position in self.rng.permutation(len(sites)).tolist()[:32]:
            site = sites[position]
            if self.claims.free([site.id], start, end):
                truth = self._truth("data_gap", site.id, start, end, "no readings", location=site.location)
                self._take(site.id, start, end)
                self.faults.append(Fault(truth, targets=(site.id,)))
                return True
        return False

    def _tamper(self, spec: FaultSpec) -> bool:
        start, end = self._span(spec)
        meter = self._pick(self.topology.meter_ids, start, end)
        if meter is None:
            return False
        factor = float(self.rng.uniform(0.02, 0.1))
        truth = self._truth("meter_tamper", meter, start, end, f"tamper event; consumption at {factor:.0%}")
        self._take(meter, start, end)
        self.faults.append(Fault(truth, magnitude=factor))
        return True

    def _truth(
        self, kind: FaultKind, device: str, start: int, end: int, detail: str, location: str | None = None
    ) -> GroundTruth:
        where = location or device
        return GroundTruth(
            id=self._next_id(kind),
            kind=kind,
            device=device,
            zone=self.topology.zone_of(where),
            feeder=self.topology.feeder_of(where),
            start_ns=start,
            end_ns=end,
            detail=detail,
        )


def _trip_kind(device_kind: str) -> FaultKind:
    return {"breaker": "breaker_trip", "recloser": "recloser_trip"}.get(device_kind, "fuse_trip")  # type: ignore[return-value]


def _sensor_magnitude(kind: str, rng: np.random.Generator) -> tuple[float, str]:
    if kind == "sensor_drift":
        drift = float(rng.uniform(0.08, 0.15))
        return drift, f"voltage drifts +{drift:.0%} over the fault"
    if kind == "sensor_spike":
        factor = float(rng.uniform(4.0, 8.0))
        return factor, f"isolated current spikes ×{factor:.1f}"
    if kind == "sensor_overheating":
        peak = float(rng.uniform(110.0, 140.0))
        return peak, f"temperature rises to {peak:.0f} °C with overload"
    if kind == "sensor_flatline":
        return 0.0, "current and THD channels read exactly 0 while voltage is normal"
    return 0.0, "every channel repeats the value from the fault start"


_DEVICE_KINDS: dict[str, tuple[str, ...]] = {
    "customer_loss": ("meter",),
    "transformer_loss": ("transformer",),
    "fuse_trip": ("fuse", "sectionalizer"),
    "recloser_trip": ("recloser",),
    "breaker_trip": ("breaker",),
    "momentary": ("recloser", "breaker"),
    "nested": ("recloser", "breaker"),
    "stepped": ("breaker", "recloser"),
}
_OUTAGE_DETAIL = {
    "customer_loss": "service drop lost: one service point dark",
    "transformer_loss": "distribution transformer lost: its street dark",
    "fuse_trip": "fuse blew; replaced by a crew",
    "recloser_trip": "recloser locked out; closed after repair",
    "breaker_trip": "breaker locked out; closed after repair",
    "momentary": f"tripped and reclosed within {MOMENTARY_MAX_S:.0f} s",
}
_PLACEMENT_ORDER = {
    "stepped": 0,
    "nested": 1,
    "breaker_trip": 2,
    "recloser_trip": 3,
    "momentary": 4,
    "fuse_trip": 5,
}
_PLACERS = {
    **{kind: FaultPlanner._simple_outage for kind in OUTAGE_KINDS},
    "nested": FaultPlanner._nested,
    "stepped": FaultPlanner._stepped,
    "voltage_sag": FaultPlanner._voltage_event,
    "voltage_swell": FaultPlanner._voltage_event,
    "frequency_excursion": FaultPlanner._system_event,
    "oscillation": FaultPlanner._system_event,
    **{
        kind: FaultPlanner._sensor_fault
        for kind in ("sensor_stuck", "sensor_flatline", "sensor_drift", "sensor_spike", "sensor_overheating")
    },
    "meter_tamper": FaultPlanner._tamper,
    "data_gap": FaultPlanner._data_gap,
}


def plan_faults(
    topology: Topology, scenario: Scenario, seed: int, start_ns: int, duration_s: float
) -> tuple[list[Fault], list[str]]:
    """The scenario's faults placed on the model (sorted by start), and notes on what could not be placed."""
    planner = FaultPlanner(topology, seed, start_ns, duration_s)
    return planner.plan(scenario), planner.skipped
