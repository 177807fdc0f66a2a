"""docker-compose.yml validates against the Compose Specification JSON schema (from the docker-compose 1.29.2
wheel the Makefile downloads into .venv/), every gridmon service sets only settings gridmon reads, no secret is
written in the file, and the Dockerfile is slim, pinned and non-root."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gridmon.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]
WHEEL = REPO / ".venv" / "docker_compose-1.29.2-py2.py3-none-any.whl"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$")
# Variables read outside Settings, by os.environ (gridmon.kafka.catalog.topics_dir).
READ_ELSEWHERE = {"GRIDMON_TOPICS_DIR"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    if not WHEEL.exists():
        pytest.fail(
            f"{WHEEL.name} missing: run `make` (pip download --no-deps -d .venv docker-compose==1.29.2)"
        )
    with zipfile.ZipFile(WHEEL) as wheel:
        schema = json.loads(wheel.read("compose/config/compose_spec.json"))
    # `name` (the project name) came to the specification after this schema; x- keys are YAML anchors only.
    document = {key: value for key, value in compose.items() if not key.startswith("x-") and key != "name"}
    validator = jsonschema.Draft7Validator(schema)
    validator.validate(document)
    broken = document | {"services": {"worker": {"image": "gridmon:1", "replicas_typo": 3}}}
    assert not validator.is_valid(broken)  # the schema is strict: an unknown key fails
    assert {"kafka", "clickhouse", "grafana", "worker", "topics-init", "db-migrate"} <= set(
        compose["services"]
    )


def test_every_gridmon_variable_is_one_gridmon_reads(compose: dict[str, Any]) -> None:
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | READ_ELSEWHERE
    for name, service in compose["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith(ENV_PREFIX):
                assert variable in known, f"service {name} sets {variable}, which gridmon does not read"


def test_no_secret_is_written_in_the_compose_file(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for variable, value in service.get("environment", {}).items():
            if SECRET_NAME.search(variable):
                assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]*)?\}", str(value)), (
                    f"{name}: {variable} is not from .env"
                )
    example = (REPO / ".env.example").read_text()
    for line in example.splitlines():
        if "=" in line and not line.startswith("#"):
            variable, value = line.split("=", 1)
            assert not (SECRET_NAME.search(variable) and value), f".env.example gives a value to {variable}"


def test_workers_scale_and_wait_for_the_init_jobs(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker  # both would break --scale
    assert worker["depends_on"]["topics-init"]["condition"] == "service_completed_successfully"
    assert worker["depends_on"]["db-migrate"]["condition"] == "service_completed_successfully"
    assert compose["services"]["topics-init"]["command"] == ["gridmon", "topics", "apply"]
    assert compose["services"]["db-migrate"]["command"] == ["gridmon", "db", "migrate"]
    for name in ("kafka", "clickhouse", "grafana", "worker"):
        assert "healthcheck" in compose["services"][name], name
    for name, service in compose["services"].items():
        assert ":" in service.get("image", "gridmon:latest"), f"{name}: pin the image tag"
        assert not service.get("image", "").endswith(":latest") or name in (
            "worker",
            "topics-init",
            "db-migrate",
        )
    assert worker["environment"]["GRIDMON_KAFKA_SASL_MECHANISM"].startswith("SCRAM-")


def test_grafana_mounts_the_provisioning_and_dashboards(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./dashboards/provisioning"
    assert mounts["/var/lib/grafana/dashboards/gridmon"] == "./dashboards/json"
    assert grafana["environment"]["GF_INSTALL_PLUGINS"].startswith("grafana-clickhouse-datasource ")
    for mount in (
        volume.split(":")[0] for s in compose["services"].values() for volume in s.get("volumes", [])
    ):
        if mount.startswith("./"):
            assert (REPO / mount).exists(), f"mounted path {mount} is missing"


def test_dockerfile_is_slim_pinned_and_non_root() -> None:
    lines = [line.strip() for line in (REPO / "Dockerfile").read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    base = [line for line in instructions if line.startswith("FROM ")]
    assert len(base) == 1 and re.fullmatch(
        r"FROM python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base[0]
    )
    users = [line for line in instructions if line.startswith("USER ")]
    assert users and not users[-1].split()[1].startswith(("root", "0"))
    assert "GRIDMON_TOPICS_DIR=/app/topics" in " ".join(instructions)
    assert any(line.startswith("COPY topics") for line in instructions)
    assert not any(
        SECRET_NAME.search(line.split("=")[0]) for line in instructions if line.startswith(("ENV", "ARG"))
    )
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", ".gridmon"} <= set(ignored)
