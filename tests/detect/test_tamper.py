"""A meter's tamper event raises one data-quality anomaly that closes when the meter reports normally again."""

from __future__ import annotations

import numpy as np

from gridmon.detect.bank import DetectorBank
from gridmon.detect.config import BankConfig
from gridmon.detect.context import DeviceContext

S = 1_000_000_000
T0 = 1_790_000_000 * S


def meter_batch(events: list[str], start: int) -> dict[str, object]:
    n = len(events)
    return {
        "device_idx": np.zeros(n, dtype=np.int32),
        "ts": np.array([start + i * 60 * S for i in range(n)], dtype=np.int64),
        "event": events,
        "voltage_v": np.full(n, 240.0),
        "kwh": np.full(n, 0.3),
    }


def test_tamper_opens_one_anomaly_and_normal_reads_close_it() -> None:
    context = DeviceContext(["m-1", "m-2"], ["z1", "z1"], ["F1", "F1"], np.array([240.0, 240.0]))
    bank = DetectorBank(BankConfig(), context)
    quiet = bank.process("meter", meter_batch(["interval"] * 5, T0))
    assert not [a for a in quiet if a.metric == "tamper"], "no tamper, no anomaly"
    raised = bank.process("meter", meter_batch(["tamper", "tamper"], T0 + 5 * 60 * S))
    tamper = [a for a in raised if a.metric == "tamper"]
    assert len({a.id for a in tamper}) == 1 and tamper[-1].state == "open" and tamper[-1].severity == "major"
    closed = bank.process("meter", meter_batch(["interval"] * 5, T0 + 10 * 60 * S))
    assert [a.state for a in closed if a.metric == "tamper"][-1] == "closed"
