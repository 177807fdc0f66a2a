"""Privacy on the pipeline's output path (docs/privacy.md): meter ids become keyed pseudonyms in anomaly and
outage records, and opted-out customers' interval reads are left out before anything is stored.

One `Privacy` per worker, applied by `gridmon.pipeline.stages.Outputs`; raw `meter_events` keep real ids
(private to the writer role), the routed outage events keep them too (the correlator locates on the model).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import compress
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from gridmon.errors import ConfigError, StorageError
from gridmon.grid.model import KIND_CODE, DeviceKind
from gridmon.ingest.processor import IngestBatch
from gridmon.ingest.validate import DeviceRegistry
from gridmon.records import Anomaly, Outage
from gridmon.security.pseudonym import PREFIX, pseudonymise
from gridmon.settings import Settings

log = logging.getLogger(__name__)

DEV_PSEUDONYM_KEY = Settings.model_fields["pseudonym_key"].default.get_secret_value()
MIN_KEY_CHARS = 16
MAPPING_TABLE = "meter_pseudonyms"
# Record ids that embed their device: outages `O-<device>-<s>` (outages/correlator.py) and at-risk warnings
# `A-at_risk-<device>-<s>` (outages/atrisk.py). A meter's id in them would undo the pseudonym.
ID_PREFIXES = ("O-", "A-at_risk-")
CACHE_LIMIT = (
    200_000  # pseudonyms kept per worker; past it the cache restarts (the mapping table is idempotent)
)

MeterMask = Callable[[Sequence[str]], np.ndarray]


# --- the key -------------------------------------------------------------------------------------------------


def production_variable(settings: Settings) -> str | None:
    """The variable that makes this a deployment rather than the embedded demo, or None.

    A ClickHouse URL always means a server (embedded chdb has none). A Kafka bootstrap counts only beyond
    loopback: the embedded broker binds loopback and tests and `gridmon broker` reach it through
    GRIDMON_KAFKA_BOOTSTRAP. A production Kafka on loopback is not recognised: set the key anyway.
    """
    if settings.clickhouse_url is not None:
        return "GRIDMON_CLICKHOUSE_URL"
    if settings.kafka_bootstrap is not None and not all(
        _is_loopback(server.strip().rpartition(":")[0]) for server in settings.kafka_bootstrap.split(",")
    ):
        return "GRIDMON_KAFKA_BOOTSTRAP"
    return None


def _is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def pseudonym_key(settings: Settings) -> bytes:
    """The pseudonym key; in a deployment the public development default (or a short key) is refused."""
    key = settings.pseudonym_key.get_secret_value()
    variable = production_variable(settings)
    if variable is None:
        return key.encode()
    if key == DEV_PSEUDONYM_KEY:
        raise ConfigError(
            f"GRIDMON_PSEUDONYM_KEY is the public development default while {variable} is set: anyone could "
            "reverse the meter pseudonyms. Set it to a long random secret (e.g. `openssl rand -hex 32`) and "
            "keep it stable (a new key gives every meter a new pseudonym)"
        )
    if len(key) < MIN_KEY_CHARS:
        raise ConfigError(
            f"GRIDMON_PSEUDONYM_KEY must be at least {MIN_KEY_CHARS} characters in a deployment "
            f"({variable} is set): use a long random secret, e.g. `openssl rand -hex 32`"
        )
    return key.encode()


# --- pseudonyms in output records ----------------------------------------------------------------------------


def meter_mask_of(registry: DeviceRegistry) -> MeterMask:
    """Which ids are meters, from the grid model's device kinds (vectorised). A registry without kinds (no
    grid model loaded: tests, benchmarks) knows no meters, so nothing is pseudonymised there."""
    kind_index = getattr(registry, "kind_index", None)
    if kind_index is None:
        return lambda ids: np.zeros(len(ids), dtype=bool)
    meter_code = KIND_CODE[DeviceKind.METER]

    def is_meter(ids: Sequence[str]) -> np.ndarray:
        positions = registry.index_of(ids)
        return (positions >= 0) & (kind_index[np.maximum(positions, 0)] == meter_code)

    return is_meter


class MeterPseudonyms:
    """Meter id → `p-<hmac>`; other devices pass unchanged. Remembers which pseudonyms are not yet in the
    `meter_pseudonyms` mapping table, so the worker writes each one once (and again after a restart)."""

    def __init__(self, key: bytes, is_meter: MeterMask) -> None:
        self._key = key
        self._is_meter = is_meter
        self._cache: dict[str, str] = {}
        self._unsaved: dict[str, str] = {}  # pseudonym → meter id

    def devices(self, ids: Sequence[str]) -> list[str]:
        """Each id, or its pseudonym when it is a meter."""
        out = list(ids)
        for position in np.flatnonzero(self._is_meter(ids)).tolist():
            out[position] = self._pseudonym(out[position])
        return out

    def reference(self, ref: str | None) -> str | None:
        """A record id that embeds a meter id, with the meter's pseudonym in its place."""
        if not ref:
            return ref
        for prefix in ID_PREFIXES:
            if ref.startswith(prefix):
                device, dash, seconds = ref[len(prefix) :].rpartition("-")
                if dash and self._is_meter([device])[0]:
                    return f"{prefix}{self._pseudonym(device)}-{seconds}"
        return ref

    def matching(self, pseudonyms: set[str], candidates: Sequence[str]) -> dict[str, str]:
        """Pseudonym → meter id, for those of `pseudonyms` that a meter among `candidates` has. Hashes only the
        candidates: a worker reading back its own published records narrows them down (zone) first."""
        meters = list(compress(candidates, self._is_meter(candidates)))
        return {p: m for p, m in zip(pseudonymise(self._key, meters), meters, strict=True) if p in pseudonyms}

    def text(self, words: str) -> str:
        """Free text (outage advice such as `merged into O-…`): every embedded record id rewritten."""
        return " ".join(self.reference(word) or word for word in words.split(" "))

    def _pseudonym(self, device: str) -> str:
        pseudonym = self._cache.get(device)
        if pseudonym is None:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            pseudonym = self._cache[device] = pseudonymise(self._key, [device])[0]
            self._unsaved[pseudonym] = device
        return pseudonym

    def unsaved(self) -> dict[str, list[str]]:
        """Columns for the mapping table: pseudonyms handed out since the last `saved`."""
        return {"pseudonym": list(self._unsaved), "device": list(self._unsaved.values())}

    def saved(self, pseudonyms: Sequence[str]) -> None:
        for pseudonym in pseudonyms:
            self._unsaved.pop(pseudonym, None)


# --- opt-out -------------------------------------------------------------------------------------------------


def read_opt_out_file(path: Path) -> list[str]:
    """Meter ids, one a line; blank lines and `#` comments are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"GRIDMON_OPT_OUT_FILE: cannot read {path} ({exc}): point it at a UTF-8 text file of meter ids, "
            "one a line, or unset it"
        ) from None
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


class OptOut:
    """Opted-out meters as registry indexes: their interval reads leave the batch before it is stored or
    analysed; their events (last gasp, power restored, …) stay, so outages still find and count them."""

    def __init__(self, registry: DeviceRegistry, meter_ids: Sequence[str]) -> None:
        positions = registry.index_of(list(meter_ids))
        unknown = [
            device for device, position in zip(meter_ids, positions.tolist(), strict=True) if position < 0
        ]
        if unknown:  # their reads are dead-lettered as unknown_device anyway: nothing is stored for them
            log.warning("%d opted-out meters are not in the grid model, e.g. %s", len(unknown), unknown[:3])
        self.indexes = np.unique(positions[positions >= 0]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.indexes.size)

    def interval_reads(self, kind: str, batch: IngestBatch) -> tuple[IngestBatch, int]:
        """The batch without opted-out interval reads, and how many were left out."""
        if kind != "meter" or not self.indexes.size or not batch.accepted:
            return batch, 0
        drop = np.isin(batch.device_idx, self.indexes)
        if not drop.any():
            return batch, 0
        drop &= np.asarray(batch.columns["event"], dtype=object) == "interval"
        dropped = int(drop.sum())
        if not dropped:
            return batch, 0
        keep = ~drop
        columns = {
            name: values[keep] if isinstance(values, np.ndarray) else list(compress(values, keep))
            for name, values in batch.columns.items()
        }
        return replace(batch, columns=columns, device_idx=batch.device_idx[keep]), dropped


# --- what the pipeline calls ---------------------------------------------------------------------------------


@dataclass
class Privacy:
    """The worker's privacy policy on its outputs (see the module docstring)."""

    pseudonyms: MeterPseudonyms
    opt_out: OptOut

    @classmethod
    def from_settings(cls, settings: Settings, registry: DeviceRegistry) -> Privacy:
        """Refuses the development key in a deployment; reads GRIDMON_OPT_OUT_FILE when set."""
        key = pseudonym_key(settings)
        opted = read_opt_out_file(settings.opt_out_file) if settings.opt_out_file else []
        return cls(MeterPseudonyms(key, meter_mask_of(registry)), OptOut(registry, opted))

    def interval_reads(self, kind: str, batch: IngestBatch) -> tuple[IngestBatch, int]:
        """The batch without opted-out interval reads, and how many were left out (metric `opted_out`)."""
        return self.opt_out.interval_reads(kind, batch)

    def anomalies(self, records: Sequence[Anomaly]) -> list[Anomaly]:
        pseudonyms = self.pseudonyms
        devices = pseudonyms.devices([record.device for record in records])
        return [
            _changed(
                record,
                device=device,
                id=pseudonyms.reference(record.id),
                parent_outage=pseudonyms.reference(record.parent_outage),
                group=pseudonyms.reference(record.group),
            )
            for record, device in zip(records, devices, strict=True)
        ]

    def outages(self, records: Sequence[Outage]) -> list[Outage]:
        pseudonyms = self.pseudonyms
        devices = pseudonyms.devices([record.device for record in records])
        return [
            _changed(
                record,
                device=device,
                id=pseudonyms.reference(record.id),
                parent=pseudonyms.reference(record.parent),
                advice=[pseudonyms.text(line) for line in record.advice],
            )
            for record, device in zip(records, devices, strict=True)
        ]


# --- looking pseudonyms up (admin) ---------------------------------------------------------------------------

REVEAL = (
    f"SELECT pseudonym, any(device) FROM {MAPPING_TABLE} WHERE pseudonym IN {{ids:Array(String)}} "
    "GROUP BY pseudonym"
)


def reveal(client: Any, pseudonyms: Sequence[str]) -> dict[str, str]:
    """Pseudonym → real meter id, for those a worker has published (needs the gridmon_admin role)."""
    if not pseudonyms:
        return {}
    try:
        rows = client.query(REVEAL, parameters={"ids": list(pseudonyms)}).result_rows
    except Exception as exc:  # ClickHouseError on a server, chdb's own errors embedded
        raise StorageError(
            f"cannot read {MAPPING_TABLE} ({str(exc).splitlines()[0]}): only gridmon_admin may read it; run "
            "`gridmon db migrate` first if it does not exist"
        ) from exc
    return {pseudonym: device for pseudonym, device in rows}


def with_real_meters(client: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows read back from `anomalies`/`outages` with each pseudonymised `device` (and the id that embeds it)
    back to the meter, for trusted tools that work on the grid model (the demo's scoring and indices)."""
    found = reveal(client, sorted({row["device"] for row in rows if row["device"].startswith(PREFIX)}))
    return [_real_meter(row, found[row["device"]]) if row["device"] in found else row for row in rows]


def _real_meter(row: dict[str, Any], meter: str) -> dict[str, Any]:
    pseudonym = row["device"]
    return {**row, "device": meter, "id": str(row["id"]).replace(f"-{pseudonym}-", f"-{meter}-", 1)}


def _changed(record: Any, **values: Any) -> Any:
    """The record itself when nothing changes (the common case: no meter involved), else a copy."""
    if all(getattr(record, name) == value for name, value in values.items()):
        return record
    return msgspec.structs.replace(record, **values)
