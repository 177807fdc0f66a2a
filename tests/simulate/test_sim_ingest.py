"""Everything the simulator sends is accepted by the real ingest; the only rejections are its deliberate duplicates."""

from __future__ import annotations

from collections import Counter
from typing import Any

from gridmon.ingest import IngestProcessor, RawMessage
from gridmon.records import KINDS
from gridmon.settings import load_settings
from gridmon.simulate import Rates, Simulator


def test_every_message_passes_the_ingest_decoder_and_validation(grid_model: Any, run_start_ns: int) -> None:
    simulator = Simulator(
        grid_model, "mixed", seed=4, start_ns=run_start_ns, duration_s=300.0, rates=Rates(meter_interval_s=30)
    )
    settings = load_settings(data_dir="/nonexistent")
    processors = {kind: IngestProcessor(kind, settings, grid_model) for kind in KINDS}
    offsets: Counter[str] = Counter()
    accepted: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    now_ns = simulator.end_ns + 60 * 1_000_000_000
    for batch in simulator.batches():
        by_kind: dict[str, list[RawMessage]] = {}
        for topic, key, value in batch.messages:
            kind = topic.rpartition(".")[2]
            by_kind.setdefault(kind, []).append(RawMessage(topic, 0, offsets[kind], value, key))
            offsets[kind] += 1
        for kind, messages in by_kind.items():
            result = processors[kind].process(messages, now_ns=now_ns)
            accepted[kind] += result.accepted
            rejected.update(letter.reason for letter in result.dead_letters)
    assert set(rejected) <= {"duplicate"}
    assert rejected["duplicate"] == simulator.stats["duplicate_readings"] > 0
    for kind in KINDS:
        sent = simulator.stats[f"{kind}_readings"]
        assert sent > 0
        assert accepted[kind] <= sent
    assert sum(accepted.values()) + rejected["duplicate"] == sum(
        simulator.stats[f"{k}_readings"] for k in KINDS
    )
