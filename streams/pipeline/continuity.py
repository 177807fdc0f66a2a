"""Alarm continuity: anomalies and outages a previous owner published as open, read back from ClickHouse after
a restore or a takeover, so that the worker continues them instead of raising them again.

A worker's state is checkpointed every few seconds, but an anomaly is published the moment it opens. When a
worker dies between the two, the state that a survivor adopts (or that the worker restores when it restarts)
does not know the anomalies raised since its checkpoint: the next reading of the same condition would open it
again under a new id, and the published one would stay open for ever. ClickHouse holds what was published,
so after each restore and takeover the worker reads every open anomaly and hands it to the detector bank,
which continues it when the device's next reading arrives (`DetectorBank.await_resume`). Open outages go the
same way to the correlator, which continues one when an event of its feeder arrives
(`OutageCorrelator.await_resume`): otherwise it would stay open for ever, and its meters' "power restored"
would look like outages nobody saw.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import msgspec

from gridmon.detect.bank import DetectorBank
from gridmon.detect.lifecycle import OpenAnomaly, level_of
from gridmon.errors import StorageError
from gridmon.ingest.validate import DeviceRegistry
from gridmon.outages import OutageCorrelator
from gridmon.records import Outage
from gridmon.security.privacy import MeterPseudonyms
from gridmon.security.pseudonym import PREFIX
from gridmon.store.client import query_dicts

log = logging.getLogger(__name__)
OPEN_ANOMALIES = (
    "SELECT id, version, device, zone, detector, metric, severity, start_ns, score, value, `group`, "
    "parent_outage FROM anomalies FINAL WHERE end_ns IS NULL"
)
OPEN_OUTAGES = (
    "SELECT id, version, feeder, device, zone, scope, state, start_ns, end_ns, customers, customers_out, "
    "confirmed_by, parent, advice FROM outages FINAL WHERE state NOT IN ('restored', 'momentary')"
)
Published = list[tuple[int, str, str, OpenAnomaly]]


@dataclass
class PublishedAlarms:
    """Reads the open anomalies and outages back and maps their devices to this worker's (a meter's
    pseudonym back to the meter)."""

    client: Any
    detector: DetectorBank
    registry: DeviceRegistry
    pseudonyms: MeterPseudonyms | None = None
    correlator: OutageCorrelator | None = None

    def read_outages(self) -> list[Outage]:
        """The outages published as open, an individual outage's meter pseudonym mapped back to the meter.
        Ids stay as published: pseudonyms pass privacy unchanged."""
        rows = query_dicts(self.client, OPEN_OUTAGES, what="the open outages")
        records = [msgspec.convert(row, Outage) for row in rows]
        meters = self._meters_of([(r.device, r.zone) for r in records])
        return [msgspec.structs.replace(r, device=meters.get(r.device, r.device)) for r in records]

    def read(self) -> Published:
        rows = query_dicts(self.client, OPEN_ANOMALIES, what="the open anomalies")
        meters = self._meters_of([(str(row["device"]), str(row["zone"])) for row in rows])
        devices = [meters.get(str(row["device"]), str(row["device"])) for row in rows]
        positions = self.registry.index_of(devices).tolist()
        published: Published = []
        for row, dev in zip(rows, positions, strict=True):
            if dev < 0:  # a device of another grid model (or an unknown pseudonym): not this worker's
                continue
            level = level_of(str(row["severity"]))
            state = OpenAnomaly(str(row["id"]), int(row["version"]), int(row["start_ns"]), level, level,
                                float(row["score"]), float(row["value"]), row["group"], row["parent_outage"])  # fmt: skip
            published.append((dev, str(row["detector"]), str(row["metric"]), state))
        return published

    def _meters_of(self, devices: list[tuple[str, str]]) -> dict[str, str]:
        """Pseudonym → meter for the (device, zone) pairs whose device is a pseudonym: only the meters of
        their zones are hashed."""
        wanted = {device: zone for device, zone in devices if device.startswith(PREFIX)}
        if not wanted or self.pseudonyms is None:
            return {}
        zones = set(wanted.values())
        labels = self.detector.lifecycle.labels
        candidates = [
            device for device, zone in zip(labels.devices, labels.zone, strict=True) if zone in zones
        ]
        return self.pseudonyms.matching(set(wanted), candidates)


async def resume_published(alarms: PublishedAlarms | None) -> int:
    """Read the published open anomalies and outages (in a thread) and hand them to the detector bank and the
    correlator; how many anomalies. A store that cannot answer is logged: the worker goes on, at the risk of
    raising some of them again."""
    if alarms is None:
        return 0
    try:
        published = await asyncio.to_thread(alarms.read)
    except StorageError as exc:
        log.warning("%s; anomalies raised since the last checkpoint may be raised again", exc)
        return 0
    alarms.detector.await_resume(published)
    log.info("%d published open anomalies to continue when their devices report", len(published))
    if alarms.correlator is not None:
        try:
            outages = await asyncio.to_thread(alarms.read_outages)
        except StorageError as exc:
            log.warning("%s; outages located since the last checkpoint may stay open", exc)
            return len(published)
        waiting = alarms.correlator.await_resume(outages)
        log.info("%d published open outages to continue when their feeders report", waiting)
    return len(published)
