"""At-risk warnings: repeated operations of one device within hours warn once, naming that device; sags and
collapses seen inside an outage, one recloser sequence, or operations hours apart do not."""

from __future__ import annotations

from outage_fields import SECOND, T0, Field

from gridmon.grid import GridModel
from gridmon.outages import OutageCorrelator
from gridmon.records import Anomaly, OutageEvent

HOUR = 3600 * SECOND


def _run(correlator: OutageCorrelator, batches: list[list[OutageEvent]], end_ns: int) -> list[Anomaly]:
    warnings: list[Anomaly] = []
    for events in batches:
        correlator.process(sorted(events, key=lambda e: e.ts))
        warnings += correlator.at_risk()
    correlator.flush(end_ns)
    return warnings + correlator.at_risk()


def _voltage(model: GridModel, device: str, ts: int, event: str) -> OutageEvent:
    source = "pmu" if model.kind_of(device) == "pmu" else "sensor"
    return OutageEvent(feeder=model.feeder_of(device), device=device, ts=ts, source=source, event=event)  # type: ignore[arg-type]


def _tick(field: Field, ts: int) -> list[OutageEvent]:
    """Event time moves on: a meter far away answers a ping."""
    return [field.meter(field.model.devices_of_kind("meter")[-1], ts, "ping_ok")]


def _recloser_cycle(field: Field, recloser: str, ts: int) -> list[OutageEvent]:
    return [field.scada(recloser, ts, "trip"), field.scada(recloser, ts + 5 * SECOND, "reclose")]


def test_repeated_recloser_momentaries_warn_once_after_the_third(model: GridModel, field: Field) -> None:
    recloser = model.devices_of_kind("recloser")[0]
    batches = []
    for n in range(4):
        batches += [
            _recloser_cycle(field, recloser, T0 + n * HOUR),
            _tick(field, T0 + n * HOUR + 600 * SECOND),
        ]
    warnings = _run(OutageCorrelator(model), batches, T0 + 5 * HOUR)
    assert [(w.device, w.detector, w.value, w.start_ns) for w in warnings] == [(recloser, "at_risk", 3.0, T0)]


def test_one_recloser_sequence_is_one_operation(model: GridModel, field: Field) -> None:
    recloser = model.devices_of_kind("recloser")[0]
    # trip, reclose, trip, reclose, trip, reclose within a minute: a single disturbance, not three
    sequence = [e for n in range(3) for e in _recloser_cycle(field, recloser, T0 + n * 15 * SECOND)]
    assert _run(OutageCorrelator(model), [sequence], T0 + HOUR) == []


def test_operations_hours_apart_do_not_warn(model: GridModel, field: Field) -> None:
    recloser = model.devices_of_kind("recloser")[0]
    batches = [_recloser_cycle(field, recloser, T0 + n * 4 * HOUR) for n in range(3)]  # window is 6 h
    assert _run(OutageCorrelator(model), batches, T0 + 9 * HOUR) == []


def test_a_sustained_outage_of_the_device_replaces_its_warning(model: GridModel, field: Field) -> None:
    recloser = model.devices_of_kind("recloser")[0]
    batches = [_recloser_cycle(field, recloser, T0 + n * HOUR) for n in range(2)]
    lockout = T0 + 2 * HOUR
    batches.append(
        [field.scada(recloser, lockout, "trip"), field.scada(recloser, lockout + SECOND, "lockout")]
    )
    batches.append([field.scada(recloser, lockout + 20 * 60 * SECOND, "close")])
    correlator = OutageCorrelator(model)
    assert _run(correlator, batches, lockout + HOUR) == []  # the third operation was the outage itself
    # after repair it counts afresh: two more momentaries are not yet three
    more = [_recloser_cycle(field, recloser, lockout + n * HOUR) for n in (2, 3)]
    assert _run(correlator, more, lockout + 4 * HOUR) == []


def test_repeated_momentaries_of_a_transformer_warn_on_the_transformer(
    model: GridModel, field: Field
) -> None:
    transformer = next(t for t in model.devices_of_kind("transformer") if len(model.meters_below(t)) >= 3)
    batches = []
    for n in range(3):
        ts = T0 + n * HOUR
        batches.append(field.gasps(transformer, ts))
        batches.append(field.restored(transformer, ts + 40 * SECOND))
        batches.append([field.meter(model.meters_below(transformer)[0], ts + 10 * 60 * SECOND, "ping_ok")])
    warnings = _run(OutageCorrelator(model), batches, T0 + 4 * HOUR)
    assert [(w.device, w.value) for w in warnings] == [(transformer, 3.0)]


def test_sags_seen_together_warn_on_the_narrowest_equipment_above_them(model: GridModel) -> None:
    feeder = "S01F4"
    breaker = f"{feeder}-BRK"
    seeing = [
        d for d in model.devices_of_kind("sensor") + model.devices_of_kind("pmu") if d.startswith(feeder)
    ]
    assert len(seeing) >= 3
    batches = []
    for n in range(3):
        ts = T0 + n * HOUR
        batches.append([_voltage(model, d, ts + k * 100_000_000, "sag") for k, d in enumerate(seeing)])
    batches.append([_voltage(model, seeing[0], T0 + 3 * HOUR, "sag")])  # moves event time on
    warnings = _run(OutageCorrelator(model), batches, T0 + 4 * HOUR)
    assert [(w.device, w.value) for w in warnings] == [(breaker, 3.0)]


def test_sensors_below_a_tripped_breaker_raise_no_warning(model: GridModel, field: Field) -> None:
    breaker = "S01F4-BRK"
    sensors = [d for d in model.devices_of_kind("sensor") if breaker in model.upstream(d)]
    correlator = OutageCorrelator(model)
    batches = []
    for n in range(3):  # each outage: a sag as the voltage falls, a collapse, sags while it comes back
        ts = T0 + n * 2 * HOUR
        events = [field.scada(breaker, ts, "trip"), field.scada(breaker, ts + SECOND, "lockout")]
        events += field.gasps(breaker, ts, loss=0.2)
        for k, sensor in enumerate(sensors):
            events.append(_voltage(model, sensor, ts - 200_000_000 + k * 1000, "sag"))
            events.append(_voltage(model, sensor, ts + 300_000_000, "collapse"))
        batches.append(events)
        close = ts + 10 * 60 * SECOND
        batches.append(
            [field.scada(breaker, close, "close")]
            + [_voltage(model, s, close + 2 * SECOND + k * SECOND, "sag") for k, s in enumerate(sensors)]
        )
        batches.append(field.restored(breaker, close + 5 * SECOND))
    warnings = _run(correlator, batches, T0 + 7 * HOUR)
    assert warnings == []
