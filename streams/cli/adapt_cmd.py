"""`gridmon adapt …`: run a field protocol adapter (c37118, mqtt, modbus, openfmb), a simulator, or show adapter health.

Adapters publish to the gridmon input topics of the configured Kafka (or a running `gridmon broker`) and
write their health to `<data dir>/adapters/<name>.json` every second.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from gridmon.adapters import (
    AdapterHealth,
    EnvelopePublisher,
    FieldAdapter,
    health_path,
    load_mapping,
    run_adapter,
)
from gridmon.adapters.health import read_health
from gridmon.errors import ConfigError

adapt_app = typer.Typer(
    help="Field protocol adapters: C37.118 PDCs, MQTT head-ends, Modbus RTUs, OpenFMB over NATS → gridmon topics.",
    no_args_is_help=True,
)
console = Console()
MAPPING_HELP = "mapping file (TOML): protocol points → grid-model devices; see docs/adapters.md"


def _serve(adapter: FieldAdapter, name: str, kinds: list[str]) -> None:
    """Run `adapter` until Ctrl-C/SIGTERM against the configured Kafka, creating its topics if missing."""
    from gridmon.kafka.admin import apply_topics
    from gridmon.kafka.catalog import load_catalog
    from gridmon.kafka.clients import make_admin, make_producer
    from gridmon.kafka.embedded import kafka_bootstrap
    from gridmon.settings import load_settings

    settings = load_settings()
    with kafka_bootstrap(settings) as bootstrap:
        catalog = load_catalog()
        wanted = [catalog[f"grid.{kind}"] for kind in kinds] + [catalog["grid.deadletter"]]
        apply_topics(make_admin(settings, bootstrap), settings, wanted)
        health = AdapterHealth(adapter=name, endpoint=adapter.endpoint)
        publisher = EnvelopePublisher(settings, make_producer(settings, bootstrap), health)
        path = health_path(settings.data_dir, name)
        console.print(
            f"[bold]{name}[/]: {adapter.endpoint} → Kafka {bootstrap}; health in {path}; Ctrl-C stops"
        )
        asyncio.run(_until_signal(adapter, publisher, path))
        console.print(
            f"stopped: {health.readings_published} readings published, dead letters {health.dead_letters or 'none'}"
        )


async def _signalled() -> None:
    """Return at Ctrl-C or SIGTERM."""
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()


async def _until_signal(adapter: FieldAdapter, publisher: EnvelopePublisher, path: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await run_adapter(adapter, publisher, stop, health_file=path)


@adapt_app.command("c37118")
def c37118(
    host: str = typer.Option(..., help="PMU/PDC host"),
    port: int = typer.Option(4712, help="PMU/PDC TCP port"),
    mapping: Path = typer.Option(..., exists=True, dir_okay=False, help=MAPPING_HELP),
    idcode: int = typer.Option(1, help="IDCODE of the PDC data stream our commands address"),
    frames_per_envelope: int = typer.Option(6, min=1, max=600, help="data frames per Kafka message"),
    cfg3: bool = typer.Option(False, help="ask for CFG-3 instead of CFG-2"),
    name: str = typer.Option("c37118", help="adapter name (health file name)"),
) -> None:
    """IEEE C37.118.2 PDC client over TCP → grid.pmu."""
    from gridmon.adapters.c37118.client import C37118Adapter, C37118Options

    options = C37118Options(host, port, idcode, frames_per_envelope, prefer_cfg3=cfg3)
    _serve(C37118Adapter(options, load_mapping(mapping).c37118), name, ["pmu"])


@adapt_app.command("mqtt")
def mqtt(
    mapping: Path = typer.Option(..., exists=True, dir_okay=False, help=MAPPING_HELP),
    name: str = typer.Option("mqtt", help="adapter name (health file name)"),
) -> None:
    """MQTT subscriber (broker from GRIDMON_MQTT_HOST/PORT/USERNAME/PASSWORD/TLS_CA) → grid.meter/sensor/scada."""
    from gridmon.adapters.mqtt import MqttAdapter, MqttSettings

    table = load_mapping(mapping).mqtt
    kinds = sorted({entry.kind for entry in table.topics})
    if not kinds:
        raise ConfigError(
            f"{mapping} has no [[mqtt.topics]]: add at least one pattern (see docs/adapters.md)"
        )
    _serve(MqttAdapter(MqttSettings(), table), name, kinds)


@adapt_app.command("modbus")
def modbus(
    host: str = typer.Option(..., help="Modbus TCP device or gateway host"),
    port: int = typer.Option(502, help="Modbus TCP port"),
    mapping: Path = typer.Option(..., exists=True, dir_okay=False, help=MAPPING_HELP),
    interval: float = typer.Option(1.0, min=0.05, help="seconds between polls"),
    timeout: float = typer.Option(
        1.0, min=0.05, help="seconds before an unanswered request marks a unit silent"
    ),
    name: str = typer.Option("modbus", help="adapter name (health file name)"),
) -> None:
    """Modbus TCP polling: coils/discrete inputs → grid.scada (on change), registers → grid.sensor."""
    import logging

    from gridmon.adapters.modbus.poller import ModbusAdapter, ModbusOptions

    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # timeouts are reported in health instead
    table = load_mapping(mapping).modbus
    if not table.points:
        raise ConfigError(
            f"{mapping} has no [[modbus.points]]: add the points to poll (see docs/adapters.md)"
        )
    options = ModbusOptions(host, port, poll_interval_s=interval, timeout_s=timeout)
    _serve(ModbusAdapter(options, table), name, ["scada", "sensor"])


@adapt_app.command("simulate-modbus")
def simulate_modbus(
    port: int = typer.Option(5020, help="TCP port on 127.0.0.1"),
    units: int = typer.Option(1, min=1, max=247, help="Modbus units 1..N, 64 points of each table"),
) -> None:
    """A simulated Modbus TCP outstation on loopback, every point 0 (for trying the modbus adapter)."""
    from gridmon.adapters.modbus.simulator import ModbusSimulator

    async def serve() -> None:
        simulator = await ModbusSimulator(units=range(1, units + 1), port=port).start()
        console.print(
            f"simulated Modbus outstation (units 1..{units}) on 127.0.0.1:{simulator.port}; Ctrl-C stops"
        )
        await _signalled()
        await simulator.stop()

    asyncio.run(serve())


@adapt_app.command("openfmb")
def openfmb(
    mapping: Path = typer.Option(..., exists=True, dir_okay=False, help=MAPPING_HELP),
    name: str = typer.Option("openfmb", help="adapter name (health file name)"),
) -> None:
    """OpenFMB 2.2 over NATS (server from GRIDMON_NATS_URL/USER/PASSWORD/TOKEN/TLS_CA) → grid.meter/scada."""
    from gridmon.adapters.openfmb.client import NatsSettings, OpenFmbAdapter

    table = load_mapping(mapping).openfmb
    if not table.devices:
        raise ConfigError(
            f"{mapping} has no [openfmb.devices]: map equipment mRIDs to devices (see docs/adapters.md)"
        )
    _serve(OpenFmbAdapter(NatsSettings(), table), name, ["meter", "scada"])


@adapt_app.command("simulate-pdc")
def simulate_pdc(
    pmus: int = typer.Option(8, min=1, max=2000, help="PMUs in the stream (IDCODEs 101, 102, …)"),
    rate: int = typer.Option(30, min=1, max=240, help="frames per second"),
    port: int = typer.Option(4712, help="TCP port on 127.0.0.1"),
) -> None:
    """A simulated C37.118.2 PDC on loopback (for demos and trying the c37118 adapter)."""
    from gridmon.adapters.c37118.simulator import PdcSimulator, simulated_config

    async def serve() -> None:
        simulator = await PdcSimulator(simulated_config(pmus, rate=rate), port=port).start()
        console.print(
            f"simulated PDC (IDCODE 1, {pmus} PMUs at {rate}/s) on 127.0.0.1:{simulator.port}; Ctrl-C stops"
        )
        await _signalled()
        await simulator.stop()

    asyncio.run(serve())


@adapt_app.command("status")
def status() -> None:
    """Health of the adapters that ran with this data dir: state, counts, dead letters, lag."""
    from gridmon.settings import load_settings

    directory = load_settings().data_dir / "adapters"
    records = read_health(directory) if directory.exists() else []
    if not records:
        console.print(
            f"no adapter health in {directory}: start one with `gridmon adapt c37118|mqtt|modbus|openfmb …`"
        )
        return
    table = Table(
        "adapter",
        "endpoint",
        "state",
        "readings",
        "dead letters",
        "reconnects",
        "lag s",
        "updated",
        "last error",
    )
    for record in records:
        age = (time.time_ns() - int(str(record.get("updated_ns", 0)))) / 1e9
        lag = record.get("lag_s")
        table.add_row(
            str(record["adapter"]), str(record["endpoint"]), str(record["state"]),
            str(record["readings_published"]), str(record["dead_letters"] or "-"), str(record["reconnects"]),
            "-" if lag is None else f"{float(str(lag)):.1f}", f"{age:.0f}s ago", _problem(record)[:80],
        )  # fmt: skip
    console.print(table)


def _problem(record: dict[str, object]) -> str:
    """Devices not answering come first: they matter more than the last error of a session."""
    silent = record.get("unresponsive") or []
    prefix = f"not answering: {'; '.join(map(str, silent))}. " if isinstance(silent, list) and silent else ""
    return prefix + str(record["last_error"])


def register(app: typer.Typer) -> None:
    app.add_typer(adapt_app, name="adapt")
