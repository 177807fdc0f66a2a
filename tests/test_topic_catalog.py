"""The topic catalog: schemas generated from the records, valid examples, docs not stale, apply idempotent."""

from __future__ import annotations

import jsonschema
import pytest

from gridmon.cli.topics_cmd import DOCS_PATH, sync_catalog
from gridmon.kafka.admin import apply_topics
from gridmon.kafka.catalog import load_catalog, validate_example
from gridmon.kafka.clients import make_admin
from gridmon.settings import Settings

EXPECTED = {"grid.pmu", "grid.sensor", "grid.meter", "grid.scada", "grid.anomalies", "grid.outages"}


def test_catalog_has_inputs_and_outputs() -> None:
    catalog = load_catalog()
    assert EXPECTED | {"grid.deadletter"} <= set(catalog)
    assert {s.name for s in catalog.values() if s.direction == "input"} == {
        "grid.pmu",
        "grid.sensor",
        "grid.meter",
        "grid.scada",
    }


@pytest.mark.parametrize("name", sorted(EXPECTED | {"grid.deadletter"}))
def test_example_is_valid_for_its_schema(name: str) -> None:
    spec = load_catalog()[name]
    validate_example(spec)
    jsonschema.validate(spec.example, spec.value_schema)


def test_checked_in_schemas_and_docs_are_fresh() -> None:
    stale = sync_catalog(DOCS_PATH, write=False)
    assert stale == [], f"run `gridmon topics sync`: stale {stale}"


def test_apply_creates_then_is_idempotent(settings: Settings) -> None:
    admin = make_admin(settings, settings.kafka_bootstrap or "")
    specs = list(load_catalog().values())
    first = apply_topics(admin, settings, specs)
    assert {c.action for c in first} == {"created"}
    second = apply_topics(admin, settings, specs)
    assert {c.action for c in second} == {"unchanged"}
    topics = admin.list_topics(timeout=10).topics
    assert len(topics[settings.topic("grid.pmu")].partitions) == settings.partitions
