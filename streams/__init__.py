"""gridmon: a streaming monitor for electricity distribution grids.

Kafka topics carry PMU, sensor, meter and SCADA readings into stream processors that validate them, detect
anomalies, correlate outages over the grid topology and store everything in ClickHouse for Grafana.
"""

from gridmon.errors import GridmonError
from gridmon.settings import Settings, get_settings

__version__ = "0.1.0"
__all__ = ["GridmonError", "Settings", "get_settings", "__version__"]
