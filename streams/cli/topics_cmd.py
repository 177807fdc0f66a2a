"""`gridmon topics list|apply|sync`: the topic catalog on the cluster and in docs."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from gridmon.kafka import catalog as topic_catalog
from gridmon.kafka.admin import apply_topics
from gridmon.kafka.clients import make_admin
from gridmon.kafka.embedded import kafka_bootstrap
from gridmon.settings import load_settings

topics_app = typer.Typer(help="The topic catalog: list, apply to Kafka, regenerate schemas and docs.")
console = Console()
DOCS_PATH = topic_catalog.REPO_ROOT / "docs" / "topics.md"


@topics_app.command("list")
def list_topics() -> None:
    """Show the catalog."""
    table = Table("topic", "direction", "key", "partitions", "retention (d)", "cleanup", "schema")
    for spec in topic_catalog.load_catalog().values():
        table.add_row(
            spec.name,
            spec.direction,
            spec.key,
            str(spec.partitions or "setting"),
            f"{spec.retention_ms / 86_400_000:g}",
            spec.cleanup_policy,
            spec.schema,
        )
    console.print(table)


@topics_app.command("apply")
def apply() -> None:
    """Create or update every catalog topic on the cluster (idempotent)."""
    settings = load_settings()
    with kafka_bootstrap(settings) as bootstrap:
        changes = apply_topics(
            make_admin(settings, bootstrap), settings, list(topic_catalog.load_catalog().values())
        )
    table = Table("topic", "action", "detail")
    for change in changes:
        table.add_row(change.topic, change.action, change.detail)
    console.print(table)


@topics_app.command("sync")
def sync(
    check: bool = typer.Option(False, "--check", help="fail instead of writing when anything is stale"),
    docs: Path = typer.Option(DOCS_PATH, help="where the Markdown goes"),
) -> None:
    """Regenerate the value schemas in topics/*.json from the records, and docs/topics.md."""
    stale = sync_catalog(docs, write=not check)
    if check and stale:
        console.print(f"[red]stale:[/] {', '.join(stale)} — run `gridmon topics sync`")
        raise typer.Exit(1)
    console.print("catalog up to date" if not stale else f"updated {', '.join(stale)}")


@topics_app.command("docs")
def docs_command(docs: Path = typer.Option(DOCS_PATH, help="where the Markdown goes")) -> None:
    """Write the catalog as Markdown (docs/topics.md); the same as `sync` for the docs part."""
    sync_catalog(docs, write=True)
    console.print(f"wrote {docs}")


def sync_catalog(docs: Path, write: bool) -> list[str]:
    """Names of the files that differ from what the records generate (written when `write`)."""
    folder = topic_catalog.topics_dir()
    stale: list[str] = []
    catalog = {}
    for name, spec in topic_catalog.load_catalog(folder).items():
        fresh = topic_catalog.with_generated_schema(spec)
        topic_catalog.validate_example(fresh)
        catalog[name] = fresh
        if fresh != spec:
            stale.append(f"topics/{name}.json")
            if write:
                topic_catalog.write_catalog_file(fresh, folder)
    markdown = topic_catalog.render_markdown(catalog)
    if not docs.exists() or docs.read_text() != markdown:
        stale.append(str(docs.name))
        if write:
            docs.parent.mkdir(parents=True, exist_ok=True)
            docs.write_text(markdown)
    return stale


def register(app: typer.Typer) -> None:
    app.add_typer(topics_app, name="topics")
