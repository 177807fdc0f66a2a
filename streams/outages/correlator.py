"""The outage correlator: outage events by feeder in, outage state changes out (probable → … → restored).

Event time with a watermark: last gasps wait a short window and are then located on the grid model; SCADA
opens raise their device at once (after a possible reclose); restoration is followed meter by meter.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence

import msgspec
import numpy as np

from gridmon.grid import GridModel
from gridmon.outages.advice import isolation_advice
from gridmon.outages.atrisk import AtRiskTracker
from gridmon.outages.config import CorrelatorConfig
from gridmon.outages.locate import locate
from gridmon.outages.state import AtRiskState, CorrelatorState, OpenOutage
from gridmon.outages.topology import OutageTopology
from gridmon.records import Anomaly, Outage

SECOND = 1_000_000_000
MINUTE = 60 * SECOND


def onset(times: Sequence[int], config: CorrelatorConfig) -> int:
    """When a group of meters went dark: the earliest stamp near the bulk of them (a slow clock is ignored)."""
    ordered = sorted(times)
    median = ordered[len(ordered) // 2]
    window = int(config.last_gasp_window_s * SECOND)
    return next(t for t in ordered if t >= median - window)


DARK_EVENTS = frozenset({"last_gasp", "ping_fail", "no_voltage"})
ALIVE_EVENTS = frozenset({"power_restored", "ping_ok", "alive"})
SCADA_OPEN = frozenset({"trip", "lockout", "open"})
SCADA_CLOSE = frozenset({"close", "reclose"})
FINAL = frozenset({"restored", "momentary"})
UNSYNCED = frozenset({"ami", "sensor"})  # field clocks that drift; SCADA RTUs and PMUs are time-synchronised


class OutageCorrelator:
    """Correlate outage events of the feeders this worker owns.

    >>> correlator = OutageCorrelator(model)  # doctest: +SKIP
    >>> outages = correlator.process(events)  # state changes only  # doctest: +SKIP
    >>> outages += correlator.flush(until_ns)  # doctest: +SKIP
    """

    def __init__(self, model: GridModel, config: CorrelatorConfig | None = None) -> None:
        self.model = model
        self.config = config or CorrelatorConfig()
        self.topology = OutageTopology(model)
        # scalar lookups for the per-outage walks: a compact array, not a list (a list held an int object per
        # device: ~43 MB per column at 1.2M devices, against 9.6 MB)
        self._cparent = _int_array(self.topology.candidate_parent)
        self._tin = _int_array(self.topology.tin)
        self._tout = _int_array(self.topology.tout)
        self.state = CorrelatorState()
        self.at_risk_tracker = AtRiskTracker(model, self.config, self.topology)
        self.unknown_devices = 0
        self._batch_now = 0  # the newest credible stamp of the batch being applied: when it arrived
        self._advice_cache: dict[int, list[str]] = {}
        self._nested: dict[str, list[OpenOutage]] = {}  # parent id → its nested outages, for one pass
        self._dormant: dict[str, list[Outage]] = {}  # feeder → published open outages to continue (takeover)

    # --- public interface -----------------------------------------------------------------------------------

    def process(self, events: Sequence[msgspec.Struct]) -> list[Outage]:
        """Apply events (any order); return the outage records that changed, coalesced per outage."""
        if events:
            devices = [e.device for e in events]  # type: ignore[attr-defined]
            newest = self._newest_credible(events)
            self._batch_now = max(
                min(e.ts, newest) if e.source in UNSYNCED else e.ts  # type: ignore[attr-defined]
                for e in events
            )
            for event, index in zip(events, self.model.index_of(devices).tolist(), strict=True):
                if self._dormant and event.feeder in self._dormant:  # type: ignore[attr-defined]
                    self._resume(self._dormant.pop(event.feeder))  # type: ignore[attr-defined]
                if index < 0:
                    self.unknown_devices += 1
                    continue
                ts: int = event.ts  # type: ignore[attr-defined]
                if event.source in UNSYNCED:  # type: ignore[attr-defined]
                    ts = min(ts, newest)
                if ts > self.state.max_ts:
                    self.state.max_ts = ts
                    self._close_windows(force=False)  # locate before later news lands in the window
                self._apply(event, index, ts)
        return self._advance(force=False)

    def _newest_credible(self, events: Sequence[msgspec.Struct]) -> int:
        """The latest stamp a meter or sensor clock can credibly put on these events: one running ahead must not
        close windows and holds early, so stamps far past both the batch's median and event time are cut back.
        SCADA and PMU clocks are synchronised (RTU time sync, GPS): their stamps are taken as they are."""
        stamps = np.fromiter((e.ts for e in events), dtype=np.int64, count=len(events))  # type: ignore[attr-defined]
        return max(int(np.median(stamps)), self.state.max_ts) + int(self.config.clock_ahead_s * SECOND)

    def flush(self, until_ns: int) -> list[Outage]:
        """Close every window and hold up to `until_ns` (end of a run) and emit every pending change."""
        lateness = int(self.config.allowed_lateness_s * SECOND)
        self.state.max_ts = max(self.state.max_ts, until_ns + lateness)
        return self._advance(force=True)

    def active_outage_for(self, device_id: str) -> str | None:
        """The id of the innermost open outage whose area holds `device_id` (None if it has power)."""
        if device_id not in self.model:
            return None
        outage = self._covering(self.model.position(device_id))
        return outage.id if outage is not None else None

    def customer_minutes(self) -> dict[str, float]:
        """IEEE 1366 customer-minutes of interruption per outage id still in memory, from the restoration steps
        (customers out over event time), for `reliability(..., customer_minutes=...)`."""
        minutes = {}
        for outage in self.state.outages.values():
            if outage.merged_into is not None:
                continue
            ongoing = 0
            if outage.state not in FINAL:
                since = outage.out_since_ns or outage.start_ns
                ongoing = outage.customers_out * max(0, self.state.max_ts - since)
            minutes[outage.id] = (outage.customer_ns + ongoing) / MINUTE
        return minutes

    def open_outages(self) -> list[Outage]:
        return [self._record(o) for o in self.state.outages.values() if o.state not in FINAL]

    def at_risk(self) -> list[Anomaly]:
        """At-risk warnings raised since the last call (repeated momentaries, trips or sags on one device);
        a device inside an open outage gets its warning once that outage is over, if it was a short one."""
        return self.at_risk_tracker.drain(lambda device: self._covering(device) is not None)

    def snapshot(self) -> bytes:
        self.state.at_risk = self.at_risk_tracker.state
        return msgspec.msgpack.encode(self.state)

    def restore(self, blob: bytes) -> None:
        """Resume from `snapshot()`: open outages continue with their ids and versions, not re-raised."""
        self.state = msgspec.msgpack.decode(blob, type=CorrelatorState)
        self.at_risk_tracker.state = self.state.at_risk

    def await_resume(self, published: Sequence[Outage]) -> int:
        """Outages published as open (read back from ClickHouse after a takeover or restart) that this state
        does not know: the worker died after publishing them and before its next checkpoint. Each continues
        here (same id, next version) once an event of its feeder arrives, which proves this worker owns the
        feeder now; until then it waits. Replaces the previous list; returns how many wait."""
        self._dormant = {}
        for record in published:
            if record.id not in self.state.outages and record.device in self.model:
                self._dormant.setdefault(record.feeder, []).append(record)
        return sum(map(len, self._dormant.values()))

    def _resume(self, records: list[Outage]) -> None:
        for record in records:
            if record.id in self.state.outages:
                continue
            device = self.model.position(record.device)
            outage = OpenOutage(
                id=record.id,
                feeder=record.feeder,
                device=device,
                start_ns=record.start_ns,
                sources=list(record.confirmed_by),
                customers=record.customers,
                customers_out=record.customers_out,
                opened_ns=self.state.max_ts,
                version=record.version,
                state=record.state,
                parent=record.parent,
                start_seen=True,  # its first owner judged it; a momentary stays possible
                last_change_ns=max(record.start_ns, self.state.max_ts),
                emitted=True,
            )
            self.state.outages[record.id] = outage
            ours = self.state.outages.get(self.state.by_device.get(device, ""))
            if ours is not None and _is_open(ours):  # located again here meanwhile: the published id ends
                outage.state, outage.merged_into, outage.customers_out = "restored", ours.id, 0
                outage.end_ns = outage.closed_ns = max(record.start_ns, self.state.max_ts)
            else:
                self.state.by_device[device] = record.id

    def adopt(self, blob: bytes) -> int:
        """Take over another worker's outages from its `snapshot()`: those this correlator does not know (by
        id) continue here with their ids and versions, not raised again; returns how many open ones came.

        A device this correlator already follows an outage on keeps its own; meter, SCADA and liveness news
        keep whichever is newer; a feeder's pending darkness comes only if this correlator has none there.
        Idempotent: adopting the same snapshot twice changes nothing."""
        theirs = msgspec.msgpack.decode(blob, type=CorrelatorState)
        ours = self.state
        taken = {
            ident: outage
            for ident, outage in theirs.outages.items()
            if ident not in ours.outages and not (_is_open(outage) and outage.device in ours.by_device)
        }
        ours.outages.update(taken)
        for device, ident in theirs.by_device.items():
            if ident in taken:
                ours.by_device.setdefault(device, ident)
        for device, ident in theirs.finished.items():
            if ident in ours.outages:
                ours.finished.setdefault(device, ident)
        ours.meters |= {m: ts for m, ts in theirs.meters.items() if abs(ts) > abs(ours.meters.get(m, 0))}
        ours.scada |= {d: ts for d, ts in theirs.scada.items() if abs(ts) > abs(ours.scada.get(d, 0))}
        ours.alive |= {d: ts for d, ts in theirs.alive.items() if ts > ours.alive.get(d, ts - 1)}
        self._adopt_pending(theirs)
        known = set(ours.evidence)
        ours.evidence += [item for item in theirs.evidence if item not in known]
        self._adopt_at_risk(theirs.at_risk)
        return sum(1 for outage in taken.values() if _is_open(outage))

    def _adopt_pending(self, theirs: CorrelatorState) -> None:
        """Darkness not yet located, per feeder this correlator has none pending on."""
        ours = self.state
        for feeder, meters in theirs.pending.items():
            if feeder in ours.pending:
                continue
            ours.pending[feeder] = dict(meters)
            ours.pending_first[feeder] = theirs.pending_first.get(feeder, min(meters.values(), default=0))
            ours.unseen |= {m for m in meters if m in theirs.unseen}
            ours.back |= {m: ts for m, ts in theirs.back.items() if m in meters}

    def _adopt_at_risk(self, theirs: AtRiskState) -> None:
        ours = self.at_risk_tracker.state
        for equipment, times in theirs.operations.items():
            ours.operations.setdefault(equipment, list(times))
        ours.raised |= {d: ts for d, ts in theirs.raised.items() if ts > ours.raised.get(d, ts - 1)}
        pending, sags = set(ours.pending), set(ours.sags)
        ours.pending += [item for item in theirs.pending if item not in pending]
        ours.sags += [item for item in theirs.sags if item not in sags]

    # --- events -----------------------------------------------------------------------------------------------

    def _apply(self, event: msgspec.Struct, index: int, ts: int) -> None:
        name: str = event.event  # type: ignore[attr-defined]
        source: str = event.source  # type: ignore[attr-defined]
        if name in DARK_EVENTS:
            self._dark(index, ts, event.ts, seen=name != "no_voltage")  # type: ignore[attr-defined]
        elif name in ALIVE_EVENTS:
            self._alive(index, ts, event.ts, answered=name != "power_restored")  # type: ignore[attr-defined]
        elif name in SCADA_OPEN:
            self._scada_open(index, ts, name)
        elif name in SCADA_CLOSE:
            self._scada_close(index, ts, name)
        elif name == "fault_indicator":
            self._corroborate(index, ts, "scada", below=True)
        elif name == "collapse":
            self._corroborate(index, ts, source, below=False)  # an interruption: its outage counts, if short
        elif name == "sag":
            self.at_risk_tracker.sag(index, ts)

    def _fresh(self, meter: int, ts: int, dark: bool) -> bool:
        """Record the meter's newest state; True only when it changes (not a duplicate, not older news).
        `ts` is the meter's own stamp: whatever its clock's error, it orders that meter's news."""
        known = self.state.meters.get(meter)
        if known is not None and abs(known) >= ts:
            return False
        self.state.meters[meter] = -ts if dark else ts
        return known is None or (known < 0) != dark

    def _dark(self, meter: int, ts: int, stamp: int, *, seen: bool = True) -> None:
        """`seen`: the meter told when it lost power (a gasp), not merely that an interval read found none."""
        if not self._fresh(meter, stamp, dark=True):
            return
        skew = int(self.config.clock_skew_s * SECOND)
        for outage in self._coverings(meter):
            # power came back to it from this outage and went again: a newer fault (or an enclosing one)
            if self._dark_again(outage, meter, ts) or ts < outage.start_ns - skew:  # skew: a slow clock
                continue
            outage.dark[meter] = ts
            outage.start_seen |= seen
            outage.restored.pop(meter, None)
            if "ami" not in outage.sources:
                outage.sources = sorted({*outage.sources, "ami"})
            return
        if self._finished_covering(meter, ts) is not None:
            return  # a gasp read after the meter came back: old news of an outage already over
        feeder = int(self.model.feeder_index[meter])
        self.state.pending.setdefault(feeder, {})[meter] = ts
        self.state.back.pop(meter, None)  # dark again: the newest gasp is what counts
        if not seen:
            self.state.unseen.add(meter)
        # the window opens when the gasp arrives (its batch's newest credible stamp), not at its own stamp: a
        # gasp delivered late or stamped by a slow clock waits for the rest of its fault's evidence too
        arrived = max(self.state.max_ts, min(self._batch_now, ts + int(self.config.clock_skew_s * SECOND)))
        opened = max(ts, arrived - int(self.config.allowed_lateness_s * SECOND))
        first = self.state.pending_first
        first[feeder] = min(opened, first.get(feeder, opened))

    def _dark_again(self, outage: OpenOutage, meter: int, ts: int) -> bool:
        """The meter went dark after this outage gave it power back (its device reclosed or the meter said so)."""
        back = outage.restored.get(meter)
        if back is not None:
            return ts > back
        return outage.closed_ns is not None and ts > outage.closed_ns + int(self.config.clock_skew_s * SECOND)

    def _alive(self, device: int, ts: int, stamp: int, *, answered: bool = True) -> None:
        """A meter with power, or a transformer some of whose meters report power (then it is energised, but
        a silent meter below it may still be out on its own). Only a meter that `answered` (a ping, a read)
        counts against locating a fault above it: "power restored" says it was out before (its gasp lost)."""
        if self.topology.is_meter[device]:
            if not answered and self._interruption_unheard(device, ts, stamp):
                # "power restored" from a meter nobody knew was out (its gasp lost, no read found it dark):
                # it was out until now, since when is unknown, as after an interval read finding no voltage;
                # it waits in the window like a gasp and comes back below, so its outage starts restored
                self._dark(device, ts, stamp - 1, seen=False)
            if not self._fresh(device, stamp, dark=False):
                return
            feeder = int(self.model.feeder_index[device])
            if device in self.state.pending.get(feeder, {}):
                # back before its fault was located (a momentary shorter than the window): it still tells
                # that its area went dark at its gasp, so it stays evidence, and the outage starts restored
                self.state.back[device] = ts
                return
        if answered:
            self.state.alive[device] = max(ts, self.state.alive.get(device, 0))
        outage = self._covering(device)
        if outage is None or not self._after_darkness(outage, device, ts):
            return
        meters = (
            [device] if self.topology.is_meter[device] else self.model.meter_indexes_below(device).tolist()
        )
        for meter in meters:
            outage.restored.setdefault(meter, ts)
        outage.last_change_ns = max(outage.last_change_ns, ts)

    def _interruption_unheard(self, meter: int, ts: int, stamp: int) -> bool:
        """The meter says power came back, and nothing here knows it was out: its last news was power (or
        none), it waits in no window, no open outage covers it, and none above it ended shortly before (a
        restore delivered after its outage closed belongs to that outage)."""
        known = self.state.meters.get(meter)
        if known is not None and (known < 0 or known >= stamp):
            return False  # known dark (the usual path), or older news than what is known
        if meter in self.state.pending.get(int(self.model.feeder_index[meter]), {}):
            return False
        if self._covering(meter) is not None:
            return False
        return self._finished_covering(meter, ts, late_s=self.config.late_restore_s) is None

    def _after_darkness(self, outage: OpenOutage, device: int, ts: int) -> bool:
        """Power news is about this outage when stamped after the meter's own gasp (its clock may be off),
        or, without a gasp, after the outage began (older news is about an earlier interruption)."""
        gasp = outage.dark.get(device)
        return ts > gasp if gasp is not None else ts >= outage.start_ns

    def _scada_open(self, device: int, ts: int, name: str) -> None:
        self.state.scada[device] = -ts
        if name == "trip":
            self.at_risk_tracker.record(device, ts, name)
        outage = self.state.outages.get(self.state.by_device.get(device, ""))
        if outage is not None and outage.state not in FINAL:
            outage.closed_ns, outage.tripped = None, True
            if name == "lockout":
                outage.hold_until_ns = min(outage.hold_until_ns, ts)
            outage.sources = sorted({*outage.sources, "scada"})
            return
        if self._covering(device) is not None:
            return  # an isolating open during someone else's restoration: that outage keeps the customers
        hold = self.config.scada_hold_s if name == "trip" else 0.0
        self._open(device, ts, ["scada"], hold_until_ns=ts + int(hold * SECOND)).tripped = True

    def _scada_close(self, device: int, ts: int, name: str) -> None:
        self.state.scada[device] = ts
        outage = self.state.outages.get(self.state.by_device.get(device, ""))
        if outage is not None and outage.state not in FINAL:
            outage.closed_ns = ts
            outage.reclosed = name == "reclose"
            outage.last_change_ns = max(outage.last_change_ns, ts)
            return
        covering = self._covering(device)
        if covering is not None:
            covering.last_change_ns = max(covering.last_change_ns, ts)

    def _corroborate(self, device: int, ts: int, source: str, *, below: bool) -> None:
        """A fault indicator (fault somewhere below) or a PMU/sensor that lost voltage (outage at or above)."""
        window = int(self.config.merge_window_s * SECOND)
        for outage in self.state.outages.values():
            if outage.state in FINAL or abs(outage.start_ns - ts) > window:
                continue
            inside = (
                self.topology.covers(device, np.array([outage.device]))[0]
                if below
                else self.topology.covers(outage.device, np.array([device]))[0]
            )
            if inside:
                outage.sources = sorted({*outage.sources, source})
                return
        self.state.evidence.append((device, ts, source, 1 if below else 0))

    # --- outages ----------------------------------------------------------------------------------------------

    def _finished_covering(self, meter: int, ts: int, late_s: float = 0.0) -> OpenOutage | None:
        """The innermost finished outage at or above `meter` that was on at `ts` (clock skew allowed), or
        had ended at most `late_s` before it."""
        finished = self.state.finished
        if not finished:
            return None
        skew, late = int(self.config.clock_skew_s * SECOND), int(late_s * SECOND)
        current = meter
        while current >= 0:
            outage = self.state.outages.get(finished.get(current, ""))
            if outage is not None and outage.start_ns - skew <= ts <= (outage.end_ns or ts) + late:
                return outage
            current = self._cparent[current]
        return None

    def _interrupted(self, device: int, ts: int) -> bool:
        """An outage at or above `device` was on at `ts`, give or take `merge_window_s` (a sag at its onset or
        as it restores is the outage seen by a voltage, not a disturbance of its own)."""
        margin = int(self.config.merge_window_s * SECOND)
        current = device
        while current >= 0:
            for outage_id in (self.state.by_device.get(current), self.state.finished.get(current)):
                outage = self.state.outages.get(outage_id or "")
                if outage is None:
                    continue
                end = outage.end_ns if outage.end_ns is not None else self.state.max_ts
                if outage.start_ns - margin <= ts <= end + margin:
                    return True
            current = self._cparent[current]
        return False

    def _covering(self, device: int) -> OpenOutage | None:
        """The innermost open outage whose device is `device` or above it."""
        return next(self._coverings(device), None)

    def _coverings(self, device: int) -> Iterator[OpenOutage]:
        """The open outages whose device is `device` or above it, innermost first."""
        by_device = self.state.by_device
        if not by_device:
            return
        current = device
        while current >= 0:
            outage_id = by_device.get(current)
            if outage_id is not None:
                yield self.state.outages[outage_id]
            current = self._cparent[current]

    def _open(
        self,
        device: int,
        start_ns: int,
        sources: list[str],
        hold_until_ns: int = 0,
        dark: dict[int, int] | None = None,
        opened_ns: int | None = None,
    ) -> OpenOutage:
        feeder = self.model.feeders[int(self.model.feeder_index[device])]
        outage = OpenOutage(
            id=f"O-{self.model.ids[device]}-{start_ns // SECOND}",
            feeder=feeder,
            device=device,
            start_ns=start_ns,
            sources=sources,
            dark=dark or {},
            hold_until_ns=hold_until_ns,
            customers=int(self.model.customers_below_indexes(np.array([device]))[0]),
            last_change_ns=start_ns,
            opened_ns=self.state.max_ts if opened_ns is None else opened_ns,
        )
        outage.start_seen = bool(set(sources) - {"ami"})
        self._adopt_children(outage)
        self._take_pending(outage)
        self.state.outages[outage.id] = outage
        self.state.by_device[device] = outage.id
        self._apply_evidence(outage)
        return outage

    def _adopt_children(self, outage: OpenOutage) -> None:
        """Open outages inside the new one: those raised well before it began, or whose own device SCADA saw
        trip, nest under it; the rest were located early on part of its evidence and merge into it. Arrival
        order (`opened_ns`) decides, not the gasps' stamps, which a meter's clock may put minutes off."""
        window = int(self.config.merge_window_s * SECOND)
        low, high = self._tin[outage.device], self._tout[outage.device]
        for other in list(self.state.outages.values()):
            if other.state in FINAL or other.device == outage.device or other.parent is not None:
                continue
            if not low <= self._tin[other.device] < high:
                continue
            if other.tripped or other.opened_ns < outage.start_ns - window:
                other.parent = outage.id
            else:
                self._merge(outage, other)

    def _merge(self, into: OpenOutage, other: OpenOutage) -> None:
        into.dark.update(other.dark)
        into.start_seen |= other.start_seen
        into.sources = sorted({*into.sources, *other.sources})
        if other.start_ns >= into.start_ns - int(self.config.merge_window_s * SECOND):
            into.start_ns = min(into.start_ns, other.start_ns)  # not from a stray clock much earlier
        if other.emitted and not into.emitted:
            into.id, into.version, into.emitted = other.id, other.version, True  # keep the raised id
            into.last_emit_ns, into.last_key = other.last_emit_ns, other.last_key
            into.hold_until_ns = min(into.hold_until_ns, other.hold_until_ns)
            del self.state.outages[other.id]
        else:
            other.state, other.merged_into, other.customers = "restored", into.id, 0
            other.end_ns = other.start_ns
        self.state.by_device.pop(other.device, None)
        for child in self.state.outages.values():
            if child.parent == other.id:
                child.parent = into.id

    def _take_pending(self, outage: OpenOutage) -> None:
        feeder = int(self.model.feeder_index[outage.device])
        pending = self.state.pending.get(feeder)
        if not pending:
            return
        meters = np.fromiter(pending, dtype=np.int64, count=len(pending))
        for meter in meters[self.topology.covers(outage.device, meters)].tolist():
            outage.dark[meter] = pending.pop(meter)
            self._came_back(outage, meter)
        if outage.dark and "ami" not in outage.sources:
            outage.sources = sorted({*outage.sources, "ami"})

    def _apply_evidence(self, outage: OpenOutage) -> None:
        window = int(self.config.merge_window_s * SECOND)
        kept = []
        for device, ts, source, below in self.state.evidence:
            inside = (
                self.topology.covers(device, np.array([outage.device]))[0]
                if below
                else self.topology.covers(outage.device, np.array([device]))[0]
            )
            if inside and abs(ts - outage.start_ns) <= window:
                outage.sources = sorted({*outage.sources, source})
            elif ts >= self.state.max_ts - window:
                kept.append((device, ts, source, below))
        self.state.evidence = kept

    # --- the clock --------------------------------------------------------------------------------------------

    def _close_windows(self, *, force: bool) -> None:
        watermark = self.state.max_ts - int(self.config.allowed_lateness_s * SECOND)
        window = int(self.config.last_gasp_window_s * SECOND)
        for feeder, first in list(self.state.pending_first.items()):
            if force or first + window <= watermark:
                del self.state.pending_first[feeder]
                if self.state.pending.get(feeder):
                    self._locate(feeder, first, young_after=None if force else watermark - window)

    def _advance(self, *, force: bool) -> list[Outage]:
        watermark = self.state.max_ts - int(self.config.allowed_lateness_s * SECOND)
        self._close_windows(force=force)
        # sags at an outage's onset arrive before its gasps are located: judged once that had time to happen
        settle = watermark - int((self.config.last_gasp_window_s + self.config.merge_window_s) * SECOND)
        self.at_risk_tracker.settle(self.state.max_ts if force else settle, self._interrupted)
        out: list[Outage] = []
        self._nested = {}
        for outage in self.state.outages.values():
            if outage.parent is not None and outage.state not in FINAL:
                self._nested.setdefault(outage.parent, []).append(outage)
        for outage in list(self.state.outages.values()):
            record = self._step(outage, watermark, force)
            if record is not None:
                out.append(record)
        self._prune(watermark)
        return out

    def _locate(self, feeder: int, arrived_ns: int, young_after: int | None = None) -> None:
        """Explain the feeder's pending dark meters (whose window opened at `arrived_ns`) with devices. A new
        fault whose gasps began after `young_after` has not had its window yet (it blew while this one was
        open, as in a storm): its meters wait for their own window instead of being located on part of
        their evidence (the devices below the one that opened, raised and then merged)."""
        pending = self.state.pending.pop(feeder)
        meters = np.fromiter(pending, dtype=np.int64, count=len(pending))
        start = onset(list(pending.values()), self.config)  # not a stray slow clock minutes earlier
        name = self.model.feeders[feeder]
        # outages located moments ago are this fault seen in part: their meters count again (a lateral grows
        # from its first transformer); older ones are other faults: their meters are out already
        recent = arrived_ns - int(self.config.merge_window_s * SECOND)
        feeder_outages = [o for o in self.state.outages.values() if o.state not in FINAL and o.feeder == name]
        partial = self._seen_in_part(feeder_outages, meters, recent)
        held = {
            m: ts
            for o in feeder_outages
            if o.opened_ns >= recent or o.id in partial
            for m, ts in o.dark.items()
            if m not in o.restored
        }
        explained = np.array(
            [o.device for o in feeder_outages if o.opened_ns < recent and o.id not in partial], dtype=np.int64
        )
        dark = np.concatenate([meters, np.fromiter(held, dtype=np.int64, count=len(held))])
        unseen = self.state.unseen
        # when each went dark, for the onset test; an interval read tells only that power was off by then
        dark_ns = np.fromiter(
            [-1 if m in unseen else pending[m] for m in meters.tolist()] + list(held.values()),
            dtype=np.int64,
            count=len(dark),
        )
        alive = np.array([d for d, ts in self.state.alive.items() if ts > start], dtype=np.int64)
        for device in locate(self.topology, dark, alive, self.config, explained, dark_ns).tolist():
            inside = self.topology.covers(device, meters)
            if not inside.any():
                continue
            group = {m: pending[m] for m in meters[inside].tolist()}
            existing = self.state.outages.get(self.state.by_device.get(device, ""))
            start = onset(list(group.values()), self.config)
            starts = [
                o.start_ns for o in partial.values() if self.topology.covers(device, np.array([o.device]))[0]
            ]
            start = min([start, *starts])  # it began when its first meter went dark, not at the read
            if existing is None and young_after is not None and start > young_after:
                self._defer(feeder, group, start)
                continue
            if existing is not None:
                existing.dark.update(group)
            else:
                existing = self._open(device, start, ["ami"], dark=group, opened_ns=arrived_ns)
                existing.start_seen = any(m not in self.state.unseen for m in group)
            for meter in group:
                self._came_back(existing, meter)
        waiting = self.state.pending.get(feeder, {})
        self.state.unseen.difference_update(m for m in meters.tolist() if m not in waiting)

    def _seen_in_part(
        self, outages: list[OpenOutage], meters: np.ndarray, recent: int
    ) -> dict[str, OpenOutage]:
        """Older open outages that may be this fault seen in part: a meter found dark by an interval read (its
        gasp lost) went dark at some time since its unit (its transformer) last had power, so outages of its
        unit's meters or of the unit's siblings that began since then count with it again and `locate`
        decides (two customers of one transformer are the transformer; a lateral whose thin gasps raised its
        transformers grows when the reads of its silent transformer come in). One level up at most: the
        read's unknown onset must not join faults far apart."""
        since: dict[int, int] = {}  # candidate parent of an outage's device → earliest start it may have
        for meter in meters.tolist():
            if meter not in self.state.unseen:
                continue
            unit = self._unit(meter)
            last_power = self.state.alive.get(unit, 0)
            for parent in (unit, self._cparent[unit]):
                if parent >= 0:
                    since[parent] = min(last_power, since.get(parent, last_power))
        if not since:
            return {}
        return {
            o.id: o
            for o in outages
            if o.opened_ns < recent and o.start_ns > since.get(self._cparent[o.device], o.start_ns)
        }

    def _unit(self, meter: int) -> int:
        transformer = int(self.model.transformer_index[meter])
        return transformer if transformer >= 0 else meter

    def _came_back(self, outage: OpenOutage, meter: int) -> None:
        back = self.state.back.pop(meter, None)
        if back is not None:
            outage.restored.setdefault(meter, back)
            outage.last_change_ns = max(outage.last_change_ns, back)

    def _defer(self, feeder: int, group: dict[int, int], start: int) -> None:
        """Put a young fault's meters back to wait for a window opening at its onset."""
        self.state.pending.setdefault(feeder, {}).update(group)
        first = self.state.pending_first
        first[feeder] = min(start, first.get(feeder, start))

    def _step(self, outage: OpenOutage, watermark: int, force: bool) -> Outage | None:
        """Advance one outage's lifecycle; its record when it should be emitted now."""
        if outage.done:
            return None  # its final record is out: nothing changes it any more (storms keep many of these)
        if outage.merged_into is None and outage.state not in FINAL:
            self._lifecycle(outage, watermark)
        if not outage.emitted and outage.merged_into is not None:
            outage.done = True  # merged before anyone saw it
            return None
        if not force and watermark < outage.hold_until_ns and outage.state not in FINAL:
            return None
        record = self._record(outage)
        key = msgspec.json.encode(msgspec.structs.replace(record, version=0))
        if key == outage.last_key:
            return None
        urgent = force or not outage.emitted or outage.state in FINAL or outage.merged_into is not None
        if not urgent and watermark < outage.last_emit_ns + int(self.config.update_interval_s * SECOND):
            return None
        outage.version += 1
        outage.emitted, outage.last_key, outage.last_emit_ns = True, key, watermark
        outage.done = outage.state in FINAL
        return msgspec.structs.replace(record, version=outage.version)

    def _lifecycle(self, outage: OpenOutage, watermark: int) -> None:
        customers_total = int(self.model.customers_below_indexes(np.array([outage.device]))[0])
        outage.customers = max(outage.customers, customers_total)
        self._set_customers_out(outage, self._customers_out(outage))
        if outage.state == "probable" and self._confirmed(outage, watermark):
            outage.state = "confirmed"
        settled = (
            outage.dark
            and all(m in outage.restored for m in outage.dark)
            and watermark >= outage.last_change_ns + int(self.config.restore_settle_s * SECOND)
        )
        if watermark < outage.hold_until_ns and outage.closed_ns is not None:
            return  # a recloser may still trip again before it locks out
        if outage.customers_out == 0 or settled:
            self._close(outage)
        elif outage.customers_out < customers_total:
            outage.state = "restoring"

    def _customers_out(self, outage: OpenOutage) -> int:
        """Customers still out that this outage answers for (nested open outages answer for theirs).

        Before its device closes, everything below is out but the units (a transformer's meters share a
        supply) that reported power. Once SCADA says it closed, only what sits behind devices still open and
        the units whose meters went dark and have not reported power since: restoration in steps."""
        device = outage.device
        restored = np.fromiter(outage.restored, dtype=np.int64, count=len(outage.restored))
        back = [self._units(device, restored)]
        nested = self._nested.get(outage.id, [])
        back.append(np.array([o.device for o in nested if o.state not in FINAL], dtype=np.int64))
        if outage.closed_ns is None:
            out = np.array([device], dtype=np.int64)
        elif self._open_parent(outage):
            return (
                0  # its device closed and a wider outage now holds its customers: that one answers for them
            )
        else:
            opened = np.array(
                [d for d, ts in self.state.scada.items() if ts < 0 and d != device], dtype=np.int64
            )
            dark = np.array([m for m in outage.dark if m not in outage.restored], dtype=np.int64)
            out = np.concatenate([opened[self.topology.covers(device, opened)], self._units(device, dark)])
        return self.topology.customers_covered(device, out, np.concatenate(back))

    def _open_parent(self, outage: OpenOutage) -> bool:
        parent = self.state.outages.get(outage.parent or "")
        return parent is not None and parent.state not in FINAL

    def _units(self, device: int, meters: np.ndarray) -> np.ndarray:
        """The supply unit of each meter: its transformer when that is inside `device`'s area, else itself."""
        if not len(meters):
            return meters
        units = self.model.transformer_index[meters].astype(np.int64)
        return np.where((units >= 0) & self.topology.covers(device, np.maximum(units, 0)), units, meters)

    def _set_customers_out(self, outage: OpenOutage, customers_out: int) -> None:
        """Customers out now, and customer-time so far (IEEE 1366 customer-minutes follow the steps)."""
        if customers_out != outage.customers_out or outage.out_since_ns == 0:
            since = outage.out_since_ns or outage.start_ns
            change = max(since, min(outage.last_change_ns, self.state.max_ts))
            outage.customer_ns += outage.customers_out * (change - since)
            outage.out_since_ns = change
        outage.customers_out = customers_out

    def _confirmed(self, outage: OpenOutage, watermark: int) -> bool:
        if set(outage.sources) - {"ami"}:
            return True
        if len(outage.dark) >= self.config.confirm_min_meters:
            return True
        return watermark >= outage.start_ns + int(self.config.confirm_after_s * SECOND)

    def _close(self, outage: OpenOutage) -> None:
        ends = [ts for ts in outage.restored.values()] + ([outage.closed_ns] if outage.closed_ns else [])
        outage.end_ns = max(ends) if ends else outage.last_change_ns
        outage.last_change_ns = max(outage.last_change_ns, outage.end_ns)
        since = outage.out_since_ns or outage.start_ns
        outage.customer_ns += outage.customers_out * max(0, outage.end_ns - since)
        outage.out_since_ns = outage.end_ns
        outage.customers_out = 0
        # IEEE 1366: an interruption restored within 5 minutes is momentary (MAIFI), longer ones sustained;
        # found by interval reads alone, its start is only known to the read interval: not called momentary
        short = outage.end_ns - outage.start_ns < int(self.config.momentary_max_s * SECOND)
        momentary = short and (outage.start_seen or outage.tripped)
        outage.state = "momentary" if momentary else "restored"
        if momentary and not self.model.has_scada(str(self.model.ids[outage.device])):
            self.at_risk_tracker.record(outage.device, outage.start_ns, "momentary")  # SCADA counted its trip
        elif not momentary and outage.merged_into is None:
            self.at_risk_tracker.sustained(outage.device)
        self.state.by_device.pop(outage.device, None)
        self.state.finished[outage.device] = outage.id
        self._advice_cache.pop(outage.device, None)

    def _record(self, outage: OpenOutage) -> Outage:
        model = self.model
        device = str(model.ids[outage.device])
        kind = model.kind_of(device)
        scope = "individual" if kind == "meter" else "street" if kind == "transformer" else "zonal"
        advice = [f"merged into {outage.merged_into}"] if outage.merged_into else []
        if outage.merged_into is None and scope == "zonal":  # kept on the final record: what was advised
            advice = self._advice(outage.device)
        return Outage(
            id=outage.id,
            version=outage.version,
            feeder=outage.feeder,
            device=device,
            zone=model.zone_of(device),
            scope=scope,  # type: ignore[arg-type]
            state=outage.state,  # type: ignore[arg-type]
            start_ns=outage.start_ns,
            end_ns=outage.end_ns,
            customers=outage.customers,
            customers_out=outage.customers_out,
            confirmed_by=outage.sources,  # type: ignore[arg-type]
            parent=outage.parent,
            advice=advice,
        )

    def _advice(self, device: int) -> list[str]:
        """Isolation advice, computed once per faulted device while it is out."""
        if device not in self._advice_cache:
            dark = [
                o.device for o in self.state.outages.values() if o.state not in FINAL and o.device != device
            ]
            self._advice_cache[device] = isolation_advice(self.topology, device, dark)
        return self._advice_cache[device]

    def _prune(self, watermark: int) -> None:
        """Forget restored outages and per-meter states older than `retain_s` (memory stays bounded)."""
        horizon = watermark - int(self.config.retain_s * SECOND)
        if horizon <= self.state.pruned_ns + int(self.config.retain_s * SECOND) // 10:
            return
        self.state.pruned_ns = horizon
        outages = self.state.outages
        for outage_id in [i for i, o in outages.items() if o.state in FINAL and (o.end_ns or 0) < horizon]:
            del outages[outage_id]
        self.state.finished = {d: i for d, i in self.state.finished.items() if i in outages}
        self.state.meters = {m: ts for m, ts in self.state.meters.items() if abs(ts) >= horizon}
        self.state.alive = {d: ts for d, ts in self.state.alive.items() if ts >= horizon}


def _is_open(outage: OpenOutage) -> bool:
    return outage.state not in FINAL and outage.merged_into is None


def _int_array(values: np.ndarray) -> array[int]:
    """The values as a Python `array` of int64: indexing gives a Python int, as a list's would."""
    packed = array("q")
    packed.frombytes(np.ascontiguousarray(values, dtype=np.int64).tobytes())
    return packed
