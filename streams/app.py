"""The Faust application: wires the input topics to the pipeline stages, nothing else.

Each agent takes batches of raw messages (`take_events`), hands them to its stage and returns only after the
stage confirmed ClickHouse and the output topics; Faust acknowledges the batch after that, so offsets are
committed only for work that is stored (at-least-once; the sink makes rows exactly-once).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust

from gridmon.ingest.messages import RawMessage
from gridmon.kafka.clients import faust_broker_options
from gridmon.settings import Settings

log = logging.getLogger(__name__)
BatchHandler = Callable[[Sequence[RawMessage]], Awaitable[Any]]
EXIT_UNCONFIRMED_BATCH = 75


def create_app(
    settings: Settings,
    bootstrap: str,
    handlers: dict[str, BatchHandler],
    *,
    app_id: str = "gridmon",
    batch_max_messages: int | None = None,
    batch_window_s: float | None = None,
    web_port: int | None = None,
) -> faust.App:
    """A Faust app with one batching agent per catalog topic in `handlers` (catalog name → stage handler).

    Batch size and window default to `GRIDMON_BATCH_MAX_MESSAGES` / `GRIDMON_BATCH_WINDOW_S`: every batch
    costs a few fixed-price ClickHouse inserts, so bigger batches are what buys throughput.
    """
    batch_max_messages = batch_max_messages or settings.batch_max_messages
    batch_window_s = batch_window_s or settings.batch_window_s
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.topic(app_id),
        **faust_broker_options(settings, bootstrap),
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=False,
        web_enabled=web_port is not None,
        web_port=web_port or settings.web_port,
        # Tansu (and small clusters) join groups slowly with Faust's 60 s defaults: startup would take 30 s.
        broker_rebalance_timeout=5,
        broker_session_timeout=10,
        broker_heartbeat_interval=1,
        broker_commit_every=batch_max_messages,
        broker_commit_interval=1.0,
        # the buffer between fetcher and agent must hold a full batch or `take_events` yields partial ones
        stream_buffer_maxsize=batch_max_messages * 2,
        consumer_auto_offset_reset="earliest",
        producer_compression_type="lz4",
        datadir=str(settings.data_dir / "faust"),
    )
    for catalog_name, handler in handlers.items():
        _add_batch_agent(app, settings.topic(catalog_name), handler, batch_max_messages, batch_window_s)
    return app


def _add_batch_agent(
    app: faust.App, topic_name: str, handler: BatchHandler, max_messages: int, window_s: float
) -> None:
    topic = app.topic(topic_name, value_serializer="raw", key_serializer="raw")

    async def agent(stream: Any) -> None:
        async for events in stream.take_events(max_messages, within=window_s):
            messages = [_raw_message(event) for event in events]
            await _handle_or_crash(handler, messages, topic_name)

    agent.__name__ = f"ingest_{topic_name.replace('.', '_').replace('-', '_')}"
    agent.__qualname__ = agent.__name__
    app.agent(topic, name=agent.__name__)(agent)


async def _handle_or_crash(handler: BatchHandler, messages: list[RawMessage], topic_name: str) -> None:
    """Run the stage; if it is cancelled or fails for good, leave without letting Faust ack the batch.

    Faust's `take_events` acknowledges a batch even when the agent body raises, which could commit offsets of
    rows ClickHouse never confirmed. Exiting the process at once keeps them uncommitted: on restart the batch
    is consumed again and the sink's offset high-water drops what was already stored.
    """
    try:
        await handler(messages)
    except (asyncio.CancelledError, Exception) as exc:
        log.critical("batch from %s not confirmed (%r): exiting without commit", topic_name, exc)
        logging.shutdown()
        os._exit(EXIT_UNCONFIRMED_BATCH)


def _raw_message(event: Any) -> RawMessage:
    message = event.message
    headers = [(name, value) for name, value in (message.headers or [])]
    return RawMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        value=message.value if isinstance(message.value, bytes | None) else event.value,
        key=message.key,
        headers=headers,
        timestamp_ms=int((message.timestamp or 0) * 1000),
    )
