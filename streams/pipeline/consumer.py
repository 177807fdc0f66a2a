"""The worker's batch consumer: one confluent-kafka consumer fetches batches in a thread, stages handle them.

Faust's per-message stream path costs ~0.2 ms per message and delivers ~450 messages per `take_events` batch
whatever the maximum (docs/performance.md); `consume(n)` costs microseconds per message and fills a batch
to `n`. The consumer runs as a Faust service, so Faust still owns the worker's life cycle and web views.

Delivery is at-least-once: a batch's offsets are committed only after every stage confirmed its rows
(ClickHouse) and outputs (Kafka); the sink makes rows exactly-once. While the stages write batch k, they
already compute batch k+1 (each stage writes its batches in order, and a partition belongs to one stage, so
offsets are committed in order per partition), and the thread fetches batch k+2. Before partitions are taken away (rebalance), the consumer waits until
every fetched batch is handled and commits, so the next owner starts after the last stored offset. When
partitions arrive that this worker did not hold, `on_takeover` runs in the event loop after the batches in
hand and before the first batch that may hold their messages (a worker adopts their previous owner's state).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mode import Service

from gridmon.ingest.messages import RawMessage
from gridmon.kafka.clients import make_consumer
from gridmon.settings import Settings

log = logging.getLogger(__name__)
BatchHandler = Callable[[Sequence[RawMessage]], Awaitable[Any]]
Partitions = set[tuple[str, int]]
TakeoverHandler = Callable[[Partitions, Partitions], Awaitable[Any]]  # (newly assigned, all assigned)
EXIT_UNCONFIRMED_BATCH = 75
POLL_S = 0.02  # while a batch is being gathered, look for more this often
IN_FLIGHT_BATCHES = 2  # batch k+1 is decoded and scored while batch k's rows are being inserted
REVOKE_WAIT_S = 60.0  # longest a rebalance waits for in-flight batches (they are stored or the worker exits)


@dataclass
class BatchStats:
    """What the consumer did, for metrics and benchmarks."""

    batches: int = 0
    messages: int = 0
    largest_batch: int = 0
    first_fetched_at: float | None = None  # wall clock when the first batch reached the stages
    fetch_seconds: float = 0.0
    commits: int = 0
    commits_failed: int = 0
    assigned: set[tuple[str, int]] = field(default_factory=set)
    takeovers: int = 0  # assignments with partitions this worker did not hold, handed to `on_takeover`


@dataclass(frozen=True)
class Takeover:
    """Queued between batches by the fetch thread: these partitions are new to this worker."""

    new: Partitions
    held: Partitions


class BatchConsumer(Service):  # type: ignore[misc]  # mode's Service is untyped
    """Fetches batches of up to `max_messages` (waiting at most `window_s`) from `handlers`' topics."""

    def __init__(
        self,
        settings: Settings,
        bootstrap: str,
        handlers: dict[str, BatchHandler],
        *,
        group_id: str,
        max_messages: int,
        window_s: float,
        max_bytes: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.handlers = handlers
        self.group_id = group_id
        self.max_messages = max_messages
        self.window_s = window_s
        # a byte bound too: 10,000 meter head-end messages of 2,000 reads each would be gigabytes decoded
        self.max_bytes = max_bytes or settings.batch_max_bytes
        self.stats = BatchStats()
        self.on_takeover: TakeoverHandler | None = None
        self._held_before_revoke: Partitions = set()
        self._taken_over: Partitions = set()  # newly assigned, not yet queued (fetch thread)
        self._consumer: Any = None
        self._task: asyncio.Future[None] | None = None
        self._to_commit: dict[
            tuple[str, int], int
        ] = {}  # next offsets of handled batches (fetch thread commits)
        self._highwater: dict[tuple[str, int], int] = {}
        self._pending: list[Any] = []  # fetched, not handed over yet (fetch thread only)
        self._pending_bytes = 0
        # mean size of the last fetch's messages (the first fetch asks for at most 64)
        self._message_bytes = max(1, self.max_bytes // 64)
        self._pending_since = 0.0
        self._fetched = 0  # batches handed to the event loop (fetch thread)
        self._done = 0  # batches handled and committed (event loop)
        self._progress = threading.Condition()
        self._stopping = threading.Event()
        super().__init__(**kwargs)

    async def on_start(self) -> None:
        self._consumer = make_consumer(
            self.settings,
            self.bootstrap,
            group_id=self.group_id,
            **{
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 1_000,
                "max.poll.interval.ms": 300_000,
                "fetch.wait.max.ms": 50,
                "queued.max.messages.kbytes": 65_536,  # prefetch: 64 MB holds several full batches
            },
        )
        self._consumer.subscribe(list(self.handlers), on_assign=self._on_assign, on_revoke=self._on_revoke)
        self._task = asyncio.ensure_future(self._run())

    async def on_stop(self) -> None:
        """Let the batch in hand finish and commit (a cancelled batch would end the process), then leave."""
        self._stopping.set()
        with self._progress:
            self._progress.notify_all()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[list[Any] | Takeover | None] = asyncio.Queue(maxsize=1)
        fetcher = loop.run_in_executor(None, self._fetch_loop, loop, queue)
        in_flight: deque[asyncio.Future[dict[str, list[RawMessage]]]] = deque()
        try:
            while (messages := await queue.get()) is not None:
                if isinstance(messages, Takeover):
                    await self._finish(in_flight, 0)  # state is adopted between batches, never under one
                    await self._take_over(messages)
                    continue
                batch = asyncio.ensure_future(self._handle(messages))
                # marked handled the moment it (and every older batch) is done, not when the next batch
                # arrives: with no next batch (end of a backlog, a rebalance waiting for it) it must commit
                batch.add_done_callback(lambda _batch: self._handled_in_order(in_flight))
                in_flight.append(batch)
                await self._finish(in_flight, IN_FLIGHT_BATCHES - 1)
            await self._finish(in_flight, 0)
        finally:
            self._stopping.set()
            with self._progress:
                self._progress.notify_all()
            await fetcher  # it commits what was handled and leaves the group

    async def _finish(self, in_flight: deque[asyncio.Future[Any]], keep: int) -> None:
        """Wait until at most `keep` batches are in flight."""
        while len(in_flight) > keep:
            await asyncio.wait([in_flight[0]])
            self._handled_in_order(in_flight)

    def _handled_in_order(self, in_flight: deque[asyncio.Future[dict[str, list[RawMessage]]]]) -> None:
        """Oldest first, so that commits stay in batch order (a later batch may finish first)."""
        while in_flight and in_flight[0].done():
            self._handled(in_flight.popleft().result())

    async def _take_over(self, takeover: Takeover) -> None:
        """Adopting state is best effort: a failure leaves those devices cold, the pipeline goes on."""
        if self.on_takeover is None:
            return
        self.stats.takeovers += 1
        try:
            await self.on_takeover(takeover.new, takeover.held)
        except Exception:
            log.exception(
                "taking over the state of %d new partitions failed: they start cold", len(takeover.new)
            )

    def _fetch_loop(
        self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[list[Any] | Takeover | None]
    ) -> None:
        """Runs in a thread: gather messages, hand a batch over when it is full, when it waited `window_s`,
        or at once when the stages are idle (natural batching: light load gets low latency, heavy load gets
        big batches, since messages pile up while the stages are busy)."""
        try:
            while not self._stopping.is_set():
                self._commit_handled()
                started = time.perf_counter()
                room = self._room()
                messages = self._consumer.consume(room, timeout=POLL_S if self._pending else self.window_s)
                self.stats.fetch_seconds += time.perf_counter() - started
                self._note_highwater()
                if self._taken_over:  # queued before any batch that may hold the new partitions' messages
                    takeover = Takeover(self._taken_over, set(self.stats.assigned))
                    self._taken_over = set()
                    if not self._hand_over(loop, queue, takeover):
                        return
                if messages:
                    self._pending_since = self._pending_since or time.monotonic()
                    self._pending.extend(messages)
                    size = _size(messages)
                    self._pending_bytes += size
                    self._message_bytes = max(1, size // len(messages))
                if not self._pending or self._stopping.is_set() or not self._batch_due():
                    continue
                batch, self._pending, self._pending_since = self._pending, [], 0.0
                self._pending_bytes = 0
                with self._progress:
                    self._fetched += 1
                if not self._hand_over(loop, queue, batch):
                    return
        except Exception:
            log.exception("batch consumer failed: the worker stops consuming")
        finally:
            self._hand_over(loop, queue, None)
            self._close()

    def _room(self) -> int:
        """Messages to ask for: what is left of the batch, in messages and in bytes at the recent size."""
        by_bytes = max(1, (self.max_bytes - self._pending_bytes) // self._message_bytes)
        return max(1, min(self.max_messages - len(self._pending), by_bytes))

    def _batch_due(self) -> bool:
        if len(self._pending) >= self.max_messages or self._pending_bytes >= self.max_bytes:
            return True
        if time.monotonic() - self._pending_since >= self.window_s:
            return True
        with self._progress:
            return self._done == self._fetched  # the stages have nothing in hand

    def _hand_over(
        self,
        loop: asyncio.AbstractEventLoop,
        queue: asyncio.Queue[list[Any] | Takeover | None],
        item: list[Any] | Takeover | None,
    ) -> bool:
        """Queue `item` for the event loop; give up (False) if the consumer stops while the queue is full."""
        future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
        give_up_at = None
        while True:
            try:
                future.result(timeout=0.2)
                return True
            except TimeoutError:
                if self._stopping.is_set():
                    # a batch is dropped at once (never committed: replayed later); the end marker waits
                    # for the batch in hand, unless the event loop stopped listening
                    give_up_at = give_up_at or time.monotonic() + (0 if item is not None else REVOKE_WAIT_S)
                if loop.is_closed() or (give_up_at is not None and time.monotonic() >= give_up_at):
                    future.cancel()
                    return False

    async def _handle(self, fetched: list[Any]) -> dict[str, list[RawMessage]]:
        """Hand each topic's messages to its stage. The call for batch k+1 may start before batch k's has
        returned (stages compute k+1 while k is written; they keep their own writes in order)."""
        if self.stats.first_fetched_at is None:
            self.stats.first_fetched_at = time.time()
        by_topic: dict[str, list[RawMessage]] = defaultdict(list)
        for message in fetched:
            if message.error() is not None:
                if not message.error().retriable() and message.error().fatal():
                    log.error("Kafka consumer error: %s", message.error())
                continue  # end-of-partition notices and retried fetch errors are not data
            by_topic[message.topic()].append(_raw_message(message))
        try:
            await asyncio.gather(*(self.handlers[topic](batch) for topic, batch in by_topic.items()))
        except (asyncio.CancelledError, Exception) as exc:
            _exit_unconfirmed(exc, list(by_topic))
        self.stats.batches += 1
        self.stats.messages += len(fetched)
        self.stats.largest_batch = max(self.stats.largest_batch, len(fetched))
        return by_topic

    def _handled(self, by_topic: dict[str, list[RawMessage]]) -> None:
        """Remember the batch's next offsets; the fetch thread commits them (librdkafka calls stay on one
        thread: a commit from the event loop while `consume` waits blocks both)."""
        with self._progress:
            for messages in by_topic.values():
                for message in messages:
                    key = (message.topic, message.partition)
                    self._to_commit[key] = max(self._to_commit.get(key, 0), message.offset + 1)
            self._done += 1
            self._progress.notify_all()

    def _commit_handled(self, *, wait: bool = False) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        with self._progress:
            pending, self._to_commit = self._to_commit, {}
        if not pending:
            return
        offsets = [TopicPartition(topic, partition, end) for (topic, partition), end in pending.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=not wait)
            self.stats.commits += 1
        except KafkaException as exc:  # e.g. the partition moved on: the next owner replays, the sink dedups
            self.stats.commits_failed += 1
            log.warning("offset commit failed (batch will be replayed, rows are not doubled): %s", exc)

    def _note_highwater(self) -> None:
        from confluent_kafka import TopicPartition

        for topic, partition in list(self.stats.assigned):
            _low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            if high is not None and high >= 0:
                self._highwater[(topic, partition)] = int(high)

    def _on_assign(self, _consumer: Any, partitions: list[Any]) -> None:
        """Called inside `consume` (fetch thread): only notes what is new; the event loop adopts state."""
        incoming = {(tp.topic, tp.partition) for tp in partitions}
        if self.on_takeover is not None:
            self._taken_over |= incoming - self._held_before_revoke
        self._held_before_revoke = set()
        self.stats.assigned |= incoming
        log.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions))

    def _on_revoke(self, _consumer: Any, partitions: list[Any]) -> None:
        """Called inside `consume` (fetch thread): let the event loop finish and commit what was fetched."""
        deadline = time.monotonic() + REVOKE_WAIT_S
        with self._progress:
            while self._done < self._fetched and not self._stopping.is_set():
                if not self._progress.wait(timeout=max(0.0, deadline - time.monotonic())):
                    log.warning("rebalance: in-flight batches not finished in %.0fs", REVOKE_WAIT_S)
                    break
        self._commit_handled(wait=True)
        revoked = {(tp.topic, tp.partition) for tp in partitions}  # gathered, not handled: the next owner's
        self._pending = [m for m in self._pending if (m.topic(), m.partition()) not in revoked]
        self._pending_bytes = _size(self._pending)
        self._pending_since = self._pending_since if self._pending else 0.0
        self._held_before_revoke |= self.stats.assigned  # an eager rebalance assigns them again at once
        self.stats.assigned -= revoked
        log.info("revoked %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions))

    def _close(self) -> None:
        if self._consumer is not None:
            self._commit_handled(wait=True)
            self._consumer.close()  # leaves the group now instead of after the session timeout
            self._consumer = None

    def describe(self) -> dict[str, Any]:
        """What this worker consumes and how it goes (the worker's web view `/gridmon/consumer/`)."""
        assigned: dict[str, list[int]] = defaultdict(list)
        for topic, partition in sorted(self.stats.assigned):
            assigned[topic].append(partition)
        return {
            "group": self.group_id,
            "assigned": assigned,
            "batches": self.stats.batches,
            "messages": self.stats.messages,
            "largest_batch": self.stats.largest_batch,
            "commits": self.stats.commits,
            "commits_failed": self.stats.commits_failed,
            "takeovers": self.stats.takeovers,
        }

    def highwater(self, topic: str, partition: int) -> int | None:
        """The partition's end as the fetcher last saw it (no broker round trip); None if unknown."""
        return self._highwater.get((topic, partition))


def _exit_unconfirmed(exc: BaseException, topics: list[str]) -> None:
    """A batch the stages could not confirm must not be committed, and nothing after it may be: exit now.

    On restart the batch is consumed again and the sink's offset high-water drops what was already stored.
    """
    log.critical("batch from %s not confirmed (%r): exiting without commit", topics, exc)
    logging.shutdown()
    os._exit(EXIT_UNCONFIRMED_BATCH)


def _size(messages: list[Any]) -> int:
    """Bytes of the messages' values (error notices have none)."""
    return sum(len(message.value() or b"") for message in messages)


def _raw_message(message: Any) -> RawMessage:
    _kind, timestamp_ms = message.timestamp()
    return RawMessage(
        topic=message.topic(),
        partition=message.partition(),
        offset=message.offset(),
        value=message.value(),
        key=message.key(),
        headers=list(message.headers() or ()),
        timestamp_ms=max(int(timestamp_ms), 0),
    )
