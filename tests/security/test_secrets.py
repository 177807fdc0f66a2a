"""Secrets: masked in `gridmon config` and in error messages, and none committed to the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from gridmon.cli import config_cmd
from gridmon.errors import StorageError
from gridmon.settings import get_settings, load_settings
from gridmon.store.client import connect

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Sup3r-S3cret-Passw0rd"
SECRET_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH |DSA |ENCRYPTED )?PRIVATE KEY-----"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "password in a URL": re.compile(r"\b(?:kafka|https?|clickhouse)://[^/\s:@]+:[^/\s@]{6,}@"),
    "assigned secret": re.compile(
        r"(?i)\b(?:password|passwd|secret|api_key|token)\s*[:=]\s*['\"][A-Za-z0-9+/=_\-]{16,}['\"]"
    ),
}
# Values that look like secrets but are not: the documented development default of the pseudonym key.
ALLOWED = {"gridmon-dev-pseudonym-key"}


def test_config_output_masks_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("KAFKA_SASL_PASSWORD", "CLICKHOUSE_PASSWORD", "HMAC_KEY", "PSEUDONYM_KEY"):
        monkeypatch.setenv(f"GRIDMON_{variable}", PASSWORD)
    get_settings.cache_clear()
    app = typer.Typer()
    app.callback()(lambda: None)
    config_cmd.register(app)
    for args in (["config"], ["config", "--json"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert PASSWORD not in result.output and "**********" in result.output
    assert PASSWORD not in repr(load_settings()) and PASSWORD not in str(load_settings().model_dump())


def test_connection_errors_do_not_show_the_password(tmp_path: Path) -> None:
    settings = load_settings(
        clickhouse_url="http://127.0.0.1:9", clickhouse_password=PASSWORD, data_dir=tmp_path
    )
    with pytest.raises(StorageError) as caught:
        connect(settings)
    assert PASSWORD not in str(caught.value) and "GRIDMON_CLICKHOUSE_URL" in str(caught.value)


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return [REPO_ROOT / name.decode() for name in listed if name]


def test_no_secret_is_committed() -> None:
    findings = []
    files = tracked_files()
    assert len(files) > 50  # the scan really sees the repository
    for path in files:
        if path.name == ".env" or path.suffix in (".pem", ".key", ".p12", ".jks"):
            findings.append(f"{path.relative_to(REPO_ROOT)}: a secrets file is tracked")
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        for what, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                if not any(allowed in match.group(0) for allowed in ALLOWED) and path != Path(__file__):
                    findings.append(f"{path.relative_to(REPO_ROOT)}: {what}: {match.group(0)[:40]}")
    assert not findings, "\n".join(findings)


def test_the_scan_finds_a_planted_secret() -> None:
    planted = 'password = "hunter2hunter2hunter2"\n-----BEGIN PRIVATE KEY-----'
    assert SECRET_PATTERNS["assigned secret"].search(planted)
    assert SECRET_PATTERNS["private key"].search(planted)
