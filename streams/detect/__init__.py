"""Online anomaly detection: limits, adaptive baselines, PMU checks and data quality over columnar batches,
with an anomaly lifecycle (open → update → close) and state that survives restarts."""

from gridmon.detect.bank import DetectorBank
from gridmon.detect.config import (
    BankConfig,
    BaselineConfig,
    ClassConfig,
    LimitConfig,
    PmuConfig,
    QualityConfig,
)
from gridmon.detect.context import DeviceContext
from gridmon.detect.lifecycle import SEVERITIES, anomaly_id

__all__ = [
    "SEVERITIES",
    "BankConfig",
    "BaselineConfig",
    "ClassConfig",
    "DetectorBank",
    "DeviceContext",
    "LimitConfig",
    "PmuConfig",
    "QualityConfig",
    "anomaly_id",
]
