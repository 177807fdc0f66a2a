"""A ClickHouse HTTP front for the embedded chdb: one process holds the chdb folder, many processes use it.

`gridmon store serve` answers the part of ClickHouse's HTTP interface that clickhouse-connect speaks, so
several workers on one machine share one store through `GRIDMON_CLICKHOUSE_URL`, as with a ClickHouse server.

What it answers: queries and commands with `{name:Type}` parameters (URL or form fields), the `database` and
per-request settings, inserts of any input format (Native from clickhouse-connect) with the statement in the
body or the `query` parameter, request bodies compressed with lz4/zstd/gzip/deflate, `/ping`, and errors as
ClickHouse sends them (`X-ClickHouse-Exception-Code`). What it leaves out: users and TLS (bind it to
loopback only), HTTP sessions (no state survives a request: each runs on a fresh chdb connection) and
streamed responses (a result is materialised before it is sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import re
import tempfile
import uuid
import zlib
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from gridmon.errors import StorageError

log = logging.getLogger(__name__)

# Request parameters that steer the HTTP transport, not the query: never applied as settings.
TRANSPORT_PARAMS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "buffer_size",
        "session_id",
        "session_timeout",
        "session_check",
        "query_id",
        "quota_key",
        "compress",
        "decompress",
        "wait_end_of_query",
        "client_protocol_version",
        "role",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "enable_http_compression",
        "cancel_http_readonly_queries_on_client_close",
    }
)
SETTING_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# `INSERT INTO db.t (a, b) [SETTINGS ...] FORMAT Native` followed by the data (after one line break).
INSERT_HEADER = re.compile(
    rb"^\s*INSERT\s+INTO\s+(?P<target>(?:`[^`]+`|[\w.]+)(?:\.(?:`[^`]+`|\w+))?\s*(?:\([^)]*\))?)"
    rb"\s*(?:SETTINGS\s+(?P<settings>[^\n]*?)\s+)?FORMAT\s+(?P<format>\w+)[ \t]*(?:\r?\n)?",
    re.IGNORECASE,
)
TRAILING_FORMAT = re.compile(rb"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
ERROR_CODE = re.compile(r"Code: (\d+)")
UNKNOWN_ERROR_CODE = 1002


@dataclass(frozen=True)
class Reply:
    """What the front answers: HTTP status, body and ClickHouse's response headers."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Statement:
    """One request's SQL, and for an insert with data: the target, its format and the data bytes."""

    sql: bytes
    insert_target: bytes | None = None
    insert_format: str | None = None
    insert_settings: bytes | None = None
    data: bytes = b""


def split_statement(query_param: str | None, body: bytes) -> Statement:
    """ClickHouse's rule: the SQL is the `query` parameter followed by the body; an `INSERT … FORMAT x`
    takes everything after its format name (and one line break) as data."""
    text = (query_param.encode() + b"\n" + body) if query_param else body
    header = INSERT_HEADER.match(text[:65536])
    if header is None:
        return Statement(text)
    return Statement(
        text[: header.end()],
        insert_target=header.group("target").strip(),
        insert_format=header.group("format").decode(),
        insert_settings=header.group("settings"),
        data=text[header.end() :],
    )


def decompress_body(body: bytes, encoding: str | None) -> bytes:
    """The request body as sent before `Content-Encoding` (clickhouse-connect compresses inserts)."""
    if not encoding or encoding == "identity":
        return body
    if encoding == "lz4":
        return _lz4_frames(body)
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    if encoding == "zstd":
        return _zstd(body)
    raise ValueError(f"unsupported Content-Encoding {encoding!r}: use lz4, zstd, gzip or deflate")


def _lz4_frames(body: bytes) -> bytes:
    """clickhouse-connect sends one LZ4 frame per block: decompress them one after the other."""
    import lz4.frame

    parts: list[bytes] = []
    rest = body
    while rest:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        parts.append(decompressor.decompress(rest))
        rest = decompressor.unused_data
    return b"".join(parts)


def _zstd(body: bytes) -> bytes:
    try:
        from compression import zstd  # type: ignore[import-not-found]  # Python 3.14+
    except ImportError:
        from backports import zstd  # type: ignore[import-not-found,no-redef]
    return bytes(zstd.decompress(body))


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def request_settings(params: Mapping[str, str]) -> dict[str, str]:
    """The ClickHouse settings a request carries as URL parameters (not bind parameters, not transport)."""
    return {
        name: value
        for name, value in params.items()
        if name not in TRANSPORT_PARAMS and not name.startswith("param_") and SETTING_NAME.match(name)
    }


def bind_parameters(params: Mapping[str, str]) -> dict[str, str]:
    """`param_x=…` → `{x:Type}` values, as text in ClickHouse's escaped form (chdb takes the same)."""
    return {name[6:]: value for name, value in params.items() if name.startswith("param_")}


class ChdbFront:
    """Runs ClickHouse HTTP requests on the chdb engine of one folder (this process must be its only user)."""

    def __init__(self, path: Path) -> None:
        import chdb

        self.path = path.resolve()
        self.path.mkdir(parents=True, exist_ok=True)
        self._connect = cast("Callable[[str], Any]", chdb.connect)  # chdb is untyped
        try:
            self._engine = self._connect(str(self.path))  # holds the engine open between requests
        except Exception as exc:  # chdb raises RuntimeError when another process holds the folder
            raise StorageError(
                f"cannot open the embedded ClickHouse at {self.path}: {exc}. chdb allows one process per "
                "folder: stop the gridmon process using it, or serve another GRIDMON_DATA_DIR"
            ) from exc
        self.timezone = self._engine.query("SELECT timezone()", "TabSeparated").bytes().decode().strip()
        self._scratch = Path(tempfile.mkdtemp(prefix="insert-", dir=self.path.parent))

    def close(self) -> None:
        import shutil

        self._engine.close()
        shutil.rmtree(self._scratch, ignore_errors=True)

    def execute(self, params: Mapping[str, str], body: bytes) -> Reply:
        """Run one request; a ClickHouse error becomes the reply ClickHouse would send."""
        query_id = params.get("query_id") or str(uuid.uuid4())
        headers = {"X-ClickHouse-Query-Id": query_id, "X-ClickHouse-Timezone": self.timezone}
        try:
            statement = split_statement(params.get("query"), body)
            with self._connection(params) as connection:
                if statement.insert_target is not None:
                    result = self._insert(connection, statement)
                    headers["X-ClickHouse-Summary"] = json.dumps(_summary(result, "written"))
                    return Reply(200, b"", headers)
                return self._query(connection, statement, params, headers)
        except Exception as exc:  # chdb raises RuntimeError with ClickHouse's message and code
            return error_reply(exc, headers)

    @contextlib.contextmanager
    def _connection(self, params: Mapping[str, str]) -> Iterator[Any]:
        """A fresh handle per request: settings and `USE` never leak into the next request."""
        connection = self._connect(str(self.path))
        try:
            database = params.get("database")
            if database:
                connection.query(f"USE `{database.replace('`', '')}`", "TabSeparated")
            for name, value in request_settings(params).items():
                connection.query(f"SET {name} = {_quote(value)}", "TabSeparated")
            yield connection
        finally:
            connection.close()

    def _query(
        self, connection: Any, statement: Statement, request: Mapping[str, str], headers: dict[str, str]
    ) -> Reply:
        params = bind_parameters(request)
        trailing = TRAILING_FORMAT.search(statement.sql)
        if trailing is not None:
            result = connection.query(statement.sql.decode(), "TabSeparated", params=params)
            headers["X-ClickHouse-Format"] = trailing.group(1).decode()
            return Reply(200, result.bytes() or b"", headers)
        # A statement without FORMAT: HTTP answers TabSeparated and names the format only when it returns
        # a result set. With names, a result set always has a first line; a command has no output at all.
        fmt = request.get("default_format") or "TabSeparated"
        named = fmt in ("TabSeparated", "TSV")
        result = connection.query(
            statement.sql.decode(), "TabSeparatedWithNames" if named else fmt, params=params
        )
        output = result.bytes() or b""
        if named and output:
            output = output[output.find(b"\n") + 1 :]
        if output or not named:
            headers["X-ClickHouse-Format"] = fmt
        headers["X-ClickHouse-Summary"] = json.dumps(_summary(result, "read"))
        return Reply(200, output, headers)

    def _insert(self, connection: Any, statement: Statement) -> Any:
        """Insert data through a scratch file (`FROM INFILE`): chdb has no request body to read from."""
        with tempfile.NamedTemporaryFile(dir=self._scratch, suffix=".data") as scratch:
            scratch.write(statement.data)
            scratch.flush()
            target = (statement.insert_target or b"").decode()
            clause = f" SETTINGS {statement.insert_settings.decode()}" if statement.insert_settings else ""
            sql = f"INSERT INTO {target} FROM INFILE {_quote(scratch.name)}{clause} FORMAT {statement.insert_format}"
            return connection.query(sql, "TabSeparated")


def error_reply(exc: Exception, headers: dict[str, str]) -> Reply:
    """ClickHouse's error answer: status 500, the code in a header, the message in the body."""
    message = str(exc).strip()
    start = message.find("Code: ")
    message = message[start:] if start > 0 else message
    match = ERROR_CODE.search(message)
    code = match.group(1) if match else str(UNKNOWN_ERROR_CODE)
    if not match:
        message = f"Code: {code}. DB::Exception: {message}"
    return Reply(500, (message + "\n").encode(), {**headers, "X-ClickHouse-Exception-Code": code})


def _summary(result: Any, kind: str) -> dict[str, str]:
    try:
        return {f"{kind}_rows": str(result.rows_read()), f"{kind}_bytes": str(result.bytes_read())}
    except Exception:  # older chdb results have no statistics
        return {}


# --- the HTTP side -----------------------------------------------------------------------------------------


def build_app(front: ChdbFront, threads: int = 8) -> Any:
    """The aiohttp application: `/ping`, and every other path runs a statement (as ClickHouse's `/`)."""
    from aiohttp import web

    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="chdb-front")

    async def ping(_request: web.Request) -> web.Response:
        return web.Response(text="Ok.\n")

    async def statement(request: web.Request) -> web.Response:
        params = dict(request.query)
        body = await request.read()
        if request.content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            form = await request.post()
            params.update({name: str(value) for name, value in form.items() if isinstance(value, str)})
            body = b""
        try:
            body = decompress_body(body, request.headers.get("Content-Encoding"))
        except Exception as exc:  # a corrupt or unknown encoding: ClickHouse answers 400
            return web.Response(status=400, body=f"Code: 1002. DB::Exception: {exc}\n".encode())
        reply = await asyncio.get_running_loop().run_in_executor(pool, front.execute, params, body)
        return web.Response(status=reply.status, body=reply.body, headers=reply.headers)

    async def shutdown(_app: web.Application) -> None:
        pool.shutdown(wait=True)

    app = web.Application(client_max_size=1024**3)
    app.router.add_get("/ping", ping)
    app.router.add_route("*", "/{tail:.*}", statement)
    app.on_cleanup.append(shutdown)
    return app


async def serve(front: ChdbFront, host: str, port: int, started: asyncio.Event | None = None) -> None:
    """Answer on host:port until cancelled."""
    from aiohttp import web

    runner = web.AppRunner(build_app(front), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        log.info("ClickHouse HTTP front for %s on http://%s:%d", front.path, host, port)
        if started is not None:
            started.set()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
