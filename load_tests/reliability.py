"""Fault injection on the real pipeline: produce under load, break something, reconcile Kafka with ClickHouse.

Each scenario runs `gridmon`-style workers as child processes (embedded Tansu broker, embedded chdb), injects
a fault, waits until the consumer group has committed every input offset, then counts what ClickHouse holds:
lost = produced and neither stored nor dead-lettered; duplicated = stored more than once. This script plays
the supervisor (systemd `Restart=always`): a worker that exits is started again.

Faults: `kill -9` of a worker mid-batch; ClickHouse unavailable for 30 s and slow ClickHouse are injected at
the client boundary inside the worker (chdb has no server to stop: every query and insert raises the driver's
own `OperationalError`, or sleeps, so the sink's real retry/exit/restart path runs); poison messages at a high
rate; a broker restart (the embedded Tansu on s3:// storage served by moto in another process, or a real Kafka
with `GRIDMON_KAFKA_BOOTSTRAP` and `GRIDMON_RELIABILITY_BROKER_RESTART` = a shell command that restarts it).
Two workers with one killed run the real `gridmon worker` CLI twice on one consumer group, sharing one store
through `gridmon store serve` (chdb allows one process per folder; the front gives both workers the ClickHouse
server code path), so the killed worker's uncommitted batches meet the shared offset high-water. There the
devices are keyed by gateway (one partition each) and a street outage spans the kill: the survivor must adopt
the killed worker's detector state and open outages from its checkpoint and continue its alarms (same ids).

Run: `make reliability` or `.venv/bin/python -m load_tests.reliability [--messages 400] [--only kill9,poison]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # the orchestrator imports gridmon lazily
    from gridmon.grid import GridModel

REPO_ROOT = Path(__file__).resolve().parents[1]
FAULT_FILE_ENV = "GRIDMON_RELIABILITY_FAULT_FILE"
READINGS_PER_MESSAGE = 100
RAW_TABLES = {"pmu": "pmu_readings", "meter": "meter_events"}
WORKER_EXIT_UNCONFIRMED = 75
PARTITIONS = 4
GATEWAYS = {"pmu": 5, "meter": 8}  # keyed scenarios: devices behind one gateway share its key (one partition)
GATEWAY_STEP_NS = 10_000_000  # keyed scenarios: event time per reading (a message spans 1 s: outages open
# within seconds of the gasps, long before the kill at 30 % of the messages)
OUTAGE_FEEDERS = 4  # keyed scenarios: one street outage per feeder, from 10 % to 90 % of the messages
TAKEOVER_LINE = re.compile(r"takeover: worker (\S+) adopted (\w+) of worker (\S+): (\d+)")
FINAL_OUTAGE_STATES = ("restored", "momentary")


# --- the worker side (child process) ----------------------------------------------------------------------


class FaultyClient:
    """Wraps the real ClickHouse client; while the fault file says so, every call fails or is slow."""

    def __init__(self, client: Any, fault_file: Path) -> None:
        self._client = client
        self._fault_file = fault_file

    def _fault(self) -> None:
        try:
            fault = self._fault_file.read_text().strip()
        except OSError:
            return
        if fault == "down":
            from clickhouse_connect.driver.exceptions import OperationalError

            raise OperationalError("injected: ClickHouse is unavailable (connection refused)")
        if fault.startswith("slow:"):
            time.sleep(float(fault.split(":", 1)[1]))

    def query(self, *args: Any, **kwargs: Any) -> Any:
        self._fault()
        return self._client.query(*args, **kwargs)

    def insert(self, *args: Any, **kwargs: Any) -> Any:
        self._fault()
        return self._client.insert(*args, **kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        self._fault()
        return self._client.command(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def worker_main(args: argparse.Namespace) -> None:
    """One pipeline worker, as `gridmon worker` runs it, with the fault hook around its ClickHouse client."""
    from gridmon.cli.worker_cmd import worker_state
    from gridmon.grid.generate import generate
    from gridmon.pipeline.assembly import assemble_components
    from gridmon.pipeline.checkpoint import checkpointing
    from gridmon.pipeline.runner import build_pipeline, running
    from gridmon.store.client import connect
    from gridmon.store.migrations import migrate

    settings = scenario_settings(args.data_dir, args.bootstrap, args.prefix, args.database, args.worker)
    client = FaultyClient(connect(settings), Path(os.environ[FAULT_FILE_ENV]))
    migrate(client)
    components = assemble_components(generate("small", seed=1))
    pipeline = build_pipeline(settings, args.bootstrap, client, components, kinds=tuple(RAW_TABLES))
    saver, alarms = worker_state(settings, client, components, pipeline)

    async def run() -> None:
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        async with checkpointing(saver, 1.0, pipeline.consumer, alarms) as restored, running(pipeline):
            print(json.dumps({"restored": restored}), flush=True)
            await stop.wait()

    asyncio.run(run())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_rss_mb": round(peak_mb)}), flush=True)


def count_main(args: argparse.Namespace) -> None:
    """Reconciliation counts, printed as JSON (a separate process: chdb is one process per folder)."""
    from gridmon.store.client import connect

    settings = scenario_settings(args.data_dir, args.bootstrap, args.prefix, args.database, "counter")
    client = connect(settings)
    counts: dict[str, Any] = {}
    for kind, table in RAW_TABLES.items():
        total, distinct = client.query(
            f"SELECT count(), uniqExact(_topic, _partition, _offset, device, ts) FROM {table}"
        ).result_rows[0]
        counts[kind] = {"rows": int(total), "distinct": int(distinct)}
    counts["dead_letters"] = int(client.query("SELECT count() FROM dead_letters FINAL").result_rows[0][0])
    counts["outages"] = int(client.query("SELECT uniqExact(id) FROM outages").result_rows[0][0])
    print(json.dumps(counts), flush=True)


def keys_main(args: argparse.Namespace) -> None:
    """Every stored raw row's identity and every dead letter's, as JSON lines (one folder; the orchestrator
    unions several folders, which one process cannot open at once)."""
    from gridmon.store.client import connect

    settings = scenario_settings(args.data_dir, args.bootstrap, args.prefix, args.database, "counter")
    client = connect(settings)
    for table in RAW_TABLES.values():
        sql = f"SELECT _topic, _partition, _offset, device, toUnixTimestamp64Nano(ts) FROM {table}"
        for row in client.query(sql).result_rows:
            print(json.dumps(["row", table, *row]))
    sql = "SELECT source_topic, partition, offset, reason FROM dead_letters FINAL"
    for row in client.query(sql).result_rows:
        print(json.dumps(["dead", *row]))
    sql = "SELECT worker, component FROM state_checkpoints GROUP BY worker, component"
    for row in client.query(sql).result_rows:
        print(json.dumps(["checkpoint", *row]))


def scenario_settings(data_dir: str, bootstrap: str, prefix: str, database: str, worker: str) -> Any:
    from gridmon.settings import load_settings

    return load_settings(
        kafka_bootstrap=bootstrap,
        data_dir=data_dir,
        topic_prefix=prefix,
        partitions=PARTITIONS,
        clickhouse_database=database,
        worker_id=worker,
    )


# --- the orchestrator side --------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    produced: int = 0
    stored: int = 0
    dead_lettered: int = 0
    lost: int = 0
    duplicated: int = 0
    recovery_s: float | None = None
    peak_rss_mb: int | None = None
    note: str = ""
    skipped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Worker:
    """A worker child process; `restart()` starts it again (the supervisor's job)."""

    scenario: Scenario
    name: str
    process: subprocess.Popen[str] | None = None
    restarts: int = 0
    peak_rss_mb: int = 0
    restored: list[list[str]] = field(default_factory=list)  # per start: components restored

    def start(self) -> None:
        s = self.scenario
        command = [sys.executable, "-m", "load_tests.reliability", "worker", "--data-dir", str(s.data_dir)]
        command += ["--bootstrap", s.bootstrap, "--prefix", s.prefix, "--database", s.database]
        command += ["--worker", self.name]
        env = {**os.environ, FAULT_FILE_ENV: str(s.fault_file), "GRIDMON_LOG_LEVEL": "WARNING"}
        log = open(s.data_dir / f"{self.name}.log", "a")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True
        )
        assert self.process.stdout is not None
        threading.Thread(target=self._read, args=(self.process,), daemon=True).start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if not line.startswith("{"):
                continue
            report = json.loads(line)
            if "restored" in report:
                self.restored.append(report["restored"])
            else:
                self.peak_rss_mb = max(self.peak_rss_mb, report["peak_rss_mb"])

    def supervise(self) -> None:
        """Start the worker again if it exited (e.g. code 75: ClickHouse down past the retry policy)."""
        if self.process is not None and self.process.poll() is not None:
            self.restarts += 1
            time.sleep(1.0)  # a supervisor's restart delay
            self.start()

    def kill9(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        terminate(self.process)


@dataclass
class Scenario:
    """Topics, database and fault switch of one scenario (unique names; a shared data dir)."""

    name: str
    bootstrap: str
    data_dir: Path
    messages: int
    poison_every: int = 0
    prefix: str = field(default_factory=lambda: f"rel{uuid.uuid4().hex[:8]}.")
    database: str = field(default_factory=lambda: f"rel_{uuid.uuid4().hex[:10]}")
    pseudonym_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    gateways: bool = False  # devices keyed by gateway and a street outage spanning the run (else random keys)
    outage_devices: list[str] = field(default_factory=list)
    produced_valid: int = 0
    produced_poison: int = 0
    broker: Any = None  # the scenario's own EmbeddedBroker, when it restarts it

    @property
    def fault_file(self) -> Path:
        return self.data_dir / f"{self.database}.fault"

    def set_fault(self, fault: str | None) -> None:
        if fault is None:
            self.fault_file.unlink(missing_ok=True)
        else:
            self.fault_file.write_text(fault)

    def settings(self) -> Any:
        return scenario_settings(str(self.data_dir), self.bootstrap, self.prefix, self.database, "driver")

    def produce(self, seconds: float) -> threading.Thread:
        """Produce the scenario's messages spread over `seconds`, in a thread (load during the fault)."""
        from gridmon.grid.generate import generate
        from gridmon.kafka.clients import make_producer
        from gridmon.pipeline.runner import prepare_topics

        settings = self.settings()
        prepare_topics(settings, self.bootstrap)
        model = generate("small", seed=1)
        devices = {"pmu": model.devices_of_kind("pmu"), "meter": model.devices_of_kind("meter")}
        producer = make_producer(settings, self.bootstrap)
        values = list(self._gateway_messages(model) if self.gateways else self._messages(devices))
        self.produced_valid = sum(valid for _topic, _value, valid, _key in values)
        self.produced_poison = sum(1 for _topic, _value, valid, _key in values if not valid)

        def run() -> None:
            pause = seconds / max(len(values), 1)
            for topic, value, _valid, key in values:
                producer.produce(settings.topic(topic), key=key or uuid.uuid4().bytes[:4], value=value)
                producer.poll(0)
                time.sleep(pause)
            assert producer.flush(60) == 0, "the producer could not deliver every message"

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def _messages(self, devices: dict[str, list[str]]) -> Iterator[tuple[str, bytes, int, bytes | None]]:
        rng = random.Random(7)
        start_ns = time.time_ns() - 3600 * 10**9
        for i in range(self.messages):
            if self.poison_every and i % self.poison_every == 0:
                yield "grid.pmu", poison(rng, i // self.poison_every), 0, None
            kind = "pmu" if i % 2 else "meter"
            readings = []
            for j in range(READINGS_PER_MESSAGE):
                n = i * READINGS_PER_MESSAGE + j
                device = devices[kind][n % len(devices[kind])]
                ts = start_ns + n * 1_000_000  # unique per device and time: no field duplicates
                if kind == "pmu":
                    readings.append({"device": device, "ts": ts, "freq_hz": 60.0, "va": 7200.0, "vb": 7200.0})
                else:
                    readings.append({"device": device, "ts": ts, "event": "interval", "kwh": 0.3})
            body = {"readings": readings, "source": "reliability", "sent_ns": time.time_ns()}
            yield f"grid.{kind}", orjson.dumps(body), len(readings), None

    def _gateway_messages(self, model: GridModel) -> Iterator[tuple[str, bytes, int, bytes | None]]:
        """Each message carries the readings of one gateway's devices, keyed by the gateway (as field
        gateways send), so a device lives on one partition; street outages on up to `OUTAGE_FEEDERS`
        feeders go dark at 10 % of the messages (last gasps) and come back at 90 % (power restored), their
        meters silent in between: alarms that the killed worker raised must be continued by the survivor."""
        rng = random.Random(7)
        start_ns = time.time_ns() - 3600 * 10**9
        members = {kind: [model.devices_of_kind(kind)[g :: GATEWAYS[kind]] for g in range(GATEWAYS[kind])]
                   for kind in GATEWAYS}  # fmt: skip
        gateway_of = {d: g for g, devices in enumerate(members["meter"]) for d in devices}
        self.outage_devices = street_outages(model, OUTAGE_FEEDERS)
        dark = {m for t in self.outage_devices for m in model.meters_below(t)}
        dark_from, dark_until = self.messages // 10, self.messages * 9 // 10
        for i in range(self.messages):
            if self.poison_every and i % self.poison_every == 0:
                yield "grid.pmu", poison(rng, i // self.poison_every), 0, None
            if i in (dark_from, dark_until):
                event = "last_gasp" if i == dark_from else "power_restored"
                at_ns = start_ns + i * READINGS_PER_MESSAGE * GATEWAY_STEP_NS
                yield from _meter_events(sorted(dark), gateway_of, event, at_ns)
            kind = "pmu" if i % 2 else "meter"
            gateway = (i // 2) % GATEWAYS[kind]
            devices = members[kind][gateway]
            if kind == "meter" and dark_from <= i < dark_until:
                devices = [d for d in devices if d not in dark]
            readings = []
            for j in range(READINGS_PER_MESSAGE):
                n = i * READINGS_PER_MESSAGE + j
                reading: dict[str, Any] = {
                    "device": devices[n % len(devices)],
                    "ts": start_ns + n * GATEWAY_STEP_NS,
                }
                if kind == "pmu":
                    reading |= {"freq_hz": 60.0, "va": 7200.0, "vb": 7200.0}
                else:
                    reading |= {"event": "interval", "kwh": 0.3}
                readings.append(reading)
            body = {"readings": readings, "source": "reliability", "sent_ns": time.time_ns()}
            yield f"grid.{kind}", orjson.dumps(body), len(readings), f"{kind}-gw{gateway}".encode()

    def caught_up(self) -> bool:
        """Has the consumer group committed every offset of every input partition?"""
        from confluent_kafka import TopicPartition

        from gridmon.kafka.clients import make_consumer
        from gridmon.pipeline.progress import end_offsets

        settings = self.settings()
        topics = [settings.topic(f"grid.{kind}") for kind in RAW_TABLES]
        consumer = make_consumer(settings, self.bootstrap, group_id=settings.topic("gridmon"))
        try:
            ends = end_offsets(consumer, topics)
            committed = consumer.committed([TopicPartition(t, p) for t, p in ends], timeout=10)
        finally:
            consumer.close()
        done = {(tp.topic, tp.partition): tp.offset for tp in committed}
        return all(done.get(tp, -1) >= end for tp, end in ends.items() if end > 0)

    def counts(self) -> dict[str, Any]:
        command = [sys.executable, "-m", "load_tests.reliability", "count", "--data-dir", str(self.data_dir)]
        command += ["--bootstrap", self.bootstrap, "--prefix", self.prefix, "--database", self.database]
        out = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=True)
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))

    def reconcile(self, row: Row) -> Row:
        counts = self.counts()
        distinct = sum(counts[kind]["distinct"] for kind in RAW_TABLES)
        row.produced = self.produced_valid + self.produced_poison
        row.stored = distinct
        row.dead_lettered = counts["dead_letters"]
        row.duplicated = sum(counts[kind]["rows"] - counts[kind]["distinct"] for kind in RAW_TABLES)
        row.lost = max(self.produced_valid - distinct, 0) + max(self.produced_poison - row.dead_lettered, 0)
        return row


def street_outages(model: GridModel, feeders: int) -> list[str]:
    """One transformer with three or more meters on each of the first `feeders` feeders."""
    chosen: dict[str, str] = {}
    for transformer in model.devices_of_kind("transformer"):
        feeder = model.feeder_of(transformer)
        if feeder not in chosen and len(model.meters_below(transformer)) >= 3:
            chosen[feeder] = transformer
    return list(chosen.values())[:feeders]


def _meter_events(
    meters: list[str], gateway_of: dict[str, int], event: str, at_ns: int
) -> Iterator[tuple[str, bytes, int, bytes | None]]:
    """One message per gateway with `event` from each of its `meters` (stamps off the 1 ms grid: unique)."""
    for gateway in sorted({gateway_of[m] for m in meters}):
        readings = [{"device": m, "ts": at_ns + k + 1, "event": event}
                    for k, m in enumerate(meters) if gateway_of[m] == gateway]  # fmt: skip
        body = {"readings": readings, "source": "reliability", "sent_ns": time.time_ns()}
        yield "grid.meter", orjson.dumps(body), len(readings), f"meter-gw{gateway}".encode()


def poison(rng: random.Random, i: int) -> bytes:
    """The i-th bad message, of a rotating kind: random bytes, broken JSON, wrong schema, unknown device, NaN."""
    choice = i % 5
    if choice == 0:
        return rng.randbytes(rng.randint(1, 300))
    if choice == 1:
        return b'{"readings": [{"device": "x", "ts": ' + str(i).encode()
    if choice == 2:
        return orjson.dumps({"readings": [{"device": "pmu", "ts": i, "freq_hz": "sixty"}]})
    if choice == 3:
        return orjson.dumps({"readings": [{"device": f"ghost-{i}", "ts": time.time_ns(), "freq_hz": 60.0}]})
    return b'{"readings": [{"device": "p", "ts": 1, "freq_hz": NaN}]}'


def wait_until(
    condition: Callable[[], bool], timeout_s: float, tick: Callable[[], None] | None = None
) -> float:
    """Seconds until `condition()` held (polling); raises TimeoutError after `timeout_s`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"not reached in {timeout_s:.0f} s")
        if tick is not None:
            tick()
        time.sleep(0.5)
    return time.monotonic() - started


def committed_fraction(scenario: Scenario) -> float:
    """Share of the produced input messages whose offsets the group has committed."""
    from confluent_kafka import TopicPartition

    from gridmon.kafka.clients import make_consumer

    settings = scenario.settings()
    consumer = make_consumer(settings, scenario.bootstrap, group_id=settings.topic("gridmon"))
    try:
        metadata = consumer.list_topics(timeout=10)
        tps = [
            TopicPartition(settings.topic(f"grid.{kind}"), p)
            for kind in RAW_TABLES
            for p in metadata.topics[settings.topic(f"grid.{kind}")].partitions
        ]
        committed = consumer.committed(tps, timeout=10)
    finally:
        consumer.close()
    return float(sum(max(tp.offset, 0) for tp in committed)) / max(scenario.messages, 1)


# --- scenarios --------------------------------------------------------------------------------------------


def run_kill9(scenario: Scenario) -> Row:
    """kill -9 while batches are in flight (slow inserts make "mid-batch" likely), then restart."""
    worker = Worker(scenario, "w1")
    scenario.set_fault("slow:0.2")
    producing = scenario.produce(seconds=5)
    worker.start()
    wait_until(lambda: committed_fraction(scenario) > 0.25, 180)
    worker.kill9()
    scenario.set_fault(None)
    worker.start()
    producing.join()
    recovery = wait_until(scenario.caught_up, 300, worker.supervise)
    worker.stop()
    row = scenario.reconcile(Row("kill -9 worker mid-batch, restart", recovery_s=recovery))
    row.peak_rss_mb = worker.peak_rss_mb
    row.note = f"state restored at restart: {', '.join(worker.restored[-1]) if worker.restored else 'none'}"
    return row


def run_clickhouse_down(scenario: Scenario, down_s: float) -> Row:
    worker = Worker(scenario, "w1")
    producing = scenario.produce(seconds=10)
    worker.start()
    wait_until(lambda: committed_fraction(scenario) > 0.1, 180)
    scenario.set_fault("down")
    deadline = time.monotonic() + down_s
    while time.monotonic() < deadline:
        worker.supervise()
        time.sleep(0.5)
    scenario.set_fault(None)
    producing.join()
    recovery = wait_until(scenario.caught_up, 300, worker.supervise)
    worker.stop()
    row = scenario.reconcile(Row(f"ClickHouse unavailable {down_s:.0f} s", recovery_s=recovery))
    row.peak_rss_mb = worker.peak_rss_mb
    row.note = f"worker exited {worker.restarts}× (code 75, nothing committed), restarted"
    return row


def run_slow_clickhouse(scenario: Scenario, delay_s: float) -> Row:
    worker = Worker(scenario, "w1")
    scenario.set_fault(f"slow:{delay_s}")
    producing = scenario.produce(seconds=2)
    worker.start()
    producing.join()
    elapsed = wait_until(scenario.caught_up, 600, worker.supervise)
    worker.stop()
    row = scenario.reconcile(Row(f"slow ClickHouse (+{delay_s:g} s per call)"))
    row.peak_rss_mb = worker.peak_rss_mb
    row.note = f"caught up in {elapsed:.0f} s; batches grow, memory bounded by Faust's buffer"
    scenario.set_fault(None)
    return row


def run_poison(scenario: Scenario) -> Row:
    worker = Worker(scenario, "w1")
    producing = scenario.produce(seconds=3)
    worker.start()
    producing.join()
    wait_until(scenario.caught_up, 300, worker.supervise)
    worker.stop()
    row = scenario.reconcile(Row(f"poison messages (1 in {scenario.poison_every})"))
    row.peak_rss_mb = worker.peak_rss_mb
    row.note = f"{scenario.produced_poison} poison messages, {worker.restarts} crashes"
    return row


@dataclass
class ObjectStore:
    """An S3 endpoint (moto's server, its own process) for the embedded Tansu's `s3://` storage engine: the
    broker keeps topics, records and committed offsets there, so they outlive a restart of the broker."""

    data_dir: Path
    bucket: str = "tansu"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ObjectStore:
        from gridmon.kafka.embedded import free_loopback_port

        self.port = self.port or free_loopback_port()
        log = open(self.data_dir / "s3.log", "ab")  # noqa: SIM115 - the child owns it
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self.process = subprocess.Popen(command, stdout=log, stderr=log)
        wait_until(self._bucket_created, 60)
        return self

    def _bucket_created(self) -> bool:
        request = urllib.request.Request(f"{self.url}/{self.bucket}", method="PUT")
        try:
            with urllib.request.urlopen(request, timeout=2):  # noqa: S310 - loopback
                return True
        except OSError:
            return False

    def broker_env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT": self.url,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "gridmon",
            "AWS_SECRET_ACCESS_KEY": "gridmon-local",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def stop(self) -> None:
        terminate(self.process, timeout_s=30)


def run_broker_restart(scenario: Scenario, down_s: float = 5.0) -> Row:
    """Restart the broker under load; it comes back on the same port with the same storage."""
    restart_command = os.environ.get("GRIDMON_RELIABILITY_BROKER_RESTART")
    worker = Worker(scenario, "w1")
    producing = scenario.produce(seconds=10)
    worker.start()
    wait_until(lambda: committed_fraction(scenario) > 0.2, 180)
    restarted = time.monotonic()
    if os.environ.get("GRIDMON_KAFKA_BOOTSTRAP") and restart_command:
        subprocess.run(restart_command, shell=True, check=True, timeout=300)  # noqa: S602 - the operator's
    else:
        assert scenario.broker is not None, "the embedded broker-restart scenario needs its own broker"
        port = scenario.broker.port
        scenario.broker.stop()
        time.sleep(down_s)
        scenario.broker.port = port
        scenario.broker.start()
    producing.join()
    wait_until(scenario.caught_up, 300, worker.supervise)
    recovery = time.monotonic() - restarted
    worker.stop()
    row = scenario.reconcile(Row("broker restart (down 5 s)", recovery_s=recovery))
    row.peak_rss_mb = worker.peak_rss_mb
    row.note = (
        f"embedded Tansu on s3:// storage (moto), restarted on its port; worker restarted {worker.restarts}×"
    )
    return row


def run_broker_restart_embedded(data_dir: Path, messages: int) -> Row:
    """The broker-restart scenario on its own embedded Tansu whose storage outlives it (S3 via moto)."""
    from gridmon.kafka.embedded import EmbeddedBroker

    objects = ObjectStore(data_dir).start()
    broker = EmbeddedBroker(
        log_path=data_dir / "broker-s3.log",
        storage=f"s3://{objects.bucket}/",
        storage_env=objects.broker_env(),
    )
    try:
        broker.start()
        scenario = Scenario("restart", broker.bootstrap, data_dir, messages, broker=broker)
        return run_broker_restart(scenario)
    finally:
        broker.stop()
        objects.stop()


@dataclass
class StoreFront:
    """`gridmon store serve`: one process holds the chdb folder and answers ClickHouse's HTTP interface, so
    several workers share one store (and the sink's offset high-water) as on a ClickHouse server."""

    data_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StoreFront:
        from gridmon.kafka.embedded import free_loopback_port

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_loopback_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMON_CLICKHOUSE")}
        env |= {"GRIDMON_DATA_DIR": str(self.data_dir), "GRIDMON_LOG_LEVEL": "WARNING"}
        command = [sys.executable, "-c", "from gridmon.cli import main; main()", "store", "serve"]
        command += ["--port", str(self.port)]
        log = open(self.data_dir / "store.log", "ab")  # noqa: SIM115 - the child owns it
        self.process = subprocess.Popen(command, cwd=self.data_dir, env=env, stdout=log, stderr=log)
        wait_until(self._answers, 60)
        return self

    def migrate(self, database: str) -> None:
        """`gridmon db migrate` against the store, as an operator does before starting workers on a server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GRIDMON_")}
        env |= {"GRIDMON_CLICKHOUSE_URL": self.url, "GRIDMON_CLICKHOUSE_DATABASE": database}
        command = [sys.executable, "-c", "from gridmon.cli import main; main()", "db", "migrate"]
        subprocess.run(command, cwd=self.data_dir, env=env, check=True, capture_output=True, timeout=120)

    def _answers(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"gridmon store serve exited: see {self.data_dir}/store.log")
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response:  # noqa: S310 - loopback
                return bool(response.read() == b"Ok.\n")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop serving (the reconciliation then opens the folder itself)."""
        terminate(self.process)


@dataclass
class CliWorker:
    """A real `gridmon worker` process (the CLI, configured by GRIDMON_* variables) with its own data dir."""

    scenario: Scenario
    name: str
    model_path: Path
    store_url: str
    web_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.scenario.data_dir / f"{self.scenario.database}-{self.name}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "worker.log"

    def start(self) -> None:
        from gridmon.kafka.embedded import free_loopback_port

        s = self.scenario
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.web_port = self.web_port or free_loopback_port()
        server = ("GRIDMON_CLICKHOUSE_USER", "GRIDMON_CLICKHOUSE_PASSWORD")
        env = {k: v for k, v in os.environ.items() if k not in server}
        env |= {
            "GRIDMON_KAFKA_BOOTSTRAP": s.bootstrap,
            "GRIDMON_TOPIC_PREFIX": s.prefix,
            "GRIDMON_PARTITIONS": str(PARTITIONS),
            "GRIDMON_DATA_DIR": str(self.data_dir),  # logs and local files; the store is shared:
            "GRIDMON_CLICKHOUSE_URL": self.store_url,
            "GRIDMON_PSEUDONYM_KEY": s.pseudonym_key,  # a server URL makes the worker refuse the dev key
            "GRIDMON_CLICKHOUSE_DATABASE": s.database,
            "GRIDMON_WORKER_ID": self.name,
            "GRIDMON_WEB_PORT": str(self.web_port),
            "GRIDMON_CHECKPOINT_INTERVAL_S": "1",
            "GRIDMON_LOG_LEVEL": "INFO",
        }
        command = [sys.executable, "-c", "from gridmon.cli import main; main()", "worker"]
        command += ["--model", str(self.model_path), "--web-port", str(self.web_port)]
        log = open(self.data_dir / "worker.log", "ab")  # noqa: SIM115 - the child owns it
        # cwd = its data dir: no `.env` of the checkout leaks into the worker's settings.
        self.process = subprocess.Popen(command, cwd=self.data_dir, env=env, stdout=log, stderr=log)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def peak_rss_mb(self) -> int:
        """The running worker's peak resident memory (Linux VmHWM), 0 when unknown."""
        if not self.alive():
            return 0
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
        return 0

    def kill9(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def terminate(process: subprocess.Popen[Any] | None, timeout_s: float = 60.0) -> None:
    """SIGTERM (a clean stop commits what was handled), SIGKILL if it does not end in time."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


Assignment = dict[int, set[tuple[str, int]]]  # worker web port -> input partitions it holds


def input_assignment(scenario: Scenario, asked: Sequence[CliWorker]) -> Assignment:
    """The input partitions (grid.* topics) each asked worker holds, from its own `/gridmon/consumer/` view.

    Not from the broker: the embedded Tansu answers DescribeGroups with a stable group and no members.
    A worker that does not answer (starting, rebalancing, dead) is left out.
    """
    settings = scenario.settings()
    return assignment(asked, {settings.topic(f"grid.{kind}") for kind in RAW_TABLES})


def assignment(asked: Sequence[CliWorker], topics: set[str]) -> Assignment:
    """The partitions of `topics` each asked worker holds (see `input_assignment`)."""
    held: Assignment = {}
    for worker in asked:
        url = f"http://127.0.0.1:{worker.web_port}/gridmon/consumer/"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback, our worker
                assigned = json.loads(response.read())["assigned"]
        except (OSError, ValueError, KeyError):
            continue
        held[worker.web_port] = {
            (topic, partition)
            for topic, partitions in assigned.items()
            if topic in topics
            for partition in partitions
        }
    return held


def committed_offsets(scenario: Scenario) -> dict[tuple[str, int], int]:
    """The group's committed offset (next to read) per input partition; -1 where none."""
    from confluent_kafka import TopicPartition

    from gridmon.kafka.clients import make_consumer

    settings = scenario.settings()
    consumer = make_consumer(settings, scenario.bootstrap, group_id=settings.topic("gridmon"))
    try:
        tps = [TopicPartition(settings.topic(f"grid.{k}"), p) for k in RAW_TABLES for p in range(PARTITIONS)]
        return {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, timeout=10)}
    finally:
        consumer.close()


def stored_past_commit(
    scenario: Scenario, store: StoreFront, moved: set[tuple[str, int]], committed: dict[tuple[str, int], int]
) -> int:
    """Messages of the moved partitions already in the store but not committed by the group: the survivor
    will receive them again, and its sink must drop them (asked over HTTP while the store serves)."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(host="127.0.0.1", port=store.port, database=scenario.database)
    try:
        stored: dict[tuple[str, int], int] = {}
        for table in RAW_TABLES.values():
            sql = f"SELECT _topic, _partition, max(_offset) FROM {table} GROUP BY _topic, _partition"
            for topic, partition, highest in client.query(sql).result_rows:
                stored[(topic, partition)] = int(highest)
    finally:
        client.close()
    return sum(max(stored.get(tp, -1) + 1 - max(committed.get(tp, -1), 0), 0) for tp in moved)


@dataclass
class FolderKeys:
    """Stored raw rows (identity → copies), dead letters and checkpointed (worker, component) of one folder."""

    rows: Counter[tuple[Any, ...]]
    dead: set[tuple[Any, ...]]
    checkpoints: set[tuple[str, str]]


def folder_keys(scenario: Scenario, data_dir: Path) -> FolderKeys:
    command = [sys.executable, "-m", "load_tests.reliability", "keys", "--data-dir", str(data_dir)]
    command += [
        "--bootstrap",
        scenario.bootstrap,
        "--prefix",
        scenario.prefix,
        "--database",
        scenario.database,
    ]
    out = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=True)
    rows: Counter[tuple[Any, ...]] = Counter()
    dead: set[tuple[Any, ...]] = set()
    checkpoints: set[tuple[str, str]] = set()
    for line in out.stdout.splitlines():
        kind, *key = json.loads(line)
        if kind == "row":
            rows[tuple(key)] += 1
        elif kind == "dead":
            dead.add(tuple(key))
        else:
            checkpoints.add((key[0], key[1]))
    return FolderKeys(rows, dead, checkpoints)


@dataclass
class Union:
    """Several folders reconciled as one store: a row identity in two folders is one duplicate."""

    stored: int
    duplicated_within: int  # copies inside one folder (the sink's exactly-once failed)
    duplicated_across: int  # copies in another folder (a redelivered batch, no shared high-water)
    dead_letters: int
    dead_duplicated: int  # the same dead letter in two folders
    duplicated_messages: set[tuple[str, int, int]]  # (topic, partition, offset) stored twice


def union_of(folders: list[FolderKeys]) -> Union:
    everywhere: Counter[tuple[Any, ...]] = Counter()
    within = 0
    for folder in folders:
        within += sum(copies - 1 for copies in folder.rows.values())
        everywhere.update(folder.rows.keys())
    across = sum(folders_holding - 1 for folders_holding in everywhere.values())
    messages = {
        (key[1], key[2], key[3]) for key, folders_holding in everywhere.items() if folders_holding > 1
    }
    dead = set().union(*(folder.dead for folder in folders))
    dead_duplicated = sum(len(folder.dead) for folder in folders) - len(dead)
    return Union(len(everywhere), within, across, len(dead), dead_duplicated, messages)


def run_two_workers(scenario: Scenario, produce_s: float = 20.0) -> Row:
    """Two `gridmon worker`s on one group and one shared store; kill -9 one mid-run; the survivor takes over."""
    from gridmon.grid.generate import generate

    model_path = scenario.data_dir / f"{scenario.database}.model"
    generate("small", seed=1).save(model_path)
    store = StoreFront(scenario.data_dir / f"{scenario.database}-store").start()
    store.migrate(scenario.database)
    workers = [CliWorker(scenario, name, model_path, store.url) for name in ("w1", "w2")]
    try:
        return _two_workers(scenario, store, workers, produce_s)
    finally:  # a failed run must not leave workers or the store behind
        for worker in workers:
            if worker.alive():
                worker.kill9()
        store.stop()


def _two_workers(scenario: Scenario, store: StoreFront, workers: list[CliWorker], produce_s: float) -> Row:
    for worker in workers:
        worker.start()

    def both_hold_partitions() -> bool:
        if not all(w.alive() for w in workers):
            raise RuntimeError(f"a worker exited at start: see {scenario.data_dir}/*/worker.log")
        held = input_assignment(scenario, workers)
        return {w.web_port for w in workers} <= {port for port, parts in held.items() if parts}

    wait_until(both_hold_partitions, 240)
    producing = scenario.produce(seconds=produce_s)  # load starts once both consume; the kill lands in it
    wait_until(lambda: committed_fraction(scenario) > 0.3, 180)
    victim = feeder_holder(scenario, workers) if scenario.outage_devices else workers[1]
    survivor = next(worker for worker in workers if worker is not victim)
    producing_at_kill = producing.is_alive()
    killed_at_committed = committed_fraction(scenario)
    moved = input_assignment(scenario, [victim])[victim.web_port]
    survivor_log_at_kill = survivor.log_path.stat().st_size
    victim.kill9()
    killed = time.monotonic()
    committed_at_kill = committed_offsets(scenario)
    ahead = stored_past_commit(scenario, store, moved, committed_at_kill)

    def taken_over() -> bool:
        held = input_assignment(scenario, [survivor])
        return len(held.get(survivor.web_port, ())) == len(RAW_TABLES) * PARTITIONS

    wait_until(taken_over, 120)
    takeover_s = time.monotonic() - killed
    producing.join()
    wait_until(scenario.caught_up, 300, lambda: None if survivor.alive() else survivor.start())
    recovery_s = time.monotonic() - killed
    continuity = alarm_continuity(scenario, store)  # waits for the outages to close (outage stage follows)
    adopted = adopted_after(survivor, survivor_log_at_kill, victim.name)
    peak_rss_mb = survivor.peak_rss_mb()
    survivor.stop()
    store.stop()

    stored = folder_keys(scenario, store.data_dir)
    union = union_of([stored])
    row = Row("two workers, one killed (rebalance)", recovery_s=recovery_s, peak_rss_mb=peak_rss_mb)
    row.produced = scenario.produced_valid + scenario.produced_poison
    row.stored = union.stored
    row.dead_lettered = union.dead_letters
    row.duplicated = union.duplicated_within + union.duplicated_across
    row.lost = max(scenario.produced_valid - union.stored, 0)
    row.lost += max(scenario.produced_poison - union.dead_letters, 0)
    row.extra = {
        "takeover_s": takeover_s,
        "moved_partitions": len(moved),
        "killed_at_committed": killed_at_committed,
        "producing_at_kill": producing_at_kill,
        "duplicated_messages": len(union.duplicated_messages),
        "stored_past_commit": ahead,
        "checkpoints": sorted(stored.checkpoints),
        "adopted": adopted,
        **continuity,
    }
    w1, w2 = survivor.name, victim.name
    row.note = (
        f"{w2} killed at {killed_at_committed:.0%} committed"
        f"{', producer still sending' if producing_at_kill else ''}; {w1} took its {len(moved)} input partitions "
        f"in {takeover_s:.1f} s. {w2} had stored {ahead} messages past the group's commit: redelivered to {w1}, "
        "dropped by its sink (one store via `gridmon store serve`, one offset high-water). "
        f"{w1} adopted {w2}'s state from its checkpoint: {adopted.get('detector', 0)} devices, "
        f"{adopted.get('outages', 0)} open outages; alarms re-raised under a new id: "
        f"{continuity['re_raised_anomalies']} anomalies, {continuity['re_raised_outages']} outages; "
        f"outages left open: {continuity['unclosed_outages']} of {continuity['outages']}"
    )
    return row


def feeder_holder(scenario: Scenario, workers: list[CliWorker]) -> CliWorker:
    """The worker to kill: one that correlates outage events (holds a partition of the feeder-keyed topic
    that received any), so that open outages must move; the second worker if both do."""
    from confluent_kafka import TopicPartition

    from gridmon.kafka.clients import make_consumer

    settings = scenario.settings()
    topic = settings.topic("gridmon.outage-events")
    consumer = make_consumer(settings, scenario.bootstrap, group_id=settings.topic("reliability-probe"))
    try:  # a high watermark above 0 is enough here (Tansu's may be short of the end, never above 0 wrongly)
        marks = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in range(PARTITIONS)
        }
    finally:
        consumer.close()
    busy = {(topic, p) for p, (_low, high) in marks.items() if high > 0}
    held = assignment(workers, {topic})
    holders = [worker for worker in workers if held.get(worker.web_port, set()) & busy]
    return holders[-1] if holders else workers[-1]


def adopted_after(worker: CliWorker, offset: int, source: str) -> dict[str, int]:
    """What `worker` logged adopting from `source`'s checkpoint since byte `offset` of its log."""
    with worker.log_path.open("rb") as log:
        log.seek(offset)
        text = log.read().decode(errors="replace")
    adopted: dict[str, int] = {}
    for taker, component, giver, count in TAKEOVER_LINE.findall(text):
        if taker == worker.name and giver == source:
            adopted[component] = adopted.get(component, 0) + int(count)
    return adopted


def alarm_continuity(scenario: Scenario, store: StoreFront, timeout_s: float = 90.0) -> dict[str, int]:
    """Alarms in the store after the run: an anomaly is re-raised when a new id starts on the same device,
    detector and metric while an earlier one never closed (a worker that forgot it); an outage is re-raised
    when its device has two ids. Waits until every scenario outage reached a final state (or `timeout_s`)."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(host="127.0.0.1", port=store.port, database=scenario.database)
    try:

        def outages() -> list[tuple[str, str, str]]:
            sql = "SELECT id, device, state FROM outages FINAL WHERE device IN {devices:Array(String)}"
            rows = client.query(sql, parameters={"devices": scenario.outage_devices}).result_rows
            return [(str(i), str(d), str(s)) for i, d, s in rows]

        def all_final() -> bool:
            found = outages()
            closed = {d for _i, d, state in found if state in FINAL_OUTAGE_STATES}
            return closed >= set(scenario.outage_devices)

        with contextlib.suppress(TimeoutError):
            wait_until(all_final, timeout_s)
        sql = "SELECT device, detector, metric, start_ns, end_ns FROM anomalies FINAL ORDER BY start_ns"
        anomalies = client.query(sql).result_rows
        found = outages()
    finally:
        client.close()
    never_closed: set[tuple[str, str, str]] = set()
    re_raised = 0
    for device, detector, metric, _start, end_ns in anomalies:
        key = (device, detector, metric)
        re_raised += key in never_closed
        if end_ns is None:
            never_closed.add(key)
    ids_per_device = Counter(device for _i, device, _s in found)
    return {
        "anomalies": len(anomalies),
        "re_raised_anomalies": re_raised,
        "outages": len(found),
        "re_raised_outages": sum(n - 1 for n in ids_per_device.values()),
        "unclosed_outages": sum(1 for _i, _d, state in found if state not in FINAL_OUTAGE_STATES),
    }


# --- main -------------------------------------------------------------------------------------------------


def print_table(rows: list[Row]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="gridmon reliability: produced vs ClickHouse + dead letters")
    for column in ("scenario", "produced", "stored", "dead-lettered", "lost", "duplicated", "recovery"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    table.add_column("peak RSS", justify="right")
    table.add_column("note")
    for row in rows:
        if row.skipped:
            table.add_row(row.scenario, "—", "—", "—", "—", "—", "—", "—", f"skipped: {row.note}")
            continue
        recovery = "—" if row.recovery_s is None else f"{row.recovery_s:.1f} s"
        rss = "—" if not row.peak_rss_mb else f"{row.peak_rss_mb} MB"
        style = "" if row.lost == 0 and row.duplicated == 0 else "bold red"
        table.add_row(
            row.scenario,
            f"{row.produced:,}",
            f"{row.stored:,}",
            f"{row.dead_lettered:,}",
            f"{row.lost:,}",
            f"{row.duplicated:,}",
            recovery,
            rss,
            row.note,
            style=style,
        )
    Console(width=200).print(table)
    print("produced = valid readings + poison messages; stored = distinct readings in ClickHouse")


SCENARIOS = ("kill9", "clickhouse-down", "slow-clickhouse", "poison", "broker-restart", "two-workers")


def run_all(bootstrap: str, data_dir: Path, messages: int, only: set[str], down_s: float) -> list[Row]:
    def scenario(name: str, **kwargs: Any) -> Scenario:
        return Scenario(name, bootstrap, data_dir, messages, **kwargs)

    runs: dict[str, Callable[[], Row]] = {
        "kill9": lambda: run_kill9(scenario("kill9")),
        "clickhouse-down": lambda: run_clickhouse_down(scenario("down"), down_s),
        "slow-clickhouse": lambda: run_slow_clickhouse(scenario("slow"), 0.5),
        "poison": lambda: run_poison(scenario("poison", poison_every=2)),
        "broker-restart": lambda: (
            run_broker_restart(scenario("restart"))
            if os.environ.get("GRIDMON_KAFKA_BOOTSTRAP")
            else run_broker_restart_embedded(data_dir, messages)
        ),
        "two-workers": lambda: run_two_workers(scenario("two", poison_every=20, gateways=True)),
    }
    rows = []
    for name in SCENARIOS:
        if name in only:
            print(f"scenario {name} …", flush=True)
            rows.append(runs[name]())
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    for name in ("worker", "count", "keys"):
        child = sub.add_parser(name)
        for option in ("--data-dir", "--bootstrap", "--prefix", "--database"):
            child.add_argument(option, required=True)
        child.add_argument("--worker", default="w1")
    parser.add_argument("--messages", type=int, default=400, help="input messages per scenario")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma list of {', '.join(SCENARIOS)}")
    parser.add_argument("--down-s", type=float, default=30.0, help="how long ClickHouse is unavailable")
    args = parser.parse_args()
    if args.command == "worker":
        return worker_main(args)
    if args.command == "count":
        return count_main(args)
    if args.command == "keys":
        return keys_main(args)
    from gridmon.kafka.embedded import kafka_bootstrap
    from gridmon.settings import load_settings

    data_dir = Path(tempfile.mkdtemp(prefix="gridmon-reliability-"))
    try:
        with kafka_bootstrap(load_settings(data_dir=data_dir)) as bootstrap:
            rows = run_all(bootstrap, data_dir, args.messages, set(args.only.split(",")), args.down_s)
        print_table(rows)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
