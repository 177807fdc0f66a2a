"""`gridmon store serve`: share the embedded ClickHouse (chdb) of one data dir with several processes.

Workers reach it with `GRIDMON_CLICKHOUSE_URL=http://127.0.0.1:<port>`, exactly as they reach a ClickHouse server.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import typer
from rich.console import Console

from gridmon.errors import ConfigError
from gridmon.settings import load_settings

store_app = typer.Typer(help="The embedded ClickHouse store shared over HTTP.", no_args_is_help=True)


@store_app.command("serve")
def serve(
    port: int = typer.Option(8123, help="loopback port (ClickHouse's HTTP port by default)"),
    host: str = typer.Option("127.0.0.1", help="address to bind; it has no users or TLS: keep it loopback"),
) -> None:
    """Hold <data dir>/clickhouse in this process and answer ClickHouse's HTTP interface until Ctrl-C."""
    from gridmon.store.server import ChdbFront
    from gridmon.store.server import serve as serve_front

    settings = load_settings()
    if settings.clickhouse_url:
        raise ConfigError("GRIDMON_CLICKHOUSE_URL is set: unset it to serve the embedded store")
    front = ChdbFront(settings.data_dir / "clickhouse")

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, task.cancel)
        started = asyncio.Event()
        waiting = asyncio.ensure_future(started.wait())
        serving = asyncio.ensure_future(serve_front(front, host, port, started))
        await asyncio.wait({waiting, serving}, return_when=asyncio.FIRST_COMPLETED)
        if serving.done():
            serving.result()  # the bind failed: raise it
        Console().print(
            f"embedded ClickHouse {front.path} on [bold]http://{host}:{port}[/]: "
            f"GRIDMON_CLICKHOUSE_URL=http://{host}:{port}; Ctrl-C stops it",
            highlight=False,
        )
        await serving

    try:
        with contextlib.suppress(asyncio.CancelledError):
            asyncio.run(run())
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}; choose another --port") from exc
    finally:
        front.close()


def register(app: typer.Typer) -> None:
    app.add_typer(store_app, name="store")
