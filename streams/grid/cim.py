"""Import a CIM (IEC 61970/61968) RDF/XML network: the distribution subset gridmon needs, into a GridModel.

Equipment is joined through Terminals and ConnectivityNodes, walked from the EnergySource; closed switches
carry power, normally-open ones become ties; EnergyConsumers become service points with one customer per
UsagePoint (else `EnergyConsumer.customerCount`, else 1).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

from gridmon.errors import GridModelError
from gridmon.grid.model import Device, DeviceKind, GridModel, Tie
from gridmon.grid.sources import Network, carry_power_transformers, place_measurements
from gridmon.grid.validate import Report, Severity, validate

RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"

# CIM class → device kind for conducting equipment with two terminals (series elements).
SERIES_KINDS: dict[str, DeviceKind] = {
    "ACLineSegment": DeviceKind.LINE,
    "Jumper": DeviceKind.LINE,
    "Breaker": DeviceKind.BREAKER,
    "Recloser": DeviceKind.RECLOSER,
    "Fuse": DeviceKind.FUSE,
    "Sectionaliser": DeviceKind.SECTIONALIZER,
    "Sectionalizer": DeviceKind.SECTIONALIZER,
    "LoadBreakSwitch": DeviceKind.SWITCH,
    "Disconnector": DeviceKind.SWITCH,
    "Switch": DeviceKind.SWITCH,
    "PowerTransformer": DeviceKind.TRANSFORMER,
}
SWITCH_CLASSES = {
    "Breaker",
    "Recloser",
    "Fuse",
    "Sectionaliser",
    "Sectionalizer",
    "LoadBreakSwitch",
    "Disconnector",
    "Switch",
}
# One-terminal equipment carried as `other` (capacitors and the like): they neither feed nor interrupt.
SHUNT_CLASSES = {
    "LinearShuntCompensator",
    "ShuntCompensator",
    "NonlinearShuntCompensator",
    "StaticVarCompensator",
}


@dataclass
class _Object:
    cls: str
    props: dict[str, list[str]] = field(default_factory=dict)

    def text(self, name: str, default: str = "") -> str:
        values = self.props.get(name)
        return values[0] if values else default

    def number(self, name: str) -> float | None:
        try:
            return float(self.text(name))
        except ValueError:
            return None


def read_cim(path: str | Path) -> Network:
    """Parse and walk a CIM file into devices and ties, with findings; never raises for a bad network."""
    objects = _parse(Path(path))
    walker = _Walker(objects)
    walker.walk()
    devices = place_measurements(carry_power_transformers(walker.devices, walker.report), walker.report)
    report = validate(devices, walker.ties)
    report.extend(walker.report.findings)
    return Network(devices, walker.ties, report)


def import_cim(path: str | Path) -> GridModel:
    """A GridModel from a CIM RDF/XML file; GridModelError with the findings when it is not a radial network."""
    return read_cim(path).build(str(path))


def _parse(path: Path) -> dict[str, _Object]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise GridModelError(f"cannot read CIM file {path}: {exc}; give an RDF/XML CIM export") from None
    objects: dict[str, _Object] = {}
    for element in root:
        identifier = element.get(f"{RDF}ID") or element.get(f"{RDF}about")
        if identifier is None:
            continue
        obj = objects.setdefault(_ref(identifier), _Object(_local(element.tag)))
        for prop in element:
            resource = prop.get(f"{RDF}resource")
            value = _ref(resource) if resource is not None else (prop.text or "").strip()
            obj.props.setdefault(_local(prop.tag), []).append(value)
    if not objects:
        raise GridModelError(f"{path} holds no RDF objects: is it a CIM RDF/XML file?")
    return objects


def _local(tag: str) -> str:
    """'{ns}ACLineSegment' → 'ACLineSegment'; 'cim:Terminal.ConnectivityNode' keeps its class prefix."""
    return tag.rpartition("}")[2]


def _ref(value: str) -> str:
    return value.removeprefix("#").removeprefix("urn:uuid:").removeprefix("_")


class _Walker:
    """Breadth-first from the sources over connectivity nodes; each element's parent is the one feeding it."""

    def __init__(self, objects: dict[str, _Object]) -> None:
        self.objects = objects
        self.report = Report()
        self.devices: list[Device] = []
        self.ties: list[Tie] = []
        self.terminals: dict[str, list[str]] = defaultdict(list)  # equipment → nodes, by sequence number
        self.at_node: dict[str, list[str]] = defaultdict(list)  # node → equipment
        self.fed_by: dict[str, str] = {}  # node → the device that energises it
        self.feeder_of: dict[str, str] = {}
        self.placed: set[str] = set()
        self.customers = self._usage_points()
        self.positions = self._positions()
        self._connect()

    def _connect(self) -> None:
        terminals = sorted(
            (obj.number("ACDCTerminal.sequenceNumber") or obj.number("Terminal.sequenceNumber") or 0, key)
            for key, obj in self.objects.items()
            if obj.cls == "Terminal"
        )
        for _, key in terminals:
            terminal = self.objects[key]
            equipment = terminal.text("Terminal.ConductingEquipment")
            node = terminal.text("Terminal.ConnectivityNode")
            if not equipment or not node:
                self.report.add(
                    Severity.WARNING, "dangling-node", key, "a terminal without equipment or node"
                )
                continue
            self.terminals[equipment].append(node)
            self.at_node[node].append(equipment)

    def _usage_points(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for obj in self.objects.values():
            if obj.cls == "UsagePoint":
                for equipment in obj.props.get("UsagePoint.Equipments", []):
                    counts[equipment] += 1
        return counts

    def _positions(self) -> dict[str, tuple[float, float]]:
        """Equipment → (x, y) of the first PositionPoint of its Location."""
        by_location: dict[str, tuple[float, float]] = {}
        for obj in self.objects.values():
            if obj.cls == "PositionPoint":
                x, y = obj.number("PositionPoint.xPosition"), obj.number("PositionPoint.yPosition")
                location = obj.text("PositionPoint.Location")
                if x is not None and y is not None and location not in by_location:
                    by_location[location] = (x, y)
        return {
            key: by_location[location]
            for key, obj in self.objects.items()
            if (location := obj.text("PowerSystemResource.Location")) in by_location
        }

    def walk(self) -> None:
        sources = [key for key, obj in self.objects.items() if obj.cls == "EnergySource"]
        if not sources:
            self.report.add(Severity.ERROR, "no-source", "", "no EnergySource: the network has no source")
        queue: deque[str] = deque()
        for source in sources:
            substation = self._container(source, "Substation") or source
            if substation not in self.placed:
                self._add(substation, DeviceKind.SUBSTATION, None, "", source)
            for node in self.terminals.get(source, []):
                self.fed_by[node] = substation
                queue.append(node)
        open_switches: list[str] = []
        while queue:
            node = queue.popleft()
            for equipment in self.at_node[node]:
                self._energise(node, equipment, queue, open_switches)
        self._make_ties(open_switches)
        self._unreached()

    def _energise(self, node: str, key: str, queue: deque[str], open_switches: list[str]) -> None:
        if key in self.placed or key in open_switches:
            return
        obj = self.objects.get(key)
        if obj is None or obj.cls == "EnergySource":
            return
        parent = self.fed_by[node]
        if obj.cls in SWITCH_CLASSES and _is_open(obj):
            open_switches.append(key)
            return
        if obj.cls == "EnergyConsumer":
            self._add(key, DeviceKind.METER, parent, self._feeder(parent, DeviceKind.METER, key), key)
            return
        if obj.cls in SHUNT_CLASSES or len(self.terminals[key]) < 2:
            self._carry(key, obj, parent)
            return
        kind = SERIES_KINDS.get(obj.cls, DeviceKind.OTHER)
        if kind is DeviceKind.OTHER:
            self.report.add(Severity.INFO, "carried", key, f"{obj.cls} carried as `other` (passes power)")
        self._add(key, kind, parent, self._feeder(parent, kind, key), key)
        for other in self.terminals[key]:
            if other == node:
                continue
            if other in self.fed_by:
                self.report.add(
                    Severity.ERROR,
                    "loop",
                    key,
                    f"node {other} is already fed by {self.fed_by[other]}: a loop where radial is required; "
                    "make one switch of the loop normally open (Switch.normalOpen=true)",
                )
                continue
            self.fed_by[other] = key
            queue.append(other)

    def _carry(self, key: str, obj: _Object, parent: str) -> None:
        self.report.add(Severity.INFO, "carried", key, f"{obj.cls} carried as `other`")
        self._add(key, DeviceKind.OTHER, parent, self.feeder_of.get(parent, ""), key)

    def _feeder(self, parent: str, kind: DeviceKind, key: str) -> str:
        """Elements inherit their parent's feeder; the first non-transformer below a source starts one."""
        inherited = self.feeder_of.get(parent, "")
        if inherited or kind in (DeviceKind.TRANSFORMER, DeviceKind.OTHER, DeviceKind.METER):
            return inherited
        feeder = self._container(key, "Feeder")
        return self.objects[feeder].text("IdentifiedObject.name", feeder) if feeder else key

    def _container(self, key: str, cls: str) -> str | None:
        container = self.objects[key].text("Equipment.EquipmentContainer")
        seen: set[str] = set()
        while container and container in self.objects and container not in seen:
            seen.add(container)
            if self.objects[container].cls == cls:
                return container
            # VoltageLevel → Substation, Bay → VoltageLevel: walk up the containment.
            obj = self.objects[container]
            container = obj.text("VoltageLevel.Substation") or obj.text("Bay.VoltageLevel")
        return None

    def _add(
        self, key: str, kind: DeviceKind, parent: str | None, feeder: str, source: str, *, tie: bool = False
    ) -> None:
        obj = self.objects.get(source)
        name = obj.text("IdentifiedObject.name", key) if obj else key
        x, y = self.positions.get(source, (float("nan"), float("nan")))
        customers = 0
        kw = 0.0
        kva = 0.0
        if kind is DeviceKind.METER and obj is not None:
            customers = self.customers.get(key) or int(obj.number("EnergyConsumer.customerCount") or 1)
            kw = (obj.number("EnergyConsumer.p") or 0.0) / 1000.0
        if kind is DeviceKind.TRANSFORMER:
            kva = self._rated_kva(key)
        self.devices.append(
            Device(key, kind, feeder, parent, name, x, y, customers, kva, kw, normally_open=tie)
        )
        self.feeder_of[key] = feeder
        self.placed.add(key)

    def _rated_kva(self, transformer: str) -> float:
        ratings = [
            obj.number("PowerTransformerEnd.ratedS") or 0.0
            for obj in self.objects.values()
            if obj.cls == "PowerTransformerEnd"
            and obj.text("PowerTransformerEnd.PowerTransformer") == transformer
        ]
        return max(ratings, default=0.0) / 1000.0

    def _make_ties(self, open_switches: list[str]) -> None:
        for key in dict.fromkeys(open_switches):
            ends = [self.fed_by.get(node) for node in self.terminals[key]]
            fed = [end for end in ends if end is not None]
            if len(fed) < 2:
                self.report.add(
                    Severity.WARNING,
                    "unreachable",
                    key,
                    "a normally-open switch with a dead side: what is behind it is not fed; kept out of the model",
                )
                continue
            a_end, b_end = fed[0], fed[1]
            self._add(key, DeviceKind.SWITCH, a_end, self.feeder_of.get(a_end, ""), key, tie=True)
            self.ties.append(Tie(key, a_end, b_end))

    def _unreached(self) -> None:
        for key in self.terminals:
            obj = self.objects.get(key)
            if key in self.placed or obj is None or obj.cls == "EnergySource":
                continue
            if obj.cls in SWITCH_CLASSES and _is_open(obj):
                continue  # reported by _make_ties
            self.report.add(
                Severity.WARNING,
                "unreachable",
                key,
                f"{obj.cls} is not connected to any source; it is left out of the model",
            )


def _is_open(obj: _Object) -> bool:
    return obj.text("Switch.normalOpen").lower() == "true"
