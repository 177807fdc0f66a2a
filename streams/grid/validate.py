"""Checks of a network before it becomes a GridModel: a list of findings with severity, for people and importers.

Errors (duplicate ids, dangling parent references, loops, bad ties) stop an import; warnings do not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from gridmon.errors import GridModelError
from gridmon.grid.model import PROTECTIVE_KINDS, Device, DeviceKind, Tie


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One problem: `code` is stable (for tests and scripts), `message` says what is wrong and what to do."""

    severity: Severity
    code: str
    device: str
    message: str


@dataclass
class Report:
    """The findings of one model, errors first."""

    findings: list[Finding] = field(default_factory=list)

    def add(self, severity: Severity, code: str, device: str, message: str) -> None:
        self.findings.append(Finding(severity, code, device, message))

    def extend(self, findings: Iterable[Finding]) -> None:
        self.findings.extend(findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def ok(self) -> bool:
        return not self.errors

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def sorted(self) -> list[Finding]:
        rank = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
        return sorted(self.findings, key=lambda f: (rank[f.severity], f.code, f.device))

    def raise_for_errors(self, source: str) -> None:
        """GridModelError naming the first few errors, when there is any."""
        errors = self.errors
        if not errors:
            return
        shown = "; ".join(f"{f.code} at {f.device}: {f.message}" for f in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise GridModelError(
            f"{source} is not a valid radial network: {shown}{more}. "
            f"Run `gridmon grid validate {source}` for the full report"
        )


def validate(devices: Sequence[Device], ties: Sequence[Tie] = ()) -> Report:
    """Every finding for a list of devices (parents by id) and ties; never raises."""
    report = Report()
    by_id = _unique(devices, report)
    _dangling_parents(devices, by_id, report)
    _loops(by_id, report)
    _sources(devices, report)
    children = Counter(d.parent for d in devices if d.parent is not None)
    _service_points(devices, by_id, report)
    tie_ends = {end for tie in ties for end in (tie.a_end, tie.b_end)}
    _dead_ends(devices, children, tie_ends, report)
    _ties(ties, by_id, report)
    if devices and not any(d.kind in PROTECTIVE_KINDS for d in devices):
        report.add(
            Severity.WARNING,
            "no-protection",
            "",
            "no protective device: every element is in its source's zone; add breakers/fuses (an overlay)",
        )
    return report


def _unique(devices: Sequence[Device], report: Report) -> dict[str, Device]:
    by_id: dict[str, Device] = {}
    for device in devices:
        if device.id in by_id:
            report.add(Severity.ERROR, "duplicate-id", device.id, "the id is used by more than one element")
        by_id.setdefault(device.id, device)
    return by_id


def _dangling_parents(devices: Sequence[Device], by_id: dict[str, Device], report: Report) -> None:
    for device in devices:
        if device.parent is not None and device.parent not in by_id:
            report.add(
                Severity.ERROR,
                "dangling-parent",
                device.id,
                f"its parent {device.parent!r} is not in the model; add it or fix the reference",
            )
        if device.parent == device.id:
            report.add(Severity.ERROR, "loop", device.id, "the element is its own parent")


def _loops(by_id: dict[str, Device], report: Report) -> None:
    """Parent chains that never reach a source: each loop reported once, at its first element found."""
    state: dict[str, int] = {}  # 1: on the current walk, 2: known to reach a source (or a reported loop)
    for start in by_id:
        walk: list[str] = []
        current: str | None = start
        while current is not None and current in by_id and state.get(current) is None:
            state[current] = 1
            walk.append(current)
            current = by_id[current].parent
        if current is not None and state.get(current) == 1 and current != by_id[current].parent:
            cycle = walk[walk.index(current) :]
            report.add(
                Severity.ERROR,
                "loop",
                current,
                f"the parent chain {' → '.join(cycle[:6])}{' → …' if len(cycle) > 6 else ''} is a loop; "
                "a radial model is required: open one switch of the loop and make it a tie",
            )
        for element in walk:
            state[element] = 2


def _sources(devices: Sequence[Device], report: Report) -> None:
    roots = [d for d in devices if d.parent is None]
    if devices and not roots:
        report.add(Severity.ERROR, "no-source", "", "no element without a parent: the network has no source")
    for root in roots:
        if root.kind is not DeviceKind.SUBSTATION:
            report.add(
                Severity.WARNING,
                "unreachable",
                root.id,
                f"a {root.kind} with no parent: it and what hangs below it are not fed from a substation",
            )


def _service_points(devices: Sequence[Device], by_id: dict[str, Device], report: Report) -> None:
    for device in devices:
        if device.kind is not DeviceKind.METER:
            continue
        if device.customers < 1:
            report.add(Severity.WARNING, "no-customers", device.id, "a service point with no customers")
        if not _has_transformer_above(device, by_id):
            report.add(
                Severity.WARNING,
                "meter-without-transformer",
                device.id,
                "no transformer above this meter: street-level (transformer) outages cannot be told apart",
            )


def _has_transformer_above(device: Device, by_id: dict[str, Device]) -> bool:
    seen: set[str] = set()
    parent = device.parent
    while parent is not None and parent in by_id and parent not in seen:
        seen.add(parent)
        if by_id[parent].kind is DeviceKind.TRANSFORMER:
            return True
        parent = by_id[parent].parent
    return False


def _dead_ends(
    devices: Sequence[Device], children: Counter[str | None], tie_ends: set[str], report: Report
) -> None:
    """Lines, transformers and protective devices that feed nothing (tie switches and their ends excepted)."""
    feeding = PROTECTIVE_KINDS | {DeviceKind.LINE, DeviceKind.TRANSFORMER, DeviceKind.SUBSTATION}
    for device in devices:
        if (
            device.kind in feeding
            and not device.normally_open
            and not children[device.id]
            and device.id not in tie_ends
        ):
            report.add(
                Severity.WARNING,
                "dangling-node",
                device.id,
                f"a {device.kind} that feeds nothing: a dead end or a missing connection",
            )


def _ties(ties: Sequence[Tie], by_id: dict[str, Device], report: Report) -> None:
    seen: set[str] = set()
    for tie in ties:
        if tie.id in seen:
            report.add(Severity.ERROR, "duplicate-id", tie.id, "two ties share this id")
        seen.add(tie.id)
        for end in (tie.a_end, tie.b_end):
            if end not in by_id:
                report.add(Severity.ERROR, "bad-tie", tie.id, f"the tie's end {end!r} is not in the model")
        if tie.a_end == tie.b_end:
            report.add(Severity.ERROR, "bad-tie", tie.id, "both ends of the tie are the same element")
