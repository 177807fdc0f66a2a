"""Privacy policy on real parts without a broker: the production key check, meter pseudonyms in records the
real outage correlator produces, and opted-out interval reads leaving a batch the real ingest produced."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import orjson
import pytest
from typer.testing import CliRunner

from gridmon.cli import _register_all
from gridmon.cli import app as cli_app
from gridmon.errors import ConfigError
from gridmon.grid import GridModel
from gridmon.grid.generate import generate
from gridmon.ingest import IngestProcessor, RawMessage
from gridmon.ingest.validate import SetRegistry
from gridmon.outages import OutageCorrelator
from gridmon.pipeline.runner import Components, build_pipeline
from gridmon.records import Anomaly, OutageEvent
from gridmon.security.privacy import (
    DEV_PSEUDONYM_KEY,
    OptOut,
    Privacy,
    pseudonym_key,
    read_opt_out_file,
)
from gridmon.security.pseudonym import pseudonymise
from gridmon.settings import get_settings, load_settings

SECOND = 1_000_000_000
KEY = "a-long-random-test-key-0123456789"
_register_all()


@pytest.fixture(scope="module")
def model() -> GridModel:
    return generate("small", seed=1)


# --- the key -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [("clickhouse_url", "http://clickhouse:8123"), ("kafka_bootstrap", "127.0.0.1:9092,kafka-2:9092")],
)
def test_the_development_key_is_refused_in_production(variable: str, value: str, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, **{variable: value})
    with pytest.raises(ConfigError, match="GRIDMON_PSEUDONYM_KEY") as caught:
        pseudonym_key(settings)
    assert f"GRIDMON_{variable.upper()}" in str(caught.value)
    with pytest.raises(ConfigError, match="at least 16"):
        pseudonym_key(load_settings(data_dir=tmp_path, pseudonym_key="short", **{variable: value}))
    assert (
        pseudonym_key(load_settings(data_dir=tmp_path, pseudonym_key=KEY, **{variable: value}))
        == KEY.encode()
    )


def test_the_worker_refuses_to_build_with_the_development_key(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, kafka_bootstrap="kafka-1:9092")
    with pytest.raises(ConfigError, match="GRIDMON_PSEUDONYM_KEY"):
        build_pipeline(settings, "kafka-1:9092", None, Components(registry=SetRegistry(["m"])))


def test_embedded_parts_keep_the_development_key(tmp_path: Path) -> None:
    """Unset endpoints, or the embedded broker on loopback (tests, `gridmon broker`), are not production."""
    for bootstrap in (None, "127.0.0.1:40000", "localhost:9092", "[::1]:9092"):
        settings = load_settings(data_dir=tmp_path, kafka_bootstrap=bootstrap)
        assert pseudonym_key(settings) == DEV_PSEUDONYM_KEY.encode()


def test_the_cli_refuses_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDMON_CLICKHOUSE_URL", "http://clickhouse:8123")
    monkeypatch.delenv("GRIDMON_PSEUDONYM_KEY", raising=False)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli_app, ["privacy", "pseudonym", "meter-1"])
        assert isinstance(result.exception, ConfigError) and "GRIDMON_PSEUDONYM_KEY" in str(result.exception)
        monkeypatch.setenv("GRIDMON_PSEUDONYM_KEY", KEY)
        get_settings.cache_clear()
        result = CliRunner().invoke(cli_app, ["privacy", "pseudonym", "meter-1"], terminal_width=200)
        assert result.exit_code == 0, result.output
        assert pseudonymise(KEY.encode(), ["meter-1"])[0] in result.output
    finally:
        get_settings.cache_clear()


# --- pseudonyms ----------------------------------------------------------------------------------------------


def privacy_for(model: GridModel, tmp_path: Path) -> Privacy:
    return Privacy.from_settings(load_settings(data_dir=tmp_path, pseudonym_key=KEY), model)


def test_outages_of_single_meters_carry_pseudonyms_and_keep_their_customers(
    model: GridModel, tmp_path: Path
) -> None:
    transformer = next(t for t in model.devices_of_kind("transformer") if len(model.meters_below(t)) >= 4)
    meter = next(
        m for m in model.devices_of_kind("meter") if model.feeder_of(m) != model.feeder_of(transformer)
    )
    t0 = 1_700_000_000 * SECOND
    events = [
        OutageEvent(feeder=model.feeder_of(meter), device=meter, ts=t0, source="ami", event="last_gasp")
    ]
    events += [
        OutageEvent(feeder=model.feeder_of(m), device=m, ts=t0 + SECOND, source="ami", event="last_gasp")
        for m in model.meters_below(transformer)
    ]
    correlator = OutageCorrelator(model)
    records = correlator.process(events) + correlator.flush(t0 + 60 * SECOND)
    privacy = privacy_for(model, tmp_path)
    private = privacy.outages(records)
    alias = pseudonymise(KEY.encode(), [meter])[0]
    individual = [o for o in private if o.scope == "individual"]
    street = [o for o in private if o.scope == "street"]
    assert individual and street
    assert {o.device for o in individual} == {alias}
    assert all(o.id.startswith(f"O-{alias}-") for o in individual)
    assert {o.customers for o in individual} == {model.customers_below(meter)}
    assert {(o.device, o.customers) for o in street} == {(transformer, model.customers_below(transformer))}
    meters = set(model.devices_of_kind("meter"))
    for record in private:  # no meter id anywhere in what leaves the worker
        assert not meters & set(_words(msgspec.json.encode(record)))
    assert privacy.pseudonyms.unsaved() == {"pseudonym": [alias], "device": [meter]}


def _words(encoded: bytes) -> list[str]:
    """Every string in a JSON record, and every word and dash-separated part of it."""
    strings: list[str] = []

    def walk(value: object) -> None:
        if isinstance(value, str):
            strings.append(value)
            strings.extend(value.split(" "))
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    walk(orjson.loads(encoded))
    parts = [part for text in strings for part in (text, *text.split("-"))]
    return parts + [text[2:].rpartition("-")[0] for text in strings if text.startswith("O-")]


def test_anomalies_of_meters_and_their_outage_references_are_pseudonymised(
    model: GridModel, tmp_path: Path
) -> None:
    meter, breaker = model.devices_of_kind("meter")[3], model.devices_of_kind("breaker")[0]
    alias = pseudonymise(KEY.encode(), [meter])[0]

    def anomaly(device: str, ident: str, parent: str | None) -> Anomaly:
        return Anomaly(id=ident, version=1, device=device, zone="z", feeder="f", metric="voltage_v",
                       detector="limits", category="grid", severity="major", state="open", start_ns=1,
                       score=1.0, value=150.0, parent_outage=parent)  # fmt: skip

    records = [
        anomaly(meter, "3fa0c2", f"O-{meter}-1700000000"),
        anomaly(meter, f"A-at_risk-{meter}-1700000000", None),
        anomaly(breaker, "77aa01", f"O-{breaker}-1700000000"),
    ]
    private = privacy_for(model, tmp_path).anomalies(records)
    assert [a.device for a in private] == [alias, alias, breaker]
    assert private[0].id == "3fa0c2" and private[0].parent_outage == f"O-{alias}-1700000000"
    assert private[1].id == f"A-at_risk-{alias}-1700000000"
    assert private[2] is records[2]  # nothing of a meter: the very same record


def test_pseudonyms_are_cheap_on_output_batches(model: GridModel, tmp_path: Path) -> None:
    """One HMAC per distinct meter, a vectorised kind lookup per batch: 10,000 anomalies well under 0.5 s."""
    meters = model.devices_of_kind("meter")
    records = [
        Anomaly(id=f"a{i}", version=1, device=meters[i % len(meters)], zone="z", feeder="f", metric="v",
                detector="d", category="grid", severity="info", state="open", start_ns=i, score=0.0, value=0.0)
        for i in range(10_000)
    ]  # fmt: skip
    privacy = privacy_for(model, tmp_path)
    started = time.perf_counter()
    private = privacy.anomalies(records)
    assert time.perf_counter() - started < 0.5
    assert {a.device for a in private} == set(pseudonymise(KEY.encode(), meters))


# --- opt-out -------------------------------------------------------------------------------------------------


def test_the_opt_out_file_is_read_with_comments_and_missing_files_named(tmp_path: Path) -> None:
    path = tmp_path / "opt-out.txt"
    path.write_text("# customers who opted out\nmeter-1\n\n  meter-2  # by letter\n")
    assert read_opt_out_file(path) == ["meter-1", "meter-2"]
    with pytest.raises(ConfigError, match="GRIDMON_OPT_OUT_FILE"):
        read_opt_out_file(tmp_path / "missing.txt")


def test_opted_out_interval_reads_leave_the_batch_and_their_events_stay(
    model: GridModel, tmp_path: Path
) -> None:
    meters = model.devices_of_kind("meter")[:4]
    now = time.time_ns()
    readings = [
        {
            "device": m,
            "ts": now - 60 * SECOND + i * SECOND,
            "event": "interval",
            "kwh": 0.2,
            "voltage_v": 240.0,
        }
        for i in range(3)
        for m in meters
    ]
    readings += [{"device": meters[0], "ts": now - 10 * SECOND, "event": "last_gasp"}]
    value = orjson.dumps({"readings": readings})
    settings = load_settings(data_dir=tmp_path)
    batch = IngestProcessor("meter", settings, model).process([RawMessage("grid.meter", 0, 7, value)])
    assert batch.accepted == 13
    kept, dropped = OptOut(model, [meters[0], meters[2], "not-a-meter"]).interval_reads("meter", batch)
    assert dropped == 6 and kept.accepted == 7
    assert all(len(column) == 7 for column in kept.columns.values())
    rows = list(zip(kept.columns["device"], kept.columns["event"], strict=True))
    assert (meters[0], "last_gasp") in rows
    assert {device for device, event in rows if event == "interval"} == {meters[1], meters[3]}
    assert OptOut(model, []).interval_reads("meter", batch) == (batch, 0)
    assert OptOut(model, [meters[0]]).interval_reads("pmu", batch)[1] == 0
