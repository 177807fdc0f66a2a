"""The grid model (devices, zones, lookups) and its importers: OpenDSS, CIM, and generated feeders.

`GridModel.load(path)` reads a saved model; `default_model_path(settings)` is where the CLI keeps it;
`import_network(path)` imports any supported file; `generate(size, seed=)` builds a synthetic network.
"""

from __future__ import annotations

from pathlib import Path

from gridmon.grid.generate import generate
from gridmon.grid.model import PROTECTIVE_KINDS, Device, DeviceKind, GridModel, Tie
from gridmon.grid.sources import Network, import_network, read_network
from gridmon.grid.validate import Finding, Report, Severity, validate
from gridmon.settings import Settings

__all__ = [
    "PROTECTIVE_KINDS",
    "Device",
    "DeviceKind",
    "Finding",
    "GridModel",
    "Network",
    "Report",
    "Severity",
    "Tie",
    "default_model_path",
    "generate",
    "import_network",
    "read_network",
    "validate",
]


def default_model_path(settings: Settings) -> Path:
    """Where `gridmon grid import|generate` write the model and workers read it: `<data_dir>/grid.model`."""
    return settings.data_dir / "grid.model"
