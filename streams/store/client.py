"""Open ClickHouse for gridmon: a server from `GRIDMON_CLICKHOUSE_URL`, or embedded chdb in the data dir.

One client per (process, target, database, lane) is cached: chdb allows one engine per process, and a
clickhouse-connect client serialises its calls, so every thread and task of a worker can share it. Work that
must not wait behind the others takes a lane of its own (`lane_of(client, name)`): on chdb every client is one
connection handle that runs one call at a time, so a state checkpoint (megabytes) would hold up the stages'
inserts (docs/performance.md, "Lanes").
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any
from urllib.parse import urlsplit

import clickhouse_connect
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError, OperationalError

from gridmon.errors import ConfigError, StorageError
from gridmon.settings import Settings

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
AUTH_FAILED_CODES = (
    192,
    193,
    194,
    516,
)  # UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED

_clients: dict[tuple[int, str, str, str], Any] = {}
_opened_with: dict[int, Settings] = {}  # id of a cached client → the settings it was opened with
_lock = threading.Lock()


def check_identifier(name: str, what: str = "name") -> str:
    """A database/table name we format into SQL must be a plain identifier (values are always parameters)."""
    if not IDENTIFIER.match(name):
        raise ConfigError(f"invalid ClickHouse {what} {name!r}: use letters, digits and _ only")
    return name


def target(settings: Settings) -> str:
    """Where the client connects: the server URL, or the absolute chdb path (both without secrets)."""
    if settings.clickhouse_url is None:
        return f"chdb://{(settings.data_dir / 'clickhouse').resolve()}"
    return settings.clickhouse_url


def connect(settings: Settings, *, lane: str = "") -> Any:
    """The cached client for `settings` and `lane`, working in `settings.clickhouse_database` (created if
    missing). Calls on one lane run one at a time; different lanes run at the same time."""
    database = check_identifier(settings.clickhouse_database, "database (GRIDMON_CLICKHOUSE_DATABASE)")
    key = (os.getpid(), target(settings), database, lane)
    with _lock:
        client = _clients.get(key)
        if client is None or _is_closed(client):
            client = _open(settings, database)
            _clients[key] = client
            _opened_with[id(client)] = settings
        return client


def lane_of(client: Any, lane: str) -> Any:
    """The client on `lane` to the same ClickHouse and database as `client` (from `connect`); a client
    opened any other way is its own only lane."""
    with _lock:
        settings = _opened_with.get(id(client))
    return client if settings is None else connect(settings, lane=lane)


make_client = connect  # the name other packages look up


def close_all() -> None:
    """Close every cached client of this process (tests, and before handing the chdb folder to another process)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
        _opened_with.clear()


def _is_closed(client: Any) -> bool:
    try:
        client.query("SELECT 1")
    except ClickHouseError:
        return True
    return False


def _open(settings: Settings, database: str) -> Any:
    client = _open_embedded(settings) if settings.clickhouse_url is None else _open_server(settings)
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    except ClickHouseError as exc:
        client.close()
        raise StorageError(
            f"cannot create the ClickHouse database {database!r} at {target(settings)}: {first_line(exc)}; "
            "create it yourself or give the user CREATE DATABASE rights (GRIDMON_CLICKHOUSE_USER)"
        ) from exc
    client.database = database
    return client


def _open_embedded(settings: Settings) -> Any:
    path = (settings.data_dir / "clickhouse").resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(dsn=f"chdb:///{path}")
    except OSError as exc:
        raise StorageError(f"cannot create the chdb folder {path}: {exc}; set GRIDMON_DATA_DIR") from exc
    except Exception as exc:  # chdb raises RuntimeError/ProgrammingError when the folder is taken
        raise StorageError(
            f"cannot open the embedded ClickHouse at {path}: {first_line(exc)}. chdb allows one process per "
            "folder: stop the other gridmon process using it, or set GRIDMON_DATA_DIR to another folder "
            "(or GRIDMON_CLICKHOUSE_URL to use a ClickHouse server)"
        ) from exc


def _open_server(settings: Settings) -> Any:
    url = settings.clickhouse_url or ""
    parts = urlsplit(url)
    try:
        return clickhouse_connect.get_client(
            host=parts.hostname,
            port=parts.port or (8443 if parts.scheme == "https" else 8123),
            secure=parts.scheme == "https",
            username=settings.clickhouse_user,
            password=settings.clickhouse_password.get_secret_value(),
            connect_timeout=10,
            send_receive_timeout=300,
            # One cached client serves every thread of a worker: an HTTP session would refuse concurrent
            # queries ("concurrent queries within the same session"); gridmon keeps no session state.
            autogenerate_session_id=False,
        )
    except OperationalError as exc:
        raise StorageError(
            f"cannot reach ClickHouse at {url}: {first_line(exc)}; check that it runs and that "
            "GRIDMON_CLICKHOUSE_URL is right (unset it to use the embedded chdb)"
        ) from exc
    except DatabaseError as exc:
        if getattr(exc, "code", None) in AUTH_FAILED_CODES or "Authentication failed" in str(exc):
            raise StorageError(
                f"ClickHouse at {url} refused the login for user {settings.clickhouse_user!r}: set "
                "GRIDMON_CLICKHOUSE_USER and GRIDMON_CLICKHOUSE_PASSWORD"
            ) from exc
        raise StorageError(f"ClickHouse at {url} refused the connection: {first_line(exc)}") from exc


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def query_dicts(
    client: Any, query: str, parameters: dict[str, Any] | None = None, *, what: str = "rows"
) -> list[dict[str, Any]]:
    """Run a parameterized query and return its rows as dicts; a failure is a StorageError naming `what`."""
    try:
        result = client.query(query, parameters=parameters or {})
    except Exception as exc:  # clickhouse-connect's DatabaseError family, or chdb's
        raise StorageError(
            f"cannot read {what} from ClickHouse: {first_line(exc)} (run `gridmon db migrate` first?)"
        ) from exc
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
