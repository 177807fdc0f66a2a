"""Fixtures for outage tests: a generated two-feeder model with a tie, and builders of field events."""

from __future__ import annotations

import pytest
from outage_fields import Field

from gridmon.grid import GridModel
from gridmon.grid.generate import generate


@pytest.fixture(scope="session")
def model() -> GridModel:
    return generate("small", seed=1)


@pytest.fixture
def field(model: GridModel) -> Field:
    return Field(model)
