"""`gridmon broker`: run the embedded Kafka-compatible broker in the foreground for other processes."""

from __future__ import annotations

import signal
import threading

import typer
from rich.console import Console

from gridmon.errors import ConfigError
from gridmon.kafka.embedded import EmbeddedBroker, address_file, write_address
from gridmon.settings import load_settings


def broker(port: int = typer.Option(0, help="loopback port; 0 = a free one")) -> None:
    """Run the embedded broker until Ctrl-C; its address is written to <data dir>/broker.json."""
    settings = load_settings()
    if settings.kafka_bootstrap:
        raise ConfigError("GRIDMON_KAFKA_BOOTSTRAP is set: unset it to run the embedded broker")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmbeddedBroker(log_path=settings.data_dir / "broker.log", port=port) as running:
        path = write_address(settings, running)
        Console().print(
            f"embedded broker on [bold]{running.bootstrap}[/] (address in {path}); Ctrl-C stops it"
        )
        try:
            while not stop.wait(0.5):
                if running.process is None or running.process.poll() is not None:
                    raise ConfigError("the embedded broker exited; see <data dir>/broker.log")
        except KeyboardInterrupt:
            pass
        finally:
            address_file(settings).unlink(missing_ok=True)


def register(app: typer.Typer) -> None:
    app.command("broker")(broker)
