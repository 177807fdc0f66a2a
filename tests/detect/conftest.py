"""Fixtures for the detector tests: a bank over a synthetic fleet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from detect_synthetic import fleet

from gridmon.detect import BankConfig, DetectorBank


@pytest.fixture
def make_bank() -> Callable[..., DetectorBank]:
    def make(devices: int = 6, config: BankConfig | None = None, **kwargs: Any) -> DetectorBank:
        return DetectorBank(config or BankConfig(), fleet(devices, **kwargs))

    return make
