"""MQTT adapter end to end: a real amqtt broker (password auth, TLS) → adapter → gridmon topics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from adapter_landing import CountingPublisher, land_in_clickhouse, reconcile
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import SecretStr

from gridmon.adapters import AdapterHealth, EnvelopePublisher, parse_mapping, run_adapter
from gridmon.adapters.base import Backoff
from gridmon.adapters.mapping import MqttTopicMapping
from gridmon.adapters.mqtt import MqttAdapter, MqttSettings, TopicRoute
from gridmon.ingest import IngestProcessor
from gridmon.ingest.validate import SetRegistry
from gridmon.kafka.embedded import free_loopback_port
from gridmon.settings import Settings

TopicReader = Callable[..., list[Any]]
USER, PASSWORD = "headend", "s3cret-pass"
MAPPING = """
[mqtt]
source = "headend-1"
[[mqtt.topics]]
pattern = "ami/{meter}/reading"
kind = "meter"
device = "mtr-{meter}"
[[mqtt.topics]]
pattern = "sensors/{id}/spb"
kind = "sensor"
device = "{id}"
payload = "sparkplug-json"
[[mqtt.topics]]
pattern = "scada/{device}/status"
kind = "scada"
device = "{device}"
"""


def _tls_files(folder: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def _start_broker(folder: Path, port: int, tls_port: int) -> Any:
    from amqtt.broker import Broker

    cert, key = _tls_files(folder)
    passwords = folder / "passwd"
    passwords.write_text(f"{USER}:{Argon2Hasher().hash(PASSWORD)}\n")
    broker = Broker(
        {
            "listeners": {
                "default": {"type": "tcp", "bind": f"127.0.0.1:{port}"},
                "tls": {
                    "type": "tcp",
                    "bind": f"127.0.0.1:{tls_port}",
                    "ssl": True,
                    "certfile": str(cert),
                    "keyfile": str(key),
                },
            },
            "plugins": {"amqtt.plugins.authentication.FileAuthPlugin": {"password_file": str(passwords)}},
        }
    )
    await broker.start()
    return broker


async def _until(condition: Callable[[], bool], health: AdapterHealth, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached in time; health: {health}")
        await asyncio.sleep(0.02)


async def _publish(
    port: int, messages: list[tuple[str, Any]], tls_ca: Path | None = None, pause_s: float = 0.0
) -> None:
    import ssl

    context = ssl.create_default_context(cafile=str(tls_ca)) if tls_ca else None
    async with aiomqtt.Client(
        "127.0.0.1", port, username=USER, password=PASSWORD, tls_context=context
    ) as client:
        for topic, payload in messages:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            await client.publish(topic, body, qos=1)
            if pause_s:
                await asyncio.sleep(pause_s)


async def _scenario(
    settings: Settings,
    producer: Any,
    folder: Path,
    body: Callable[[int, int, AdapterHealth, Any], Awaitable[None]],
) -> CountingPublisher:
    port, tls_port = free_loopback_port(), free_loopback_port()
    broker = await _start_broker(folder, port, tls_port)
    mqtt = MqttSettings(
        host="127.0.0.1", port=tls_port, username=USER, password=SecretStr(PASSWORD), tls_ca=folder / "cert.pem",
        client_id=f"gridmon-test-{port}",
    )  # fmt: skip
    adapter = MqttAdapter(mqtt, parse_mapping(MAPPING).mqtt, max_batch_delay_s=0.05)
    health = AdapterHealth(adapter="mqtt-test", endpoint=adapter.endpoint)
    stop = asyncio.Event()
    publisher = CountingPublisher(settings, producer, health)
    task = asyncio.create_task(run_adapter(adapter, publisher, stop, backoff=Backoff(0.05, 0.3)))
    try:
        await _until(lambda: health.state == "connected", health)
        await asyncio.sleep(0.2)  # the subscription is acknowledged just after the CONNACK
        await body(port, tls_port, health, broker)
    finally:
        stop.set()
        await task
        await broker.shutdown()
    return publisher


def test_topic_patterns_name_devices() -> None:
    route = TopicRoute.compile(
        MqttTopicMapping(pattern="ami/{meter}/+/reading", kind="meter", device="m-{meter}")
    )
    assert route.subscription == "ami/+/+/reading"
    assert route.device("ami/42/x/reading") == "m-42"
    assert route.device("ami/42/reading") is None


def test_meter_and_sensor_messages_over_tls_reach_kafka(
    topics: Settings, producer: Any, read_topic: TopicReader, tmp_path: Path
) -> None:
    now_ns = time.time_ns()
    meters = [
        (f"ami/{i:04d}/reading", {"ts": now_ns + i, "kwh": 1.5 + i, "voltage_v": 239.0, "interval_s": 900})
        for i in range(40)
    ]
    batch = (
        "ami/0100/reading",
        [{"ts": now_ns, "event": "last_gasp"}, {"ts": now_ns + 1, "event": "power_restored"}],
    )
    spb = (
        "sensors/xfmr-7/spb",
        {
            "timestamp": now_ns // 1_000_000,
            "metrics": [{"name": "temperature_c", "value": 61.5}, {"name": "current_a", "value": 88.0}],
        },
    )
    bad = [
        ("ami/0200/reading", b"{not json"),
        ("ami/0201/reading", {"ts": now_ns, "kwh": -5}),  # negative energy: schema
        ("unknown/topic", {"ts": now_ns}),  # no pattern matches: unmapped
    ]

    async def body(port: int, tls_port: int, health: AdapterHealth, broker: Any) -> None:
        await _publish(tls_port, [*meters, batch, spb, *bad], tls_ca=tmp_path / "cert.pem")
        await _until(
            lambda: health.readings_published >= 43 and sum(health.dead_letters.values()) >= 2, health
        )

    health = asyncio.run(_scenario(topics, producer, tmp_path, body)).health
    assert health.readings_published == 43 and health.dead_letters == {"not_json": 1, "schema": 1}
    envelopes = read_topic("grid.meter", until=lambda got: sum(len(e["readings"]) for e in got) >= 42)
    readings = [r for e in envelopes for r in e["readings"]]
    assert len(readings) == 42 and {e["source"] for e in envelopes} == {"headend-1"}
    assert {r["device"] for r in readings} == {f"mtr-{i:04d}" for i in range(40)} | {"mtr-0100"}
    assert sorted(r["event"] for r in readings if r["device"] == "mtr-0100") == [
        "last_gasp",
        "power_restored",
    ]
    sensors = read_topic("grid.sensor", until=lambda got: len(got) >= 1)
    assert sensors[0]["readings"][0] | {"ts": 0} == {
        "device": "xfmr-7", "ts": 0, "temperature_c": 61.5, "current_a": 88.0, "voltage_v": None, "thd_pct": None,
    }  # fmt: skip
    messages = read_topic("grid.meter", until=lambda got: len(got) >= len(envelopes), raw=True)
    registry = SetRegistry([f"mtr-{i:04d}" for i in range(101)])
    batch = IngestProcessor("meter", topics, registry).process(messages)
    assert batch.dead_letter_counts() == {} and batch.accepted == 42  # the lead's ingest accepts them all
    letters = read_topic("grid.deadletter", until=lambda got: len(got) >= 2)
    assert {d.reason for d in letters} == {"not_json", "schema"}
    assert {d.device for d in letters} == {"mtr-0200", "mtr-0201"}


def test_wrong_password_is_reported_and_retried(topics: Settings, producer: Any, tmp_path: Path) -> None:
    async def run() -> AdapterHealth:
        port = free_loopback_port()
        broker = await _start_broker(tmp_path, port, free_loopback_port())
        mqtt = MqttSettings(host="127.0.0.1", port=port, username=USER, password=SecretStr("wrong"))
        adapter = MqttAdapter(mqtt, parse_mapping(MAPPING).mqtt)
        health = AdapterHealth(adapter="mqtt-test", endpoint=adapter.endpoint)
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_adapter(
                adapter, EnvelopePublisher(topics, producer, health), stop, backoff=Backoff(0.05, 0.1)
            )
        )
        await _until(lambda: health.reconnects >= 2, health)
        stop.set()
        await task
        await broker.shutdown()
        return health

    health = asyncio.run(run())
    assert health.state == "stopped" and "refused" in health.last_error and "wrong" not in health.last_error


def test_messages_land_in_clickhouse_with_counts_reconciled(
    topics: Settings, producer: Any, read_topic: TopicReader, tmp_path: Path
) -> None:
    now_ns = time.time_ns()
    meters = [
        (f"ami/{i:04d}/reading", {"ts": now_ns + i, "kwh": 1.0 + i, "voltage_v": 239.0}) for i in range(30)
    ]
    sensors = [
        (
            f"sensors/xfmr-{n}/spb",
            {"timestamp": now_ns // 1_000_000, "metrics": [{"name": "temperature_c", "value": 60.0 + n}]},
        )
        for n in (7, 8)
    ]
    scada = [
        ("scada/brk-1/status", {"ts": now_ns, "event": "open", "point": "52a", "value": 0, "phase": "ABC"}),
        (
            "scada/brk-1/status",
            {"ts": now_ns + 1, "event": "close", "point": "52a", "value": 1, "phase": "ABC"},
        ),
    ]
    bad = [("ami/0200/reading", b"{not json"), ("ami/0201/reading", {"ts": now_ns, "kwh": -5})]
    # the grid model lacks mtr-0029: the adapter maps it, the ingest dead-letters it (unknown_device)
    devices = [f"mtr-{i:04d}" for i in range(29)] + ["xfmr-7", "xfmr-8", "brk-1"]

    async def body(port: int, tls_port: int, health: AdapterHealth, broker: Any) -> None:
        await _publish(tls_port, [*meters, *sensors, *scada, *bad], tls_ca=tmp_path / "cert.pem")
        await _until(
            lambda: health.readings_published >= 34 and sum(health.dead_letters.values()) >= 2, health
        )

    publisher, landing = asyncio.run(
        land_in_clickhouse(
            topics, ["meter", "sensor", "scada"], devices, _scenario(topics, producer, tmp_path, body)
        )
    )
    assert publisher.readings == {"meter": 30, "sensor": 2, "scada": 2}
    assert publisher.letters == {"not_json": 1, "schema": 1}
    rejected = reconcile(publisher, landing, read_topic)
    assert landing.rows == {"meter_events": 29, "sensor_readings": 2, "scada_events": 2}
    assert [(d.reason, d.device) for d in rejected] == [("unknown_device", "mtr-0029")]
    client = landing.client
    assert client.query("SELECT sum(kwh), uniqExact(device) FROM meter_events").result_rows[0] == (
        sum(1.0 + i for i in range(29)),
        29,
    )
    assert client.query("SELECT device, temperature_c FROM sensor_readings ORDER BY device").result_rows == [
        ("xfmr-7", 67.0),
        ("xfmr-8", 68.0),
    ]
    assert client.query("SELECT event, point, phase FROM scada_events ORDER BY ts").result_rows == [
        ("open", "52a", "ABC"),
        ("close", "52a", "ABC"),
    ]


@contextlib.contextmanager
def _mosquitto(folder: Path, port: int) -> Iterator[None]:
    """Debian's mosquitto (an MQTT 5 broker) on loopback: one listener, a password file, no anonymous login."""
    binary = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
    passwd_tool = shutil.which("mosquitto_passwd") or shutil.which("mosquitto_passwd", path="/usr/sbin:/sbin")
    if binary is None or passwd_tool is None:
        pytest.fail(
            "mosquitto (MQTT 5 broker) not found: install Debian's package: apt-get install -y mosquitto"
        )
    passwords, config, log_path = (
        folder / "mosquitto.passwd",
        folder / "mosquitto.conf",
        folder / "mosquitto.log",
    )
    subprocess.run([passwd_tool, "-b", "-c", str(passwords), USER, PASSWORD], check=True, capture_output=True)
    # as root, mosquitto drops to user `mosquitto`, who cannot read the test's private folder: stay ourselves
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwords}\npersistence false\n"
        f"user {pwd.getpwuid(os.getuid()).pw_name}\nlog_dest stderr\n"
    )
    with log_path.open("ab") as log:
        process = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.02)
        yield
    finally:
        process.terminate()
        process.wait(10)


async def _publish_v5(port: int, messages: list[tuple[str, Any]]) -> None:
    async with aiomqtt.Client(
        "127.0.0.1", port, username=USER, password=PASSWORD, protocol=aiomqtt.ProtocolVersion.V5
    ) as client:
        for topic, payload in messages:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            await client.publish(topic, body, qos=1)


def test_mqtt5_on_mosquitto_lands_in_clickhouse_and_keeps_the_backlog(
    topics: Settings, producer: Any, read_topic: TopicReader, tmp_path: Path
) -> None:
    """MQTT 5 end to end against mosquitto; the adapter is restarted and gets what was published meanwhile."""
    now_ns, port = time.time_ns(), free_loopback_port()
    online = [
        (f"ami/{i:04d}/reading", {"ts": now_ns + i, "kwh": 2.0 + i, "voltage_v": 240.0}) for i in range(10)
    ]
    online += [
        ("sensors/xfmr-9/spb", {"timestamp": now_ns // 1_000_000, "metrics": [{"name": "current_a", "value": 42.0}]}),
        ("scada/brk-2/status", {"ts": now_ns, "event": "open", "point": "52a", "value": 0, "phase": "ABC"}),
        ("ami/0300/reading", b"{not json"),
    ]  # fmt: skip
    # published while the adapter is down: the broker must keep them for its persistent session
    offline = [
        (f"ami/{i:04d}/reading", {"ts": now_ns + i, "kwh": 2.0 + i, "voltage_v": 240.0})
        for i in range(10, 15)
    ]
    offline += [("ami/0301/reading", {"ts": now_ns, "kwh": -1})]
    devices = [f"mtr-{i:04d}" for i in range(14)] + ["xfmr-9", "brk-2"]  # not mtr-0014: unknown_device

    async def run_once(publisher: CountingPublisher, messages: list[tuple[str, Any]], wanted: int) -> None:
        mqtt = MqttSettings(
            host="127.0.0.1", port=port, username=USER, password=SecretStr(PASSWORD), protocol=5,
            client_id=f"gridmon-v5-{port}",
        )  # fmt: skip
        adapter = MqttAdapter(mqtt, parse_mapping(MAPPING).mqtt, max_batch_delay_s=0.05)
        health, stop = publisher.health, asyncio.Event()
        task = asyncio.create_task(run_adapter(adapter, publisher, stop, backoff=Backoff(0.05, 0.3)))
        try:
            await _until(lambda: health.state == "connected", health)
            await asyncio.sleep(0.2)  # the subscription is acknowledged just after the CONNACK
            await _publish_v5(port, messages)
            await _until(
                lambda: health.readings_published + sum(health.dead_letters.values()) >= wanted, health
            )
        finally:
            stop.set()
            await task

    async def field_session() -> CountingPublisher:
        health = AdapterHealth(adapter="mqtt5-test", endpoint=f"mqtt://127.0.0.1:{port}")
        publisher = CountingPublisher(topics, producer, health)
        await run_once(publisher, online, 13)
        await _publish_v5(port, offline)
        await run_once(publisher, [], 19)
        return publisher

    with _mosquitto(tmp_path, port):
        publisher, landing = asyncio.run(
            land_in_clickhouse(topics, ["meter", "sensor", "scada"], devices, field_session())
        )
    assert publisher.readings == {"meter": 15, "sensor": 1, "scada": 1}
    assert publisher.letters == {"not_json": 1, "schema": 1}
    rejected = reconcile(publisher, landing, read_topic)
    assert landing.rows == {"meter_events": 14, "sensor_readings": 1, "scada_events": 1}
    assert [(d.reason, d.device) for d in rejected] == [("unknown_device", "mtr-0014")]
    assert landing.client.query("SELECT sum(kwh) FROM meter_events").result_rows[0][0] == sum(
        2.0 + i for i in range(14)
    )


def test_no_message_is_lost_when_batch_timeouts_race_arrivals(
    topics: Settings, producer: Any, tmp_path: Path
) -> None:
    """A batch timeout firing as a message arrives must not drop that message (aiomqtt's read is not
    cancellation-safe): messages 1 ms apart against a 1 ms batch window race a timeout again and again."""
    count = 1000

    async def run() -> AdapterHealth:
        port = free_loopback_port()
        broker = await _start_broker(tmp_path, port, free_loopback_port())
        mqtt = MqttSettings(
            host="127.0.0.1", port=port, username=USER, password=SecretStr(PASSWORD), client_id=f"race-{port}"
        )
        adapter = MqttAdapter(mqtt, parse_mapping(MAPPING).mqtt, max_batch_delay_s=0.001, batch_size=100_000)
        health = AdapterHealth(adapter="mqtt-race", endpoint=adapter.endpoint)
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_adapter(
                adapter, EnvelopePublisher(topics, producer, health), stop, backoff=Backoff(0.05, 0.3)
            )
        )
        try:
            await _until(lambda: health.state == "connected", health)
            await asyncio.sleep(0.2)  # the subscription is acknowledged just after the CONNACK
            stall = asyncio.create_task(_stall_the_loop())  # a loaded machine: timers expire beside arrivals
            now_ns = time.time_ns()
            await _publish(
                port,
                [(f"ami/{i:05d}/reading", {"ts": now_ns + i, "kwh": 1.0}) for i in range(count)],
                pause_s=0.001,
            )
            with contextlib.suppress(AssertionError):
                await _until(lambda: health.readings_published >= count, health, timeout_s=20)
            stall.cancel()
        finally:
            stop.set()
            await task
            await broker.shutdown()
        return health

    health = asyncio.run(run())
    assert health.readings_published == count, health


async def _stall_the_loop() -> None:
    """What a descheduled process sees: nothing runs for a while, then I/O and expired timers at once."""
    while True:
        time.sleep(0.003)
        await asyncio.sleep(0.001)
