"""Pipeline stages: what happens to one batch of messages, from decode to ClickHouse and output topics.

A stage returns only when its rows are confirmed by ClickHouse and its outputs by Kafka; the batch consumer
commits the input offsets after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Protocol

import msgspec

from gridmon.ingest import IngestBatch, IngestProcessor, RawMessage
from gridmon.ingest.deadletters import dead_letter
from gridmon.pipeline.outputs import OutputPublisher
from gridmon.pipeline.progress import Progress
from gridmon.records import Anomaly, DeadLetter, Envelope, Outage, OutageEvent
from gridmon.security.privacy import MAPPING_TABLE, Privacy
from gridmon.store.tables import RAW_TABLES


class RowWriter(Protocol):
    """Writes column batches to ClickHouse exactly once; returns the rows the server rejected with why."""

    async def write(
        self, table: str, columns: dict[str, Any], messages: Sequence[RawMessage]
    ) -> list[tuple[int, str]]: ...


class AnomalyDetector(Protocol):
    def process(self, kind: str, batch: IngestBatch) -> list[Anomaly]: ...


class OutageRouter(Protocol):
    """Picks the outage-relevant readings of a batch and names the feeder of each."""

    def route(self, kind: str, batch: IngestBatch) -> list[OutageEvent]: ...


class OutageCorrelator(Protocol):
    def process(self, events: Sequence[OutageEvent]) -> list[Outage]: ...

    def flush(self, until_ns: int) -> list[Outage]: ...

    def at_risk(self) -> list[Anomaly]: ...


def record_columns(
    records: Sequence[msgspec.Struct], record_type: type[msgspec.Struct]
) -> dict[str, list[Any]]:
    """Column lists from a list of records (output records are few: no numpy needed)."""
    names = [f.name for f in msgspec.structs.fields(record_type)]
    if not records:
        return {name: [] for name in names}
    rows = list(map(attrgetter(*names), records))
    return {name: list(values) for name, values in zip(names, zip(*rows, strict=True), strict=True)}


def numbered_copies(letters: Sequence[DeadLetter]) -> list[DeadLetter]:
    """The letters, with a copy number in the detail of each repeat of an earlier letter of the same message.

    `dead_letters` keeps one row per message, reason, device and detail (a replay is not doubled), so two
    equal letters of one message would count once: an envelope that repeats a reading already received
    elsewhere has every copy rejected alike, and each copy is a reading to account for. A message is handled
    in one batch, so a replay numbers its copies the same way and still collapses onto the first delivery.
    """
    seen: Counter[tuple[str, int, int, str, str | None, str]] = Counter()
    numbered = []
    for letter in letters:
        identity = (
            letter.source_topic,
            letter.partition,
            letter.offset,
            letter.reason,
            letter.device,
            letter.detail,
        )
        seen[identity] += 1
        if seen[identity] > 1:
            letter = msgspec.structs.replace(
                letter, detail=f"{letter.detail} (copy {seen[identity]} in this message)"
            )
        numbered.append(letter)
    return numbered


@dataclass
class Outputs:
    """Where a stage's results go: ClickHouse rows and output topics.

    `privacy` is applied here, once for every stage (docs/privacy.md): meter ids in anomalies and outages
    become pseudonyms; the ingest stage asks it which interval reads are opted out. Dead letters keep real
    ids: they are private to the processor and admin, and their original bytes hold the whole message anyway.
    """

    writer: RowWriter
    publisher: OutputPublisher
    privacy: Privacy

    async def dead_letters(self, letters: Sequence[DeadLetter], messages: Sequence[RawMessage]) -> None:
        if not letters:
            return
        letters = numbered_copies(letters)
        self.publisher.publish("grid.deadletter", ((d.source_topic, d) for d in letters))
        await self.store_dead_letters(letters, messages)

    async def store_dead_letters(self, letters: Sequence[DeadLetter], messages: Sequence[RawMessage]) -> None:
        """Into `dead_letters` only (not published: for letters already on the topic)."""
        rejected = await self.writer.write("dead_letters", record_columns(letters, DeadLetter), messages)
        if rejected:  # a dead letter ClickHouse refuses is still on the topic; say so loudly
            raise RuntimeError(f"ClickHouse rejected dead letters: {rejected[:3]}")

    async def anomalies(self, anomalies: Sequence[Anomaly], messages: Sequence[RawMessage]) -> None:
        if anomalies:
            anomalies = self.privacy.anomalies(anomalies)
            await self._pseudonym_mapping()
            self.publisher.publish("grid.anomalies", ((a.id, a) for a in anomalies))
            await self.writer.write("anomalies", record_columns(anomalies, Anomaly), messages)

    async def outages(self, outages: Sequence[Outage], messages: Sequence[RawMessage]) -> None:
        if outages:
            outages = self.privacy.outages(outages)
            await self._pseudonym_mapping()
            self.publisher.publish("grid.outages", ((o.feeder, o) for o in outages))
            await self.writer.write("outages", record_columns(outages, Outage), messages)

    async def _pseudonym_mapping(self) -> None:
        """New pseudonyms go to the admin-only mapping before any record that uses them; no input offsets:
        every write is inserted (the table collapses repeats), so none is mistaken for a replay."""
        columns = self.privacy.pseudonyms.unsaved()
        if columns["pseudonym"]:
            await self.writer.write(MAPPING_TABLE, columns, ())
            self.privacy.pseudonyms.saved(columns["pseudonym"])


class WriteOrder:
    """Lets a stage compute batch k+1 while batch k is still being written, and keeps its writes in batch
    order: the sink's offset high-water and the order of outputs per partition rely on it."""

    def __init__(self) -> None:
        self._last: asyncio.Future[None] | None = None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        previous, mine = self._last, asyncio.get_running_loop().create_future()
        self._last = mine  # taken before the first await: turns follow the order of the calls
        try:
            if previous is not None:
                await previous
            yield
        finally:
            mine.set_result(None)


@dataclass
class IngestStage:
    """Input topic → validated rows in ClickHouse, dead letters, anomalies, and outage events by feeder."""

    kind: str
    processor: IngestProcessor
    outputs: Outputs
    detector: AnomalyDetector | None = None
    router: OutageRouter | None = None
    progress: Progress = field(default_factory=Progress)

    _raw_writes: WriteOrder = field(default_factory=lambda: WriteOrder())
    _writes: WriteOrder = field(default_factory=lambda: WriteOrder())

    async def __call__(self, messages: Sequence[RawMessage]) -> None:
        started = time.perf_counter()
        batch = self.processor.process(messages)
        # Opted-out customers' interval reads are neither stored nor analysed; the outage router still sees
        # them (whether a meter has power, in memory only), so outages find and count every customer.
        kept, opted_out = self.outputs.privacy.interval_reads(self.kind, batch)
        if self.router is not None:  # queued now, so routed events keep batch order on their topic
            self._publish_outage_events(self.router.route(self.kind, batch))
        # The raw rows go in first, in a worker thread, while the detectors hold the event loop: a reading
        # reaches its table without waiting for the scoring of its batch (p99, docs/performance.md "Round 4").
        stored = asyncio.ensure_future(self._store_raw(kept, messages))
        await asyncio.sleep(0)  # the insert starts; batches resume in the order they got here: scoring order
        try:
            anomalies = self.detector.process(self.kind, kept) if self.detector is not None else []
        except BaseException:
            await asyncio.wait([stored])  # the raw turn is handed on before the batch fails
            raise
        rejected = await stored
        async with self._writes.turn():
            letters = kept.dead_letters + self._sink_rejections(kept, rejected, messages)
            await self.outputs.dead_letters(letters, messages)
            await self.outputs.anomalies(anomalies, messages)
            await self.outputs.publisher.flush()
        elapsed = time.perf_counter() - started
        self.progress.record(messages, kept.accepted - len(rejected), len(letters), elapsed, opted_out)

    async def _store_raw(self, kept: IngestBatch, messages: Sequence[RawMessage]) -> list[tuple[int, str]]:
        """The batch's rows into its raw table, after the previous batch's (the sink's offset high-water)."""
        async with self._raw_writes.turn():
            return await self.outputs.writer.write(RAW_TABLES[self.kind], kept.columns, messages)

    def _sink_rejections(
        self, batch: IngestBatch, rejected: list[tuple[int, str]], messages: Sequence[RawMessage]
    ) -> list[DeadLetter]:
        by_position = {(m.partition, m.offset): m for m in messages}
        letters = []
        for row, reason in rejected:
            message = by_position[(int(batch.columns["_partition"][row]), int(batch.columns["_offset"][row]))]
            letters.append(dead_letter(message, "sink_rejected", reason, device=batch.columns["device"][row]))
        return letters

    def _publish_outage_events(self, events: list[OutageEvent]) -> None:
        by_feeder: dict[str, list[OutageEvent]] = {}
        for event in events:
            by_feeder.setdefault(event.feeder, []).append(event)
        now = time.time_ns()
        self.outputs.publisher.publish(
            "gridmon.outage-events",
            (
                (
                    feeder,
                    Envelope(readings=group, source="ingest", sent_ns=now, schema="gridmon.outage_event/1"),
                )
                for feeder, group in by_feeder.items()
            ),
        )


@dataclass
class OutageStage:
    """Outage events by feeder → the correlator → outage state changes in ClickHouse and on grid.outages."""

    correlator: OutageCorrelator
    outputs: Outputs
    progress: Progress = field(default_factory=Progress)
    _decoder: msgspec.json.Decoder[Envelope[OutageEvent]] = field(
        default_factory=lambda: msgspec.json.Decoder(Envelope[OutageEvent])
    )

    _writes: WriteOrder = field(default_factory=lambda: WriteOrder())

    async def __call__(self, messages: Sequence[RawMessage]) -> None:
        started = time.perf_counter()
        events: list[OutageEvent] = []
        for message in messages:  # written by our own ingest: a decode error is a bug, not field data
            events.extend(self._decoder.decode(message.value or b"").readings)
        events.sort(key=attrgetter("ts"))
        await self._emit(self.correlator.process(events), messages)
        self.progress.record(messages, len(events), 0, time.perf_counter() - started)

    async def flush(self, until_ns: int) -> None:
        """Close the event-time windows up to `until_ns` (end of a bounded run such as the demo)."""
        await self._emit(self.correlator.flush(until_ns), [])

    async def _emit(self, outages: list[Outage], messages: Sequence[RawMessage]) -> None:
        at_risk = self.correlator.at_risk()
        async with self._writes.turn():
            await self.outputs.outages(outages, messages)
            await self.outputs.anomalies(at_risk, messages)
            await self.outputs.publisher.flush()


@dataclass
class FieldLettersStage:
    """`grid.deadletter` → `dead_letters`, for the letters of field adapters: data that never reached an input
    topic (partition -1: a frame with a bad CRC, an unmapped register, a NaN), which operators would otherwise
    see only on the topic. The worker's own letters on it are stored already: they are keyed by their input
    topic (`own_keys`) and skipped unread. A message that is no dead letter is stored as one (`schema`), never
    published again (that would loop)."""

    outputs: Outputs
    own_keys: frozenset[bytes]
    progress: Progress = field(default_factory=Progress)
    _decoder: msgspec.json.Decoder[DeadLetter] = field(
        default_factory=lambda: msgspec.json.Decoder(DeadLetter)
    )

    async def __call__(self, messages: Sequence[RawMessage]) -> None:
        started = time.perf_counter()
        letters = []
        for message in messages:
            if message.key in self.own_keys:
                continue
            try:
                letter = self._decoder.decode(message.value or b"")
            except msgspec.DecodeError as exc:
                letters.append(dead_letter(message, "schema", f"not a gridmon dead letter: {exc}"))
                continue
            if letter.partition < 0:
                letters.append(letter)
        if letters:
            await self.outputs.store_dead_letters(letters, messages)
        self.progress.record(messages, len(letters), 0, time.perf_counter() - started)
