"""`gridmon grid import|validate|show|generate` through the typer app, on the sample CIM feeder."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from gridmon.cli import grid_cmd
from gridmon.grid.model import GridModel

SAMPLE = Path(__file__).parents[2] / "streams" / "grid" / "samples" / "two_feeders.cim.xml"


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None: ...

    grid_cmd.register(app)
    return app


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(_app(), ["grid", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_import_saves_a_model_that_show_prints(tmp_path: Path) -> None:
    out = tmp_path / "grid.model"
    code, output = _run("import", str(SAMPLE), "--out", str(out))
    assert code == 0, output
    assert GridModel.load(out).customers_below("REC1") == 10
    code, output = _run("show", str(out))
    assert code == 0 and "fuse FU1 — 3 customers" in output and "normally-open tie TIE1: L5 ↔ L13" in output
    code, output = _run("show", str(out), "--zones")
    assert code == 0 and "REC1" in output and "inside of" in output


def test_validate_exit_code_follows_errors(tmp_path: Path) -> None:
    code, output = _run("validate", str(SAMPLE))
    assert code == 0 and "0 error(s)" in output
    looped = tmp_path / "looped.xml"
    looped.write_text(
        SAMPLE.read_text().replace("<cim:Switch.normalOpen>true", "<cim:Switch.normalOpen>false")
    )
    code, output = _run("validate", str(looped))
    assert code == 1 and "loop" in output


def test_generate_writes_a_model(tmp_path: Path) -> None:
    out = tmp_path / "small.model"
    code, output = _run("generate", "--size", "small", "--seed", "3", "--out", str(out))
    assert code == 0, output
    assert len(GridModel.load(out).indexes_of_kind("meter")) > 500
