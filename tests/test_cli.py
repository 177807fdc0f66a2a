"""The command line: every registered group loads, `python -m gridmon` works, errors are one clear line."""

from __future__ import annotations

import os
import subprocess
import sys

from gridmon.cli import GROUPS

EXPECTED = {"demo", "worker", "broker", "topics", "db", "query", "grid", "simulate", "status", "config"}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gridmon", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=120,
    )


def test_help_lists_every_command_group() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    listed = {
        line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ") and line.split()[1:]
    }
    assert listed >= EXPECTED
    assert len(GROUPS) >= len(EXPECTED) - 1


def test_a_gridmon_error_is_one_line_without_traceback() -> None:
    result = run_cli(
        "worker", "--model", "/nonexistent/grid.model", env={"GRIDMON_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr


def test_registering_the_commands_twice_adds_each_once() -> None:
    from gridmon.cli import _register_all, app

    _register_all()
    names = [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]
    groups = [g.name for g in app.registered_groups]
    _register_all()
    assert [c.name or c.callback.__name__ for c in app.registered_commands if c.callback] == names
    assert [g.name for g in app.registered_groups] == groups
    assert len(set(names)) == len(names) and len(set(groups)) == len(groups)
