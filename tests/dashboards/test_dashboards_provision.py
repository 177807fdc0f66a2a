"""`provision` against a small local HTTP server that implements the Grafana API endpoints it uses, keeps state
like Grafana (adding ids and versions) and records every call: the first run creates everything, a second run
writes nothing, and a changed dashboard is updated alone."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gridmon.dashboards import ClickHouseTarget, connect_grafana, load_alert_rules, load_dashboards, provision

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
TOKEN = "glsa_test_token"


class FakeGrafana:
    """State per object kind, keyed by uid, and the calls received."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.datasources: dict[str, Any] = {}
        self.folders: dict[str, Any] = {}
        self.dashboards: dict[str, Any] = {}
        self.rules: dict[str, Any] = {}
        self.contact_points: dict[str, Any] = {}
        self.policy: dict[str, Any] = {"receiver": "grafana-default-email", "group_by": ["grafana_folder"]}
        self.next_id = 1

    def handle(self, method: str, path: str, query: str, body: Any) -> tuple[int, Any]:
        self.calls.append((method, path))
        parts = path.strip("/").split("/")[1:]  # drop "api"
        routes = {
            ("datasources", "uid"): self.datasources,
            ("folders",): self.folders,
            ("dashboards", "uid"): self.dashboards,
            ("v1", "provisioning", "alert-rules"): self.rules,
        }
        if parts == ["v1", "provisioning", "policies"]:
            if method == "PUT":
                self.policy = body
            return 200, self.policy
        if parts == ["v1", "provisioning", "contact-points"] and method == "GET":
            name = query.removeprefix("name=").replace("+", " ")
            return 200, [p for p in self.contact_points.values() if p["name"] == name]
        if parts[:3] == ["v1", "provisioning", "contact-points"]:
            return self._store(self.contact_points, method, parts[3:], body)
        if parts == ["dashboards", "db"] and method == "POST":
            dashboard = body["dashboard"] | {"id": self._id(), "version": 7}
            self.dashboards[dashboard["uid"]] = {
                "dashboard": dashboard,
                "meta": {"folderUid": body["folderUid"]},
            }
            return 200, {"status": "success", "uid": dashboard["uid"]}
        if parts == ["datasources"] and method == "POST":
            return self._store(self.datasources, "POST", [], body)
        for prefix, store in routes.items():
            if tuple(parts[: len(prefix)]) == prefix:
                return self._store(store, method, parts[len(prefix) :], body)
        return 404, {"message": f"no route {method} {path}"}

    def _store(self, store: dict[str, Any], method: str, rest: list[str], body: Any) -> tuple[int, Any]:
        if method == "GET":
            return (200, store[rest[0]]) if rest and rest[0] in store else (404, {"message": "not found"})
        if method == "PUT" and rest and rest[0] not in store:
            return 404, {"message": "not found"}
        stored = copy.deepcopy(body) | {"id": self._id(), "version": 3, "orgID": 1}
        store[body["uid"]] = stored
        return 200, stored

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    def writes(self) -> list[tuple[str, str]]:
        return [call for call in self.calls if call[0] != "GET"]


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    fake = FakeGrafana()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._reply(401, {"message": "invalid API key"})
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            url = urlsplit(self.path)
            self._reply(*fake.handle(self.command, url.path, url.query, body))

        def _reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _run(url: str, dashboards: list[dict[str, Any]] | None = None) -> Any:
    target = ClickHouseTarget("clickhouse", "grafana", "s3cret")
    return provision(
        connect_grafana(url, TOKEN),
        dashboards if dashboards is not None else load_dashboards(DASHBOARDS),
        load_alert_rules(DASHBOARDS),
        target,
        "http://alerts.example/hook",
    )


def test_first_run_creates_everything_and_a_second_run_changes_nothing(
    grafana: tuple[FakeGrafana, str],
) -> None:
    fake, url = grafana
    first = _run(url)
    assert len(first.created) == 1 + 1 + 6 + 5 + 1  # datasource, folder, dashboards, rules, contact point
    assert set(fake.dashboards) == {d["uid"] for d in load_dashboards(DASHBOARDS)}
    assert fake.datasources["gridmon-clickhouse"]["secureJsonData"] == {"password": "s3cret"}
    assert fake.rules["gridmon-critical-anomaly"]["folderUID"] == "gridmon"
    assert fake.policy["repeat_interval"] == "4h"
    fake.calls.clear()
    second = _run(url)
    assert not second.changed
    assert fake.writes() == []


def test_a_changed_dashboard_is_the_only_write(grafana: tuple[FakeGrafana, str]) -> None:
    fake, url = grafana
    _run(url)
    fake.calls.clear()
    dashboards = load_dashboards(DASHBOARDS)
    dashboards[0]["panels"][0]["title"] = "Renamed"
    report = _run(url, dashboards)
    assert report.updated == [f"dashboard:{dashboards[0]['uid']}"]
    assert fake.writes() == [("POST", "/api/dashboards/db")]


def test_a_wrong_token_is_a_clear_error(grafana: tuple[FakeGrafana, str]) -> None:
    from gridmon.dashboards import ProvisionError

    _, url = grafana
    with pytest.raises(ProvisionError, match="token"):
        provision(connect_grafana(url, "wrong"), [], [], ClickHouseTarget("h", "u", "p"), "http://x")
