"""`gridmon grid import|validate|show|generate`: build, check and look at the network model the workers use.

Models are saved to `<GRIDMON_DATA_DIR>/grid.model` unless `--out` says otherwise; `show` reads that file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table
from rich.tree import Tree

from gridmon.grid.model import KINDS, GridModel
from gridmon.grid.validate import Report, Severity
from gridmon.settings import get_settings

grid_app = typer.Typer(
    help="The grid model: import OpenDSS/CIM, validate, show, generate feeders.", no_args_is_help=True
)
console = Console()
SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "dim"}


def register(app: typer.Typer) -> None:
    app.add_typer(grid_app, name="grid")


def default_path() -> Path:
    from gridmon.grid import default_model_path

    return default_model_path(get_settings())


@grid_app.command("import")
def import_model(
    file: Path = typer.Argument(..., help="an OpenDSS .dss, a CIM RDF/XML file or a saved model"),
    fmt: str | None = typer.Option(None, "--format", help="opendss|cim (default: from the suffix)"),
    overlay: Path | None = typer.Option(None, help="YAML/JSON overlay of protective devices (OpenDSS)"),
    out: Path | None = typer.Option(None, help="where to save the model (default <data_dir>/grid.model)"),
) -> None:
    """Import a network model, check it, and save it for the workers."""
    from gridmon.grid.sources import read_network

    network = read_network(file, fmt, overlay)
    _print_findings(network.report, errors_only=True)
    model = network.build(str(file))
    path = model.save(out or default_path())
    _print_summary(model, f"{file.name} → {path}")
    warnings = sum(1 for f in network.report.findings if f.severity is Severity.WARNING)
    if warnings:
        console.print(f"[yellow]{warnings} warning(s)[/]: run `gridmon grid validate {file}` to see them")


@grid_app.command("validate")
def validate_model(
    file: Path = typer.Argument(..., help="an OpenDSS .dss, a CIM RDF/XML file or a saved model"),
    fmt: str | None = typer.Option(None, "--format", help="opendss|cim|model (default: from the suffix)"),
    overlay: Path | None = typer.Option(None, help="YAML/JSON overlay of protective devices (OpenDSS)"),
) -> None:
    """Report every problem of a model (exit code 1 when there are errors)."""
    from gridmon.grid.sources import read_network

    report = read_network(file, fmt, overlay).report
    _print_findings(report, errors_only=False)
    counts = {severity: 0 for severity in Severity}
    for finding in report.findings:
        counts[finding.severity] += 1
    console.print(", ".join(f"{count} {severity}(s)" for severity, count in counts.items()))
    if not report.ok:
        raise typer.Exit(1)


@grid_app.command("show")
def show_model(
    path: Path | None = typer.Argument(None, help="a saved model (default <data_dir>/grid.model)"),
    zones: bool = typer.Option(False, "--zones", help="a table of zones with their customers"),
    feeder: str | None = typer.Option(None, help="only this feeder"),
    limit: int = typer.Option(40, min=1, help="at most this many feeders (or zones) listed"),
) -> None:
    """Feeders and their protective devices as a tree, or the zones as a table."""
    model = GridModel.load(path or default_path())
    _print_summary(model, str(path or default_path()))
    if zones:
        console.print(_zone_table(model, feeder, limit))
    else:
        console.print(_protection_tree(model, feeder, limit))


@grid_app.command("generate")
def generate_model(
    size: str = typer.Option("small", help="small|medium|large (≈ 1k, 50k, 1M meters)"),
    seed: int = typer.Option(1, help="same seed, same network"),
    out: Path | None = typer.Option(None, help="where to save the model (default <data_dir>/grid.model)"),
) -> None:
    """Generate a realistic network for tests and scale work, and save it."""
    from gridmon.grid.generate import generate

    model = generate(size, seed=seed)
    path = model.save(out or default_path())
    _print_summary(model, f"generated {size} (seed {seed}) → {path}")


def _print_findings(report: Report, *, errors_only: bool) -> None:
    findings = [f for f in report.sorted() if not errors_only or f.severity is Severity.ERROR]
    if not findings:
        return
    table = Table("severity", "code", "device", "finding", title="model findings")
    for finding in findings[:200]:
        style = SEVERITY_STYLE[finding.severity]
        table.add_row(f"[{style}]{finding.severity}[/]", finding.code, finding.device, finding.message)
    console.print(table)
    if len(findings) > 200:
        console.print(f"… and {len(findings) - 200} more")


def _print_summary(model: GridModel, title: str) -> None:
    counts = np.bincount(model.kind_index, minlength=len(KINDS))
    console.print(f"[bold]{title}[/]")
    table = Table("what", "count")
    for code, kind in enumerate(KINDS):
        if counts[code]:
            table.add_row(str(kind), f"{int(counts[code]):,}")
    table.add_row("customers", f"{int(model.customers.sum()):,}")
    table.add_row("feeders", str(len([f for f in model.feeders if f])))
    table.add_row("zones", f"{len(model.zones()):,}")
    table.add_row("ties", str(len(model.ties)))
    console.print(table)


def _protection_tree(model: GridModel, feeder: str | None, limit: int) -> Tree:
    """Sources, then each protective device under the one above it, with the customers it interrupts."""
    tree = Tree("[bold]protection[/] (customers interrupted)")
    zones = model.zones()
    ties = {tie.id: tie for tie in model.ties}
    nodes: dict[str, Tree] = {}
    shown_feeders: set[str] = set()
    for zone in zones:
        above = model.zone_above(zone)
        zone_feeder = model.feeder_of(zone)
        if feeder is not None and zone_feeder not in ("", feeder):
            continue
        if zone_feeder and zone_feeder not in shown_feeders:
            if len(shown_feeders) >= limit:
                continue
            shown_feeders.add(zone_feeder)
        parent = nodes.get(above, tree) if above is not None else tree
        if zone in ties:
            tie = ties[zone]
            parent.add(
                f"[cyan]normally-open tie {zone}[/]: {tie.a_end} ↔ {tie.b_end} (feeder {model.feeder_of(tie.b_end)})"
            )
            continue
        label = f"{model.kind_of(zone)} [bold]{zone}[/]{_feeder_note(model, zone, above)}"
        nodes[zone] = parent.add(f"{label} — {model.customers_below(zone):,} customers")
    hidden = len({model.feeder_of(z) for z in zones} - shown_feeders - {""})
    if hidden and feeder is None:
        tree.add(f"[dim]… {hidden} more feeder(s): use --feeder NAME or --limit[/]")
    return tree


def _feeder_note(model: GridModel, zone: str, above: str | None) -> str:
    feeder = model.feeder_of(zone)
    starts = feeder and (above is None or model.feeder_of(above) != feeder)
    return f" (feeder {feeder})" if starts else ""


def _zone_table(model: GridModel, feeder: str | None, limit: int) -> Table:
    table = Table(
        "zone", "kind", "feeder", "inside zone", "interrupted", "meters", "inside of", title="zones"
    )
    shown = 0
    for zone in model.zones():
        if feeder is not None and model.feeder_of(zone) != feeder:
            continue
        i = model.position(zone)
        members = np.flatnonzero(model.zone_index == i)
        own = int(model.customers[members].sum())
        table.add_row(
            zone,
            str(model.kind_of(zone)),
            model.feeder_of(zone),
            f"{own:,}",
            f"{model.customers_below(zone):,}",
            f"{len(model.meter_indexes_below(i)):,}",
            model.zone_above(zone) or "",
        )
        shown += 1
        if shown >= limit:
            table.caption = "more zones: use --feeder NAME or --limit"
            break
    return table
