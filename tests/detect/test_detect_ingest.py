"""The bank on what the real ingest produces (`IngestBatch` with device ids, provenance and NaN columns)."""

from __future__ import annotations

import time

import msgspec
from detect_synthetic import fleet

from gridmon.detect import BankConfig, DetectorBank
from gridmon.ingest import IngestProcessor, RawMessage
from gridmon.ingest.validate import SetRegistry
from gridmon.records import Envelope, PmuReading, SensorReading
from gridmon.settings import load_settings


def messages(topic: str, envelopes: list[Envelope]) -> list[RawMessage]:  # type: ignore[type-arg]
    return [RawMessage(topic, 0, offset, msgspec.json.encode(e)) for offset, e in enumerate(envelopes)]


def test_bank_processes_ingest_batches_of_pmu_and_sensor_readings() -> None:
    context = fleet(3)
    bank = DetectorBank(BankConfig(), context)
    settings = load_settings()
    registry = SetRegistry(context.devices)
    pmu = IngestProcessor("pmu", settings, registry)
    sensor = IngestProcessor("sensor", settings, registry)
    start = time.time_ns() - 60 * 10**9
    anomalies = []
    for second in range(20):
        ts = [start + second * 10**9 + frame * 10**9 // 30 for frame in range(30)]
        sag = 0.8 if 10 <= second < 13 else 1.0
        readings = [
            PmuReading(device=device, ts=t, freq_hz=60.0, va=7200.0 * (sag if device == "dev1" else 1.0) + i % 3,
                       vb=7200.0 + i % 2, vc=7201.0)
            for device in context.devices for i, t in enumerate(ts)
        ]  # fmt: skip
        anomalies += bank.process("pmu", pmu.process(messages("grid.pmu", [Envelope(readings=readings)])))
    hot = [SensorReading(device="dev2", ts=start + i * 10**9, temperature_c=70.0 + 5 * i) for i in range(12)]
    anomalies += bank.process("sensor", sensor.process(messages("grid.sensor", [Envelope(readings=hot)])))
    found = {(a.device, a.detector, a.metric) for a in anomalies if a.version == 1}
    assert ("dev1", "limits", "va_pu") in found
    assert ("dev2", "limits", "temperature_c") in found
    assert bank.ignored_rows == 0
