"""Ingest decode speed: readings/s of `IngestProcessor.process` against the pre-#9 path, same messages, same run.

Run: .venv/bin/python load_tests/bench_ingest.py [--size medium] [--seconds 120] [--batches live 400 4000]

Method (docs/performance.md, "Ingest decode"): the simulator's traffic on a generated grid (scenario `mixed`,
AMI interval 60 s; SCADA from `storm` runs, where breakers and fault indicators actually talk) is cut per
kind into batches in delivery order: `live` = what 0.3 s of delivery brings (a paced worker's batch window),
or N messages (a worker catching up). Each batch goes through `ReferenceIngest` (the decode → Struct per reading → transpose path that
#9 replaced, kept here only as the yardstick) and through the product's `IngestProcessor`, alternately, each
with a fresh duplicate memory; the best of `--repeats` passes counts. The two outputs are compared column by
column and dead letter by dead letter first, so the figures are for the same work. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import re
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import orjson

from gridmon.ingest import IngestBatch, IngestProcessor, RawMessage
from gridmon.ingest.deadletters import dead_letter, reading_json
from gridmon.ingest.validate import (
    RANGES,
    DeviceRegistry,
    Rejection,
    time_rejections,
    unknown_device_rejections,
)
from gridmon.records import READING_TYPES, DeadLetter, Envelope
from gridmon.security.signature import SIGNATURE_HEADER, MessageVerifier
from gridmon.settings import Settings, load_settings

KINDS = ("pmu", "sensor", "meter", "scada")


# ---- the reference: the ingest path before #9, verbatim in behaviour (decode, to_columns, dedup, process) ----

_NON_FINITE = re.compile(rb"(?<![\w\"])-?(NaN|Infinity)(?![\w\"])")
_MIX = np.uint64(0x9E3779B97F4A7C15)
EVENT_COLUMN = {"meter": "event", "scada": "event"}


@dataclass
class _Decoded:
    readings: list[Any] = field(default_factory=list)
    message_index: list[int] = field(default_factory=list)
    sent_ns: list[int] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


class _ReferenceDecoder:
    def __init__(self, kind: str, max_message_bytes: int, hmac_key: bytes | None = None) -> None:
        self.reading_type = READING_TYPES[kind]
        self.max_message_bytes = max_message_bytes
        self.verifier = MessageVerifier(hmac_key) if hmac_key else None
        self._typed = msgspec.json.Decoder(Envelope[self.reading_type])  # type: ignore[name-defined]
        self._raw = msgspec.json.Decoder(Envelope[msgspec.Raw])
        self._reading = msgspec.json.Decoder(self.reading_type)

    def decode(self, messages: Sequence[RawMessage]) -> _Decoded:
        out = _Decoded()
        for index, message in enumerate(messages):
            out.sent_ns.append(0)
            value = message.value
            if value is None:
                out.dead_letters.append(
                    dead_letter(message, "schema", "empty message: an envelope is required")
                )
                continue
            if len(value) > self.max_message_bytes:
                detail = f"{len(value)} bytes > limit {self.max_message_bytes} (original truncated to 4 KiB)"
                out.dead_letters.append(dead_letter(message, "oversize", detail, original=value[:4096]))
                continue
            if self.verifier is not None:
                refused = self.verifier.check(value, message.header(SIGNATURE_HEADER))
                if refused is not None:
                    out.dead_letters.append(dead_letter(message, "bad_signature", refused))
                    continue
            try:
                envelope = self._typed.decode(value)
            except msgspec.DecodeError:
                self._decode_slowly(message, index, out)
                continue
            out.sent_ns[index] = envelope.sent_ns
            out.readings.extend(envelope.readings)
            out.message_index.extend([index] * len(envelope.readings))
        return out

    def _decode_slowly(self, message: RawMessage, index: int, out: _Decoded) -> None:
        value = message.value or b""
        try:
            value.decode("utf-8")
        except UnicodeDecodeError as exc:
            out.dead_letters.append(dead_letter(message, "not_utf8", f"invalid UTF-8 at byte {exc.start}"))
            return
        try:
            orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            if _NON_FINITE.search(value):
                out.dead_letters.append(
                    dead_letter(message, "out_of_range", "non-finite number (NaN/Infinity) is not valid JSON")
                )
            else:
                out.dead_letters.append(dead_letter(message, "not_json", str(exc)))
            return
        try:
            envelope = self._raw.decode(value)
        except msgspec.ValidationError as exc:
            out.dead_letters.append(dead_letter(message, "schema", f"envelope: {exc}"))
            return
        out.sent_ns[index] = envelope.sent_ns
        for position, raw in enumerate(envelope.readings):
            try:
                reading = self._reading.decode(raw)
            except msgspec.ValidationError as exc:
                path = f"$.readings[{position}]"
                detail = str(exc).replace("`$", f"`{path}") if "`$" in str(exc) else f"{exc} - at `{path}`"
                out.dead_letters.append(
                    dead_letter(message, "schema", detail, device=_device_of(raw), original=bytes(raw))
                )
                continue
            out.readings.append(reading)
            out.message_index.append(index)


def _device_of(raw: msgspec.Raw) -> str | None:
    try:
        device = orjson.loads(bytes(raw)).get("device")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return device if isinstance(device, str) else None


def _field_kinds(reading_type: type[msgspec.Struct]) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for info in msgspec.structs.fields(reading_type):
        annotation = str(info.type)
        optional = "None" in annotation or "Optional" in annotation
        if info.name == "ts":
            kinds[info.name] = "ts"
        elif "float" in annotation:
            kinds[info.name] = "optional_float" if optional else "float"
        elif "int" in annotation and "Literal" not in annotation:
            kinds[info.name] = "optional_int" if optional else "int"
        else:
            kinds[info.name] = "str"
    return kinds


def _to_columns(reading_type: type[msgspec.Struct], readings: Sequence[Any]) -> dict[str, Any]:
    kinds = _field_kinds(reading_type)
    names = list(kinds)
    if not readings:
        return {
            name: []
            if kind == "str"
            else np.empty(0, np.int64 if "int" in kind or kind == "ts" else np.float64)
            for name, kind in kinds.items()
        }
    rows = list(map(attrgetter(*names), readings))
    transposed = list(zip(*rows, strict=True))
    return {name: _column(kinds[name], values) for name, values in zip(names, transposed, strict=True)}


def _column(kind: str, values: tuple[Any, ...]) -> Any:
    if kind == "ts":
        try:
            return np.array(values, dtype=np.int64)
        except (TypeError, OverflowError):
            return np.array([_ns(v) for v in values], dtype=np.int64)
    if kind == "float":
        return np.array(values, dtype=np.float64)
    if kind == "optional_float":
        try:
            return np.array(values, dtype=np.float64)
        except TypeError:
            return np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    if kind == "int":
        return np.array(values, dtype=np.int64)
    if kind == "optional_int":
        return np.array([-1 if v is None else v for v in values], dtype=np.int64)
    return list(values)


def _ns(value: int | datetime) -> int:
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else -(2**63)
    if value.tzinfo is None:
        return -(2**63)
    ns = int(value.timestamp()) * 1_000_000_000 + value.microsecond * 1000
    return ns if -(2**63) <= ns < 2**63 else -(2**63)


class _ReferenceDuplicates:
    def __init__(self, capacity: int = 1_000_000) -> None:
        self.capacity = capacity
        self._current: dict[int, int] = {}
        self._previous: dict[int, int] = {}

    def duplicates(self, keys: np.ndarray, positions: np.ndarray) -> np.ndarray:
        key_list = keys.tolist()
        position_list = positions.tolist()
        mask = np.zeros(len(key_list), dtype=bool)
        batch_keys = set(key_list)
        known = (self._current.keys() & batch_keys) | (self._previous.keys() & batch_keys)
        first_seen = {key: self._first(key) for key in known}
        if known or len(batch_keys) < len(key_list):
            first_in_batch: dict[int, int] = {}
            for row, (key, position) in enumerate(zip(key_list, position_list, strict=True)):
                first = self._first(key) if key in known else first_in_batch.setdefault(key, position)
                if first != position:
                    mask[row] = True
            first_seen |= first_in_batch
        self._current.update(zip(key_list, position_list, strict=True))
        self._current.update(first_seen)
        if len(self._current) >= self.capacity:
            self._previous, self._current = self._current, {}
        return mask

    def _first(self, key: int) -> int:
        first = self._current.get(key)
        return self._previous[key] if first is None else first


def _range_rejections(kind: str, columns: dict[str, Any]) -> list[Rejection]:
    rejections = []
    for rule in RANGES[kind]:
        values = columns[rule.column]
        bad = ~((values >= rule.low) & (values <= rule.high)) & ~np.isnan(values)
        bad |= np.isinf(values)
        rows = np.flatnonzero(bad)
        if rows.size:
            details = [
                f"{rule.column}={float(values[r])!r} outside [{rule.low:g}, {rule.high:g}] {rule.unit}"
                for r in rows
            ]
            rejections.append(Rejection(rows, "out_of_range", details))
    return rejections


class ReferenceIngest:
    """The ingest step as it was before #9: one Struct per reading, transposed into columns."""

    def __init__(self, kind: str, settings: Settings, registry: DeviceRegistry) -> None:
        self.kind = kind
        self.settings = settings
        self.registry = registry
        hmac_key = settings.hmac_key.get_secret_value().encode() if settings.hmac_key else None
        self.decoder = _ReferenceDecoder(kind, settings.max_message_bytes, hmac_key)
        self.reading_type = READING_TYPES[kind]
        self.duplicates = _ReferenceDuplicates()
        self._event_codes: dict[str, int] = {}

    def process(self, messages: Sequence[RawMessage], now_ns: int | None = None) -> IngestBatch:
        decoded = self.decoder.decode(messages)
        columns = _to_columns(self.reading_type, decoded.readings)
        origin = np.asarray(decoded.message_index, dtype=np.int64)
        if self.kind == "pmu":
            for phase in ("va", "vb", "vc", "ia", "ib", "ic"):
                columns[f"{phase}_angle"] = 180.0 - np.mod(180.0 - columns[f"{phase}_angle"], 360.0)
        device_idx = self.registry.index_of(columns["device"])
        now = now_ns or time.time_ns()
        rejections = _range_rejections(self.kind, columns)
        rejections += time_rejections(
            columns["ts"], now, self.settings.max_future_skew_s, self.settings.max_event_age_s
        )
        rejections += unknown_device_rejections(device_idx, columns["device"])
        rejections += self._duplicate_rejections(columns, device_idx, origin, messages)
        dead = list(decoded.dead_letters)
        keep = np.ones(len(device_idx), dtype=bool)
        for rejection in rejections:
            fresh = rejection.rows[keep[rejection.rows]]
            details = dict(zip(rejection.rows.tolist(), rejection.details, strict=True))
            for row in fresh.tolist():
                message = messages[int(origin[row])]
                detail = f"{details[row]} (reading ts {int(columns['ts'][row])})"
                original = reading_json(columns, row)  # the reading, not its envelope (as the product)
                dead.append(dead_letter(message, rejection.reason, detail, columns["device"][row], original))
            keep[fresh] = False
        accepted = _select(columns, keep)
        origin = origin[keep]
        partitions = np.array([m.partition for m in messages], dtype=np.int32)
        offsets = np.array([m.offset for m in messages], dtype=np.int64)
        sent = np.asarray(decoded.sent_ns, dtype=np.int64)
        accepted["sent_ns"] = sent[origin] if len(origin) else np.empty(0, dtype=np.int64)
        accepted["_partition"] = partitions[origin] if len(origin) else np.empty(0, dtype=np.int32)
        accepted["_offset"] = offsets[origin] if len(origin) else np.empty(0, dtype=np.int64)
        accepted["_topic"] = [messages[0].topic if messages else ""] * len(origin)
        return IngestBatch(self.kind, len(messages), accepted, device_idx[keep], dead)

    def _duplicate_rejections(
        self,
        columns: dict[str, Any],
        device_idx: np.ndarray,
        origin: np.ndarray,
        messages: Sequence[RawMessage],
    ) -> list[Rejection]:
        if not len(device_idx):
            return []
        codes = None
        event_column = EVENT_COLUMN.get(self.kind)
        if event_column:
            setdefault = self._event_codes.setdefault
            codes = np.array([setdefault(e, len(self._event_codes)) for e in columns[event_column]])
        keys = device_idx.astype(np.uint64) * _MIX ^ columns["ts"].view(np.uint64)
        if codes is not None:
            keys ^= codes.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
        message_positions = np.array([(m.partition << 44) | m.offset for m in messages], dtype=np.int64)
        mask = self.duplicates.duplicates(keys, message_positions[origin])
        rows = np.flatnonzero(mask)
        if not rows.size:
            return []
        details = [f"same device, event time and event already received ({columns['ts'][r]})" for r in rows]
        return [Rejection(rows, "duplicate", details)]


def _select(columns: dict[str, Any], keep: np.ndarray) -> dict[str, Any]:
    if keep.all():
        return dict(columns)
    positions = np.flatnonzero(keep).tolist()
    return {
        name: values[keep] if isinstance(values, np.ndarray) else [values[i] for i in positions]
        for name, values in columns.items()
    }


# ---- the benchmark ------------------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Batches of messages per kind in delivery order, and the event time the simulation ended at."""

    batches: dict[str, list[list[RawMessage]]]
    end_ns: int
    readings: dict[str, int]


@dataclass
class Simulated:
    """Each kind's messages in delivery order, with the simulator chunk (window of delivery time) of each."""

    messages: dict[str, list[tuple[int, RawMessage]]]
    end_ns: int
    readings: dict[str, int]

    def cut(self, batch: str) -> Traffic:
        """`live`: one batch per kind and window (what a paced worker gets); a number: that many messages."""
        batches: dict[str, list[list[RawMessage]]] = {}
        for kind, tagged in self.messages.items():
            if batch == "live":
                windows: dict[int, list[RawMessage]] = defaultdict(list)
                for window, message in tagged:
                    windows[window].append(message)
                batches[kind] = list(windows.values())
            else:
                size, messages = int(batch), [message for _, message in tagged]
                batches[kind] = [messages[i : i + size] for i in range(0, len(messages), size)]
        return Traffic(batches, self.end_ns, self.readings)


def simulate_traffic(
    size: str, seconds: float, storm_seeds: int = 1, window_s: float = 0.3
) -> tuple[Any, Simulated]:
    """The simulator's messages per kind, delivered in windows of `window_s` (the worker's batch window);
    SCADA from `storm_seeds` storms (one storm sends ~300 SCADA readings)."""
    from gridmon.grid.generate import generate
    from gridmon.simulate import Simulator
    from gridmon.simulate.realities import Rates

    model = generate(size, seed=1)
    values: dict[str, list[tuple[int, bytes]]] = defaultdict(list)
    end_ns = 0
    runs: list[tuple[str, int, tuple[str, ...]]] = [("mixed", 1, ("pmu", "sensor", "meter"))]
    runs += [("storm", seed, ("scada",)) for seed in range(1, storm_seeds + 1)]
    window = 0
    for scenario, seed, kinds in runs:
        rates = Rates(meter_interval_s=60)
        simulator = Simulator(model, scenario, seed=seed, duration_s=seconds, rates=rates, chunk_s=window_s)
        end_ns = max(end_ns, simulator.end_ns)
        for batch in simulator.batches():
            window += 1
            for topic, _key, value in batch.messages:
                kind = topic.rpartition(".")[2]
                if kind in kinds:
                    values[kind].append((window, value))
    messages: dict[str, list[tuple[int, RawMessage]]] = {}
    readings: dict[str, int] = {}
    for kind in KINDS:
        messages[kind] = [
            (window, RawMessage(f"grid.{kind}", 0, offset, value))
            for offset, (window, value) in enumerate(values[kind])
        ]
        readings[kind] = sum(len(orjson.loads(value)["readings"]) for _, value in values[kind])
    return model, Simulated(messages, end_ns, readings)


def same_output(reference: IngestBatch, product: IngestBatch) -> str | None:
    """Why two batches differ (None when they hold the same rows, columns, dtypes and dead letters)."""
    if set(reference.columns) != set(product.columns):
        return f"columns {sorted(reference.columns)} != {sorted(product.columns)}"
    for name, expected in reference.columns.items():
        got = product.columns[name]
        if isinstance(expected, np.ndarray):
            if not isinstance(got, np.ndarray) or got.dtype != expected.dtype:
                return f"{name}: {type(got).__name__} {getattr(got, 'dtype', '')} != {expected.dtype}"
            if expected.dtype.kind != "f" and not np.array_equal(expected, got):
                return f"{name}: values differ"
            # the reference wrapped every angle arithmetically (±1 ulp); the product leaves in-range ones as sent
            if expected.dtype.kind == "f" and not np.allclose(
                expected, got, rtol=1e-12, atol=1e-9, equal_nan=True
            ):
                return f"{name}: values differ"
        elif list(got) != list(expected) or type(got) is not type(expected):
            return f"{name}: values differ"
    if not np.array_equal(reference.device_idx, product.device_idx):
        return "device_idx differs"
    expected_letters = [(d.reason, d.detail, d.offset, d.device) for d in reference.dead_letters]
    got_letters = [(d.reason, d.detail, d.offset, d.device) for d in product.dead_letters]
    if expected_letters != got_letters:
        first = next(
            (pair for pair in itertools.zip_longest(expected_letters, got_letters) if pair[0] != pair[1]),
            None,
        )
        return f"dead letters differ ({len(expected_letters)} vs {len(got_letters)}; first: {first})"
    for old, new in zip(reference.dead_letters, product.dead_letters, strict=True):
        if old.original != new.original and not _same_reading(old.original, new.original):
            return f"dead letter originals differ: {old.original[:200]!r} != {new.original[:200]!r}"
    return None


def _same_reading(old: bytes, new: bytes) -> bool:
    """A rejected reading's JSON, with the same ±1 ulp tolerance on (wrapped) angles as the columns."""
    try:
        a, b = orjson.loads(old), orjson.loads(new)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(a, dict) or not isinstance(b, dict) or a.keys() != b.keys():
        return False
    return all(
        a[k] == b[k]
        or (isinstance(a[k], float | int) and isinstance(b[k], float | int) and abs(a[k] - b[k]) <= 1e-9)
        for k in a
    )


def time_path(make: Any, batches: list[list[RawMessage]], now_ns: int) -> float:
    processor = make()
    started = time.perf_counter()
    for messages in batches:
        processor.process(messages, now_ns=now_ns)
    return time.perf_counter() - started


def time_msgspec_decode(kind: str, batches: list[list[RawMessage]]) -> float:
    """The floor both paths share: msgspec decoding every message into one Struct per reading, nothing else."""
    decode = msgspec.json.Decoder(Envelope[READING_TYPES[kind]]).decode  # type: ignore[name-defined]
    started = time.perf_counter()
    for messages in batches:
        for message in messages:
            with contextlib.suppress(msgspec.DecodeError):
                decode(message.value or b"")
    return time.perf_counter() - started


def measure(model: Any, traffic: Traffic, settings: Settings, repeats: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for kind, batches in traffic.batches.items():
        reference, product = ReferenceIngest(kind, settings, model), IngestProcessor(kind, settings, model)
        for messages in batches:
            why = same_output(
                reference.process(messages, traffic.end_ns), product.process(messages, traffic.end_ns)
            )
            if why:
                raise SystemExit(f"{kind}: the product's output differs from the reference: {why}")
        old = new = floor = math.inf
        for _ in range(repeats):  # alternate, so all three see the same machine load
            old = min(old, time_path(lambda: ReferenceIngest(kind, settings, model), batches, traffic.end_ns))  # noqa: B023
            new = min(new, time_path(lambda: IngestProcessor(kind, settings, model), batches, traffic.end_ns))  # noqa: B023
            floor = min(floor, time_msgspec_decode(kind, batches))
        readings = traffic.readings[kind]
        results[kind] = {
            "messages": sum(map(len, batches)),
            "readings": readings,
            "batches": len(batches),
            "readings_per_batch": round(readings / max(1, len(batches)), 1),
            "readings_per_message": round(readings / max(1, sum(map(len, batches))), 1),
            "reference_readings_per_s": round(readings / old),
            "product_readings_per_s": round(readings / new),
            "speedup": round(old / new, 2),
            "reference_us_per_reading": round(old * 1e6 / readings, 3),
            "product_us_per_reading": round(new * 1e6 / readings, 3),
            "msgspec_decode_us_per_reading": round(floor * 1e6 / readings, 3),
            # what the speedup would be if everything after msgspec's decode cost nothing
            "speedup_bound_by_decode": round(old / floor, 2),
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="medium", choices=("small", "medium", "large"))
    parser.add_argument("--seconds", type=float, default=120.0, help="simulated event time")
    parser.add_argument(
        "--batches",
        nargs="+",
        default=["live", "400", "4000"],
        help="`live`: per kind, what 0.3 s of delivery brings (a paced worker); N: N messages (400 is what "
        "Faust's take_events delivered in round 2, 4000 a batch consumer catching up)",
    )
    parser.add_argument("--storm-seeds", type=int, default=6, help="storms simulated for SCADA traffic")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    settings = load_settings()
    model, simulated = simulate_traffic(args.size, args.seconds, args.storm_seeds)
    runs = []
    for batch in args.batches:
        results = measure(model, simulated.cut(batch), settings, args.repeats)
        runs.append(
            {"batches": batch, "kinds": results, "min_speedup": min(r["speedup"] for r in results.values())}
        )
    report = {
        "size": args.size,
        "event_seconds": args.seconds,
        "runs": runs,
        "duration_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
