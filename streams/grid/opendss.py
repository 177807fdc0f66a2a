"""Import OpenDSS circuits (as the IEEE test feeders are published) through the real engine, opendssdirect.py.

Series elements are walked from the source bus into a radial tree; loads become service points under a
(synthesised) distribution transformer; an overlay, or generic default rules, adds the protection OpenDSS
models rarely carry. The rules (documented on `ServicePointRule` and `Overlay`) never name a feeder.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict, deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gridmon.errors import GridModelError
from gridmon.grid.model import PROTECTIVE_KINDS, Device, DeviceKind, GridModel, Tie
from gridmon.grid.sources import Network, carry_power_transformers, place_measurements
from gridmon.grid.validate import Report, Severity, validate

K = DeviceKind
SERIES_CLASSES = {
    "line": K.LINE,
    "transformer": K.TRANSFORMER,
    "reactor": K.OTHER,
    "autotrans": K.TRANSFORMER,
}
# Control elements that mean "a protective device sits on the monitored/switched element".
CONTROL_KINDS = {"fuse": K.FUSE, "recloser": K.RECLOSER, "relay": K.BREAKER, "swtcontrol": K.SWITCH}
# Shunt elements that sit on a bus and are carried as `other` leaves (loads become service points).
CARRIED_SHUNTS = {"capacitor", "reactor", "generator", "pvsystem", "storage", "windgen", "vccs", "isource"}
_PHASES = {"1": "A", "2": "B", "3": "C"}


@dataclass(frozen=True)
class ServicePointRule:
    """Loads → service points. A load of P kW has max(min_customers, round(P / kw_per_customer)) customers,
    each its own meter (`meter_per_customer`) or one meter carrying them all. The meters hang below the
    transformer that feeds the load's bus; when a line feeds the bus, one distribution transformer is
    synthesised per bus (`XF.<bus>`, rated 1.25 × the bus load)."""

    kw_per_customer: float = 5.0
    min_customers: int = 1
    meter_per_customer: bool = True

    def customers(self, kw: float) -> int:
        return max(self.min_customers, round(max(kw, 0.0) / self.kw_per_customer))


@dataclass(frozen=True)
class OverlayDevice:
    """A protective device to insert just upstream of an element of the model (`upstream_of`)."""

    id: str
    kind: DeviceKind
    upstream_of: str


@dataclass
class Overlay:
    """Protection to add where the model has none, from a YAML/JSON file:

        devices: [{id: F1, kind: fuse, upstream_of: Line.684611}, ...]   # inserted above the element
        kinds: {Line.671692: sectionalizer}                                 # re-classify elements
        auto: {breaker: true, recloser: true, fuses: true}                  # the default rules below
        recloser_load_fraction: 0.5

    Default rules, each applied only when the model and overlay have no device of that kind: a breaker at
    each feeder head (the first element leaving the substation); a recloser on the main trunk (from the
    head, always the child carrying the most load) where the load still downstream first drops to
    `recloser_load_fraction` of the feeder's; a fuse at every lateral tap (a line leaving the trunk that
    feeds customers). Transformers tapped straight off the trunk stay unfused (street level).
    """

    devices: list[OverlayDevice] = field(default_factory=list)
    kinds: dict[str, DeviceKind] = field(default_factory=dict)
    auto_breaker: bool = True
    auto_recloser: bool = True
    auto_fuses: bool = True
    recloser_load_fraction: float = 0.5

    @classmethod
    def load(cls, path: str | Path) -> Overlay:
        path = Path(path)
        try:
            text = path.read_text()
            data = json.loads(text) if path.suffix.lower() == ".json" else _yaml(text)
        except (OSError, ValueError) as exc:
            raise GridModelError(f"cannot read overlay {path}: {exc}") from None
        return cls.from_dict(data or {}, str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "overlay") -> Overlay:
        try:
            auto = data.get("auto", {})
            return cls(
                devices=[
                    OverlayDevice(str(d["id"]), DeviceKind(d["kind"]), str(d["upstream_of"]))
                    for d in data.get("devices", [])
                ],
                kinds={str(k): DeviceKind(v) for k, v in data.get("kinds", {}).items()},
                auto_breaker=bool(auto.get("breaker", True)),
                auto_recloser=bool(auto.get("recloser", True)),
                auto_fuses=bool(auto.get("fuses", True)),
                recloser_load_fraction=float(data.get("recloser_load_fraction", 0.5)),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise GridModelError(
                f"{source}: bad overlay ({exc!r}); expected devices: [{{id, kind, upstream_of}}], "
                "kinds: {element: kind}, auto: {breaker|recloser|fuses: bool}"
            ) from None


def _yaml(text: str) -> Any:
    import yaml  # type: ignore[import-untyped]

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(str(exc)) from None


def import_opendss(
    path: str | Path, overlay: Overlay | str | Path | None = None, rule: ServicePointRule | None = None
) -> GridModel:
    """A GridModel from an OpenDSS circuit file; GridModelError with the findings if it is not radial."""
    return read_opendss(path, overlay=overlay, rule=rule).build(str(path))


def read_opendss(
    path: str | Path, overlay: Overlay | str | Path | None = None, rule: ServicePointRule | None = None
) -> Network:
    """Compile the circuit with OpenDSS and turn it into devices, ties and findings."""
    if overlay is not None and not isinstance(overlay, Overlay):
        overlay = Overlay.load(overlay)
    circuit = _compile(Path(path))
    builder = _Builder(circuit, overlay or Overlay(), rule or ServicePointRule())
    builder.build()
    devices = place_measurements(
        carry_power_transformers(builder.device_list(), builder.report), builder.report
    )
    report = validate(devices, builder.ties)
    report.extend(builder.report.findings)
    return Network(devices, builder.ties, report)


# --- reading the circuit out of OpenDSS ---------------------------------------------------------------------


@dataclass
class _Element:
    name: str  # OpenDSS full name, e.g. Line.650632
    cls: str  # lower-case class
    buses: list[str]  # bus names without nodes, ground excluded
    phases: str
    is_open: bool = False
    is_switch: bool = False
    kw: float = 0.0
    kva: float = 0.0


@dataclass
class _Circuit:
    name: str
    source_buses: list[str]
    elements: list[_Element]
    controls: dict[
        str, tuple[DeviceKind, str]
    ]  # element → (kind, control name) from Fuse/Recloser/Relay/SwtControl
    regulated: set[str]  # transformers with a RegControl
    coords: dict[str, tuple[float, float]]


def _compile(path: Path) -> _Circuit:
    if not path.is_file():
        raise GridModelError(f"no such OpenDSS file: {path}")
    import opendssdirect as dss

    cwd = os.getcwd()  # `compile` changes the working directory to the file's folder
    try:
        _allow_no_forms(dss)
        dss.Text.Command("clear")
        dss.Text.Command(f'compile "{path.resolve()}"')
        _bus_coordinates(dss, path)
        return _read_circuit(dss)
    except Exception as exc:  # the engine raises its own DSSException with the parser's message
        if isinstance(exc, GridModelError):
            raise
        raise GridModelError(f"OpenDSS cannot compile {path}: {exc}") from None
    finally:
        os.chdir(cwd)


def _allow_no_forms(dss: Any) -> None:
    """Headless: reports and editors that a script opens must not block the import."""
    for setter in ("AllowForms", "AllowEditor"):
        function = getattr(dss.Basic, setter, None)
        if function is not None:
            function(False)


def _bus_coordinates(dss: Any, path: Path) -> None:
    """Coordinates from a `*BusXY*.csv` beside the circuit when the script itself did not load any."""
    if any(_has_coords(dss, bus) for bus in dss.Circuit.AllBusNames()):
        return
    for candidate in sorted(path.parent.iterdir()):
        if "busxy" in candidate.name.lower() and candidate.suffix.lower() in (".csv", ".txt", ".dat"):
            dss.Text.Command(f'BusCoords "{candidate.resolve()}"')
            return


def _has_coords(dss: Any, bus: str) -> bool:
    dss.Circuit.SetActiveBus(bus)
    return bool(dss.Bus.Coorddefined())


def _read_circuit(dss: Any) -> _Circuit:
    elements: list[_Element] = []
    sources: list[str] = []
    for full in dss.Circuit.AllElementNames():
        dss.Circuit.SetActiveElement(full)
        cls = full.partition(".")[0].lower()
        if not dss.CktElement.Enabled():
            continue
        specs = dss.CktElement.BusNames()
        buses = list(dict.fromkeys(b.partition(".")[0].lower() for b in specs if not _grounded(b)))
        if cls == "vsource":
            sources.append(buses[0])
            continue
        element = _Element(full, cls, buses, _phases(specs[0], dss.CktElement.NumPhases()))
        element.is_open = any(dss.CktElement.IsOpen(t + 1, 0) for t in range(dss.CktElement.NumTerminals()))
        if cls == "line":
            dss.Lines.Name(full.partition(".")[2])
            element.is_switch = bool(dss.Lines.IsSwitch())
        elif cls == "load":
            dss.Loads.Name(full.partition(".")[2])
            element.kw = float(dss.Loads.kW())
        elif cls == "transformer":
            dss.Transformers.Name(full.partition(".")[2])
            element.kva = float(dss.Transformers.kVA())
        elements.append(element)
    coords: dict[str, tuple[float, float]] = {}
    for bus in dss.Circuit.AllBusNames():
        dss.Circuit.SetActiveBus(bus)
        if dss.Bus.Coorddefined():
            coords[bus.lower()] = (float(dss.Bus.X()), float(dss.Bus.Y()))
    return _Circuit(dss.Circuit.Name(), sources, elements, _controls(dss), _regulated(dss), coords)


def _grounded(bus: str) -> bool:
    nodes = bus.split(".")[1:]
    return bool(nodes) and all(n == "0" for n in nodes)


def _phases(bus: str, count: int) -> str:
    nodes = [n for n in bus.split(".")[1:] if n in _PHASES]
    return "".join(sorted({_PHASES[n] for n in nodes})) if nodes else "ABC"[: max(1, min(count, 3))]


def _controls(dss: Any) -> dict[str, tuple[DeviceKind, str]]:
    found: dict[str, tuple[DeviceKind, str]] = {}
    for cls, kind in CONTROL_KINDS.items():
        interface = {
            "fuse": dss.Fuses,
            "recloser": dss.Reclosers,
            "relay": dss.Relays,
            "swtcontrol": dss.SwtControls,
        }[cls]
        for name in interface.AllNames() or []:
            if name.lower() == "none":
                continue
            interface.Name(name)
            target = interface.SwitchedObj() if cls in ("swtcontrol", "relay") else interface.MonitoredObj()
            if target:
                found[target.lower()] = (kind, f"{cls.title()}.{name}")
    return found


def _regulated(dss: Any) -> set[str]:
    regulated: set[str] = set()
    for name in dss.RegControls.AllNames() or []:
        if name.lower() == "none":
            continue
        dss.RegControls.Name(name)
        regulated.add(f"transformer.{dss.RegControls.Transformer().lower()}")
    return regulated


# --- building the tree --------------------------------------------------------------------------------------


class _Builder:
    """Walk from the source bus; each element's parent is the device that energises its upstream bus."""

    def __init__(self, circuit: _Circuit, overlay: Overlay, rule: ServicePointRule) -> None:
        self.circuit = circuit
        self.overlay = overlay
        self.rule = rule
        self.report = Report()
        self.devices: dict[str, Device] = {}
        self.children: dict[str, list[str]] = defaultdict(list)
        self.ties: list[Tie] = []
        self.fed_by: dict[str, str] = {}  # bus → device feeding it
        self.substation = "Vsource.source"
        self.feeder = circuit.name

    def device_list(self) -> list[Device]:
        return list(self.devices.values())

    def build(self) -> None:
        if not self.circuit.source_buses:
            raise GridModelError("the OpenDSS circuit has no Vsource: nothing to walk from")
        self._add(Device(self.substation, K.SUBSTATION, "", None, f"{self.circuit.name} substation"))
        series, shunts = self._split()
        open_elements = self._walk(series)
        self._ties(open_elements)
        self._shunts(shunts)
        self._feeders()
        self._protection()

    def _split(self) -> tuple[list[_Element], list[_Element]]:
        series = [e for e in self.circuit.elements if e.cls in SERIES_CLASSES and len(e.buses) >= 2]
        shunts = [e for e in self.circuit.elements if e not in series]
        return series, shunts

    def _walk(self, series: list[_Element]) -> list[_Element]:
        at_bus: dict[str, list[_Element]] = defaultdict(list)
        for element in series:
            for bus in element.buses:
                at_bus[bus].append(element)
        queue: deque[str] = deque()
        for bus in self.circuit.source_buses:
            self.fed_by[bus] = self.substation
            queue.append(bus)
        placed: set[str] = set()
        open_elements: list[_Element] = []
        while queue:
            bus = queue.popleft()
            for element in at_bus[bus]:
                if element.name in placed:
                    continue
                placed.add(element.name)
                if element.is_open:
                    open_elements.append(element)
                    continue
                self._place(element, bus, queue)
        for element in series:
            if element.name not in placed:
                self.report.add(
                    Severity.WARNING, "unreachable", element.name, "not connected to the source; left out"
                )
        return open_elements

    def _place(self, element: _Element, bus: str, queue: deque[str]) -> None:
        parent = self.fed_by[bus]
        downstream = [b for b in element.buses if b != bus]
        fed = [b for b in downstream if b in self.fed_by]
        if fed and len(fed) == len(downstream):
            self._parallel(element, parent, fed)
            return
        self._add(self._device(element, parent))
        for other in downstream:
            if other in self.fed_by:
                continue
            self.fed_by[other] = element.name
            queue.append(other)

    def _parallel(self, element: _Element, parent: str, fed: list[str]) -> None:
        """Single-phase units of one bank (regulators) join the same buses: carried beside the first unit."""
        first = self.fed_by[fed[0]]
        if self.devices[first].parent == parent:
            self._add(replace(self._device(element, parent), kind=K.OTHER))
            self.report.add(
                Severity.INFO, "carried", element.name, f"in parallel with {first}; carried as other"
            )
            return
        self.report.add(
            Severity.ERROR,
            "loop",
            element.name,
            f"bus {fed[0]} is already fed by {first}: a loop where radial is required; "
            f"open one element of the loop (`open {element.name}`) to make it a tie",
        )

    def _device(self, element: _Element, parent: str) -> Device:
        kind = self.overlay.kinds.get(element.name) or self._kind(element)
        x, y = self._xy(element.buses[-1])
        return Device(
            element.name, kind, "", parent, element.name, x, y, kva=element.kva, phases=element.phases
        )

    def _kind(self, element: _Element) -> DeviceKind:
        if element.is_switch:
            return K.SWITCH
        if element.name.lower() in self.circuit.regulated:
            self.report.add(Severity.INFO, "carried", element.name, "a voltage regulator, carried as other")
            return K.OTHER
        return SERIES_CLASSES[element.cls]

    def _xy(self, bus: str) -> tuple[float, float]:
        return self.circuit.coords.get(bus, (math.nan, math.nan))

    def _ties(self, open_elements: list[_Element]) -> None:
        for element in open_elements:
            ends = [self.fed_by.get(b) for b in element.buses]
            if any(end is None for end in ends) or ends[0] == ends[1]:
                self.report.add(
                    Severity.WARNING,
                    "unreachable",
                    element.name,
                    "an open element with a dead side; left out",
                )
                continue
            a_end, b_end = str(ends[0]), str(ends[1])
            self._add(replace(self._device(element, a_end), kind=K.SWITCH, normally_open=True))
            self.ties.append(Tie(element.name, a_end, b_end))

    def _shunts(self, shunts: list[_Element]) -> None:
        transformers: dict[str, str] = {}
        ignored: dict[str, int] = {}
        for element in shunts:
            if element.cls not in CARRIED_SHUNTS | {"load"}:
                if element.cls not in CONTROL_KINDS:  # protective controls became devices already
                    ignored[element.cls] = ignored.get(element.cls, 0) + 1
                continue
            bus = element.buses[0] if element.buses else ""
            feeder_device = self.fed_by.get(bus)
            if feeder_device is None:
                self.report.add(
                    Severity.WARNING, "unreachable", element.name, f"bus {bus!r} is not fed; left out"
                )
                continue
            if element.cls == "load":
                self._service_points(element, bus, feeder_device, transformers)
            else:
                x, y = self._xy(bus)
                self._add(
                    Device(
                        element.name, K.OTHER, "", feeder_device, element.name, x, y, phases=element.phases
                    )
                )
                self.report.add(Severity.INFO, "carried", element.name, f"{element.cls} carried as other")
        for cls, count in sorted(ignored.items()):
            self.report.add(
                Severity.INFO,
                "ignored",
                cls,
                f"{count} {cls} element(s) ignored (controls and meters are not devices)",
            )

    def _service_points(self, load: _Element, bus: str, feeding: str, transformers: dict[str, str]) -> None:
        transformer = feeding if self.devices[feeding].kind is K.TRANSFORMER else transformers.get(bus)
        if transformer is None:
            transformer = f"XF.{bus}"
            x, y = self._xy(bus)
            self._add(Device(transformer, K.TRANSFORMER, "", feeding, f"synthesised for bus {bus}", x, y))
            transformers[bus] = transformer
        if transformer in transformers.values():
            self.devices[transformer] = replace(
                self.devices[transformer], kva=self.devices[transformer].kva + 1.25 * load.kw
            )
        customers = self.rule.customers(load.kw)
        x, y = self._xy(bus)
        if not self.rule.meter_per_customer:
            self._add(
                Device(
                    load.name,
                    K.METER,
                    "",
                    transformer,
                    load.name,
                    x,
                    y,
                    customers,
                    kw=load.kw,
                    phases=load.phases,
                )
            )
            return
        width = len(str(customers))
        for k in range(customers):
            meter = f"{load.name}.m{k + 1:0{width}d}"
            self._add(
                Device(
                    meter,
                    K.METER,
                    "",
                    transformer,
                    meter,
                    x,
                    y,
                    1,
                    kw=load.kw / customers,
                    phases=load.phases,
                )
            )

    # --- feeders and protection -----------------------------------------------------------------------------

    def _heads(self) -> list[str]:
        """Feeder heads: the first element on each path from the source that is not a transformer/regulator."""
        heads: list[str] = []
        frontier = list(self.children[self.substation])
        while frontier:
            device = frontier.pop(0)
            kind = self.devices[device].kind
            if kind in (K.TRANSFORMER, K.OTHER):
                frontier.extend(self.children[device])  # substation transformer, regulators: above the feeder
            elif kind is not K.METER:
                heads.append(device)
        return heads

    def _feeders(self) -> None:
        heads = self._heads()
        for head in heads:
            name = self.feeder if len(heads) == 1 else f"{self.feeder}/{head}"
            for device in self._subtree(head):
                self.devices[device] = replace(self.devices[device], feeder=name)
        self.heads = heads

    def _protection(self) -> None:
        for element, (kind, control) in self.circuit.controls.items():
            target = self._find(element)
            if target is not None:
                self._insert(control, kind, target)
        for device in self.overlay.devices:
            if self._find(device.upstream_of) is None:
                raise GridModelError(
                    f"overlay device {device.id}: no element {device.upstream_of!r} in the model; "
                    "use an OpenDSS element name such as Line.650632"
                )
            self._insert(device.id, device.kind, str(self._find(device.upstream_of)))
        present = {d.kind for d in self.devices.values() if not d.normally_open}
        if self.overlay.auto_breaker and K.BREAKER not in present:
            for head in self.heads:
                self._insert(f"Breaker.{head}", K.BREAKER, head, note="breaker at the feeder head")
        if self.overlay.auto_recloser and K.RECLOSER not in present:
            for head in self.heads:
                self._trunk_recloser(head)
        if self.overlay.auto_fuses and K.FUSE not in present:
            for head in self.heads:
                self._lateral_fuses(head)

    def _find(self, name: str) -> str | None:
        lowered = name.lower()
        return next((d for d in self.devices if d.lower() == lowered), None)

    def _insert(self, device_id: str, kind: DeviceKind, above: str, note: str = "") -> None:
        """Put a protective device between `above` and its parent (same feeder and place)."""
        target = self.devices[above]
        if target.parent is None:
            raise GridModelError(f"cannot put {device_id} above the source {above}")
        self._add(replace(target, id=device_id, kind=kind, name=device_id, customers=0, kw=0.0, kva=0.0))
        self.children[target.parent].remove(device_id)
        self.children[target.parent][self.children[target.parent].index(above)] = device_id
        self.devices[above] = replace(target, parent=device_id)
        self.children[device_id].append(above)
        if note:
            self.report.add(Severity.INFO, "overlay", device_id, f"added by the default rule: {note}")

    def _load_below(self) -> dict[str, float]:
        below: dict[str, float] = defaultdict(float)
        for device in self.devices.values():
            if device.kind is K.METER:
                node: str | None = device.id
                while node is not None:
                    below[node] += device.kw
                    node = self.devices[node].parent
        return below

    def _trunk(self, head: str, below: dict[str, float]) -> list[str]:
        """From the head, always the child that carries the most load (transformers end at the street)."""
        trunk = [head]
        while True:
            options = [
                c
                for c in self.children[trunk[-1]]
                if below.get(c, 0.0) > 0 and self.devices[c].kind not in (K.TRANSFORMER, K.METER)
            ]
            if not options:
                return trunk
            trunk.append(max(options, key=lambda c: below[c]))

    def _trunk_recloser(self, head: str) -> None:
        below = self._load_below()
        total = below.get(head, 0.0)
        candidate: str | None = None  # the last unprotected trunk element seen
        for element in self._trunk(head, below)[1:]:
            protective = self.devices[element].kind in PROTECTIVE_KINDS
            if below[element] <= self.overlay.recloser_load_fraction * total:
                # Where a switch already splits the trunk, the recloser goes just upstream of it.
                place = candidate if protective else element
                if place is not None:
                    note = (
                        f"recloser on the trunk where {below[place] / total:.0%} of the feeder load remains"
                    )
                    self._insert(f"Recloser.{place}", K.RECLOSER, place, note=note)
                return
            if not protective:
                candidate = element

    def _lateral_fuses(self, head: str) -> None:
        below = self._load_below()
        trunk = self._trunk(head, below)
        on_trunk = set(trunk)
        for element in trunk:
            for child in list(self.children[element]):
                device = self.devices[child]
                if child in on_trunk or below.get(child, 0.0) <= 0:
                    continue
                if device.kind in (K.LINE, K.OTHER):
                    self._insert(f"Fuse.{child}", K.FUSE, child, note="fuse at a lateral tap off the trunk")

    def _subtree(self, device: str) -> list[str]:
        found, stack = [], [device]
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(self.children[current])
        return found

    def _add(self, device: Device) -> None:
        if device.id in self.devices:
            raise GridModelError(
                f"OpenDSS import: the id {device.id} would be used twice; rename the element"
            )
        self.devices[device.id] = device
        if device.parent is not None:
            self.children[device.parent].append(device.id)
