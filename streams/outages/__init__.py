"""Outage correlation: route meter/SCADA/PMU evidence by feeder, locate faults on the grid model, follow them
to restoration, advise isolation, warn about devices at risk, and compute IEEE 1366 reliability indices.
"""

from gridmon.outages.config import CorrelatorConfig
from gridmon.outages.correlator import OutageCorrelator
from gridmon.outages.reliability import Indices, reliability
from gridmon.outages.routing import FeederRouter

__all__ = ["CorrelatorConfig", "FeederRouter", "Indices", "OutageCorrelator", "reliability"]
