"""The shared half of the adapter → ClickHouse tests: count what an adapter published, run the real ingest
pipeline until it has processed all of it, and reconcile ClickHouse rows and dead letters with those counts.

Imported by this unique name (`from conftest import …` collides with other test folders' conftest modules).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gridmon.adapters import EnvelopePublisher
from gridmon.ingest.validate import SetRegistry
from gridmon.pipeline import runner
from gridmon.records import DeadLetter
from gridmon.settings import Settings
from gridmon.store.client import connect
from gridmon.store.migrations import migrate
from gridmon.store.tables import RAW_TABLES

TopicReader = Callable[..., list[Any]]


class CountingPublisher(EnvelopePublisher):
    """The adapter's real publisher, also tallying readings per kind and dead letters per reason as produced."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.readings: Counter[str] = Counter()  # kind → readings in envelopes produced
        self.envelopes: Counter[str] = Counter()  # kind → Kafka messages produced
        self.letters: Counter[str] = Counter()  # reason → dead-letter messages produced
        self._splitting = False

    def publish(self, kind: Any, readings: Sequence[Any], key: str, source: str) -> int:
        if self._splitting:  # the halves of an envelope too big for one message: counted by the caller
            return super().publish(kind, readings, key, source)
        self._splitting = True
        try:
            envelopes = super().publish(kind, readings, key, source)
        finally:
            self._splitting = False
        self.readings[kind] += len(readings)
        self.envelopes[kind] += envelopes
        return envelopes

    def dead_letter(self, letter: DeadLetter, readings: int = 1) -> None:
        super().dead_letter(letter, readings)
        self.letters[letter.reason] += 1


@dataclass
class Landing:
    """What the pipeline made of the input topics: rows per raw table and its own dead letters."""

    settings: Settings
    client: Any
    kinds: tuple[str, ...]
    rows: dict[str, int] = field(default_factory=dict)  # table → rows
    rejected: Counter[tuple[str, str]] = field(
        default_factory=Counter
    )  # (kind, reason) → ingest dead letters
    field_letters: Counter[str] = field(default_factory=Counter)  # reason → the adapter's letters stored

    def count(self) -> None:
        for kind in self.kinds:
            table = RAW_TABLES[kind]
            self.rows[table] = self.client.query(f"SELECT count() FROM {table}").result_rows[0][0]
        for topic, reason, letters in self.client.query(
            "SELECT source_topic, reason, count() FROM dead_letters FINAL GROUP BY source_topic, reason"
        ).result_rows:
            if self.is_input(topic):
                self.rejected[(self.kind_of(topic), reason)] = letters
            else:  # a field endpoint: the adapter's letter, stored by the worker's grid.deadletter stage
                self.field_letters[reason] += letters

    def is_input(self, topic: str) -> bool:
        return topic.startswith(self.settings.topic("grid."))

    def kind_of(self, topic: str) -> str:
        """The reading kind of an input topic's full name (the test's topic prefix is unique)."""
        kinds = [kind for kind in self.kinds if self.settings.topic(f"grid.{kind}") == topic]
        assert kinds, f"{topic} is not an input topic of this pipeline"
        return kinds[0]

    def accepted_by_kind(self) -> dict[str, int]:
        return {kind: self.rows[RAW_TABLES[kind]] for kind in self.kinds}


async def land_in_clickhouse(
    settings: Settings,
    kinds: Iterable[str],
    devices: Iterable[str],
    field_session: Coroutine[Any, Any, CountingPublisher],
) -> tuple[CountingPublisher, Landing]:
    """Run `field_session` (simulated device → adapter → input topics) while the real pipeline (grid model =
    `devices`) runs; once the session has ended and the pipeline has processed every envelope the adapter
    produced, stop it and count what reached ClickHouse. Returns the session's publisher and the count."""
    client = connect(settings)
    migrate(client)
    landing = Landing(settings, client, tuple(kinds))
    pipeline = runner.build_pipeline(
        settings,
        settings.kafka_bootstrap or "",
        client,
        runner.Components(registry=SetRegistry(list(devices))),
        kinds=landing.kinds,
        app_id=f"adapt-ch-{uuid.uuid4().hex[:6]}",
    )
    # the field session runs while the pipeline starts and joins its consumer group (seconds on Tansu)
    session = asyncio.create_task(field_session)
    try:
        async with runner.running(pipeline):
            publisher = await session
            await _processed(pipeline, publisher)
    finally:
        session.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await session
    landing.count()
    return publisher, landing


async def _processed(pipeline: Any, publisher: CountingPublisher, timeout_s: float = 30.0) -> None:
    """Wait until each ingest stage has processed as many messages as the adapter produced for its kind, and
    the dead-letter stage has stored as many letters as the adapter wrote.

    Faster here than `Pipeline.wait_caught_up`, which reads every input partition to its end (~0.5 s each).
    """
    envelopes, letters = publisher.envelopes, sum(publisher.letters.values())
    deadline = time.monotonic() + timeout_s
    while True:
        done = {kind: pipeline.ingest[kind].progress.messages for kind in envelopes}
        stored = pipeline.field_letters.progress.readings
        if all(done[kind] >= wanted for kind, wanted in envelopes.items()) and stored >= letters:
            return
        assert time.monotonic() < deadline, (
            f"pipeline processed {done} of the adapter's envelopes {envelopes}, stored {stored} of its "
            f"{letters} dead letters"
        )
        await asyncio.sleep(0.05)


def reconcile(publisher: CountingPublisher, landing: Landing, read_topic: TopicReader) -> list[DeadLetter]:
    """Assert that every reading the adapter published is one row or one ingest dead letter, per kind, and
    that the adapter's own dead letters are all on grid.deadletter; returns the ingest's dead letters."""
    health = publisher.health
    assert health.delivery_failures == 0 and health.envelopes_delivered == health.envelopes_published
    assert sum(publisher.readings.values()) == health.readings_published
    assert set(publisher.readings) <= set(landing.kinds), "the pipeline must consume every kind published"
    for kind in landing.kinds:
        rejected = sum(n for (of, _), n in landing.rejected.items() if of == kind)
        assert landing.accepted_by_kind()[kind] + rejected == publisher.readings[kind], (
            kind,
            landing.rows,
            landing.rejected,
            publisher.readings,
        )
    ingest_letters = sum(landing.rejected.values())
    wanted = sum(publisher.letters.values()) + ingest_letters
    letters = read_topic("grid.deadletter", until=lambda got: len(got) >= wanted)
    assert len(letters) == wanted
    from_field = [d for d in letters if d.partition == -1]  # the adapter's: the source is the field endpoint
    assert Counter(d.reason for d in from_field) == publisher.letters
    assert landing.field_letters == publisher.letters  # and in ClickHouse, where operators look
    assert {d.source_topic for d in from_field} <= {health.endpoint}
    from_ingest = [d for d in letters if d.partition != -1]
    prefix = landing.settings.topic("grid.")
    assert Counter((d.source_topic.removeprefix(prefix), d.reason) for d in from_ingest) == landing.rejected
    return from_ingest
