"""The bank end to end: outage suppression, state surviving a restart, out-of-order input, replayable ids,
zone grouping and operator feedback."""

from __future__ import annotations

import numpy as np
import pytest
from detect_synthetic import T0, pmu_seconds, run

from gridmon.errors import ConfigError


def sag_on(device: int, start: float, end: float):  # type: ignore[no-untyped-def]
    def shape(columns, t):  # type: ignore[no-untyped-def]
        hit = (columns["device_idx"] == device) & (t >= start) & (t < end)
        for phase in ("va", "vb", "vc"):
            columns[phase][hit] *= 0.85

    return shape


def test_anomaly_inside_an_active_outage_is_suppressed_as_its_child(make_bank) -> None:  # type: ignore[no-untyped-def]
    bank = make_bank(4)
    bank.outage_of = {"dev1": "outage-7"}
    anomalies = run(bank, pmu_seconds(4, 30, shape=sag_on(1, 10, 15)))
    opened = [a for a in anomalies if a.version == 1]
    assert opened and all(a.state == "suppressed" and a.parent_outage == "outage-7" for a in opened)
    assert all(a.state in ("suppressed", "closed") for a in anomalies)


def test_restart_keeps_baselines_and_does_not_reraise_open_anomalies(make_bank) -> None:  # type: ignore[no-untyped-def]
    shape = sag_on(2, 20, 40)
    batches = list(pmu_seconds(3, 50, shape=shape))
    first = make_bank(3)
    before = run(first, iter(batches[:30]))
    assert {a.metric for a in before if a.state == "open"} >= {"va_pu", "va"}
    restarted = make_bank(3)
    restarted.restore(first.snapshot())
    after = run(restarted, iter(batches[30:]))
    # nothing re-raised: the only new anomaly is the step back up when the sag ends (a new event)
    fresh = [a for a in after if a.version == 1]
    assert all(a.metric.endswith("_step") and (a.start_ns - T0) / 1e9 >= 40.0 for a in fresh), [
        (a.metric, a.detector, (a.start_ns - T0) / 1e9) for a in fresh
    ]
    closing = {a.id for a in after} - {a.id for a in fresh}
    assert closing <= {a.id for a in before}  # the same anomalies close
    assert all(a.state == "closed" for a in {a.id: a for a in after}.values())  # newest versions
    warm = restarted.baseline.state("va")
    assert (warm.get("count", np.arange(3)) > 1000).all()  # baselines survived: no second warm-up


def test_snapshot_from_another_grid_model_is_refused(make_bank) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="grid model changed"):
        make_bank(5).restore(make_bank(3).snapshot())


def test_shuffled_batches_give_the_same_anomalies_and_replay_gives_the_same_ids(make_bank) -> None:  # type: ignore[no-untyped-def]
    batches = list(pmu_seconds(3, 30, shape=sag_on(0, 10, 14)))
    rng = np.random.default_rng(5)
    shuffled = []
    for columns in batches:
        order = rng.permutation(len(columns["ts"]))
        shuffled.append({k: v[order] for k, v in columns.items()})
    ordered = [
        (a.id, a.version, a.state) for a in run(make_bank(3), iter(batches)) if a.detector != "quality"
    ]
    mixed = [(a.id, a.version, a.state) for a in run(make_bank(3), iter(shuffled)) if a.detector != "quality"]
    assert ordered and ordered == mixed


def test_related_anomalies_in_a_zone_share_a_group(make_bank) -> None:  # type: ignore[no-untyped-def]
    def both(columns, t):  # type: ignore[no-untyped-def]
        sag_on(0, 10, 14)(columns, t)
        sag_on(2, 11, 14)(columns, t)  # same zone (even indexes)
        sag_on(1, 30, 33)(columns, t)  # other zone

    anomalies = [a for a in run(make_bank(4), pmu_seconds(4, 40, shape=both)) if a.version == 1]
    groups = {a.device: a.group for a in anomalies if a.metric == "va_pu"}
    assert groups["dev0"] == groups["dev2"] != groups["dev1"]


def test_false_alarm_label_makes_that_device_less_sensitive(make_bank) -> None:  # type: ignore[no-untyped-def]
    def bumps(columns, t):  # type: ignore[no-untyped-def]
        dev = columns["device_idx"]
        for start in (20, 40):
            columns["freq_hz"][(dev < 2) & (t >= start) & (t < start + 2)] += 0.035

    batches = list(pmu_seconds(2, 60, shape=bumps))
    plain = make_bank(2)
    baseline = [a for a in run(plain, iter(batches[:30])) if a.detector == "baseline"]
    assert {a.device for a in baseline} == {"dev0", "dev1"}
    first_dev0 = next(a.id for a in baseline if a.device == "dev0")
    assert plain.label(first_dev0, "false_alarm")
    assert not plain.label("no-such-id", "confirmed")
    later = [a for a in run(plain, iter(batches[30:])) if a.detector == "baseline" and a.version == 1]
    assert {a.device for a in later} == {"dev1"}  # the labelled device no longer alarms on the same bump


def test_training_on_history_learns_baselines_without_raising(make_bank) -> None:  # type: ignore[no-untyped-def]
    bank = make_bank(3)
    for columns in pmu_seconds(3, 20, shape=sag_on(1, 5, 15)):
        bank.train("pmu", columns)
    assert not any(channel.open for channel in bank.lifecycle.channels.values())
    assert (bank.baseline.state("va").get("count", np.arange(3)) >= 600).all()
    live = run(bank, pmu_seconds(3, 10, start_s=20))
    assert not [a for a in live if a.detector != "quality"]  # the sag ended in history: nothing to close live


def test_pmu_frames_flagged_data_invalid_are_not_measurements(make_bank) -> None:  # type: ignore[no-untyped-def]
    def dark(columns, t):  # type: ignore[no-untyped-def]
        columns["status"] = np.zeros(len(t), dtype=np.int64)
        hit = (columns["device_idx"] == 1) & (t >= 10) & (t < 20)
        for phase in ("va", "vb", "vc"):
            columns[phase][hit] = 0.0
        columns["status"][hit] = 0x8000  # its location lost voltage: the outage correlator's business

    anomalies = run(make_bank(3), pmu_seconds(3, 30, shape=dark))
    assert [(a.device, a.metric) for a in anomalies] == []


def test_outage_located_after_the_anomaly_opened_suppresses_it_and_it_stays_suppressed(make_bank) -> None:  # type: ignore[no-untyped-def]
    bank = make_bank(4)
    outages: dict[str, str] = {}
    bank.outage_of = outages
    batches = list(pmu_seconds(4, 40, shape=sag_on(1, 10, 20)))
    before = run(bank, iter(batches[:12]))
    assert {a.state for a in before if a.device == "dev1"} == {"open"}  # no outage known yet: raised
    outages["dev1"] = "outage-3"  # the correlator locates it a few seconds later
    after = run(bank, iter(batches[12:]))
    latest = {a.id: a for a in before + after}
    dev1 = [a for a in latest.values() if a.device == "dev1"]
    assert dev1 and all(a.state == "suppressed" and a.parent_outage == "outage-3" for a in dev1)
    assert all(a.end_ns is not None for a in dev1)  # they ended, as children of the outage


def test_de_energised_readings_are_left_to_the_outage_correlator(make_bank) -> None:  # type: ignore[no-untyped-def]
    def collapse(columns, t):  # type: ignore[no-untyped-def]
        hit = (columns["device_idx"] == 2) & (t >= 10) & (t < 25)
        for phase in ("va", "vb", "vc"):
            columns[phase][hit] = 0.0  # below 0.1 pu: an interruption (IEEE 1159), no "data invalid" flag

    bank = make_bank(3)
    assert run(bank, pmu_seconds(3, 40, shape=collapse)) == []
    va = bank.baseline.state("va")
    assert va.get("mean", 2) + va.get("shift", 2) > 7000.0  # 0 V not learned


def test_a_sag_deeper_than_critical_but_energised_is_still_raised(make_bank) -> None:  # type: ignore[no-untyped-def]
    def deep(columns, t):  # type: ignore[no-untyped-def]
        hit = (columns["device_idx"] == 0) & (t >= 10) & (t < 15)
        for phase in ("va", "vb", "vc"):
            columns[phase][hit] *= 0.5

    found = {(a.device, a.metric, a.severity) for a in run(make_bank(3), pmu_seconds(3, 30, shape=deep))}
    assert ("dev0", "va_pu", "critical") in found
