"""The Faust application of a worker: its life cycle and web views, with the batch consumer as a service.

The input topics are not Faust agents: Faust's per-message stream path is ~30× slower than a batch consumer
on the same broker (docs/performance.md). `BatchConsumer` fetches batches for every input topic, hands each
topic's part to its stage, and commits offsets only after the stage confirmed ClickHouse and the output
topics (at-least-once; the sink makes rows exactly-once).
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from gridmon.kafka.clients import faust_broker_options
from gridmon.pipeline.consumer import BatchConsumer, BatchHandler
from gridmon.settings import Settings

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    bootstrap: str,
    handlers: dict[str, BatchHandler],
    *,
    app_id: str = "gridmon",
    batch_max_messages: int | None = None,
    batch_window_s: float | None = None,
    web_port: int | None = None,
) -> tuple[faust.App, BatchConsumer]:
    """A Faust app whose batch consumer feeds `handlers` (catalog topic name → stage handler).

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
        consumer_auto_offset_reset="earliest",
        producer_compression_type="lz4",
        datadir=str(settings.data_dir / "faust"),
    )
    # Faust's own Kafka clients would join the group with its assignor (and conflict with ours); the worker
    # has no Faust agents or tables to feed, so they stay off: Faust runs the services and web views.
    app.boot_strategy = app.BootStrategy(app, enable_kafka=False)
    consumer = BatchConsumer(
        settings,
        bootstrap,
        {settings.topic(name): handler for name, handler in handlers.items()},
        group_id=settings.topic(app_id),
        max_messages=batch_max_messages,
        window_s=batch_window_s,
    )
    app.add_dependency(consumer)

    @app.page("/gridmon/consumer/")
    async def consumer_view(web: Any, _request: Any) -> Any:
        return web.json(consumer.describe())

    return app, consumer
