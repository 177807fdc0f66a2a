"""Field protocol adapters: C37.118.2 synchrophasors, MQTT, Modbus → gridmon input topics.

Every adapter implements `FieldAdapter` (connect → pump → close) and runs under `run_adapter`, which owns
reconnection with backoff, health reporting and the final flush.
"""

from gridmon.adapters.base import Backoff, FieldAdapter, run_adapter
from gridmon.adapters.health import AdapterHealth, health_path, read_health, write_health
from gridmon.adapters.mapping import MappingFile, load_mapping, parse_mapping
from gridmon.adapters.publisher import EnvelopePublisher, adapter_dead_letter

__all__ = [
    "AdapterHealth",
    "Backoff",
    "EnvelopePublisher",
    "FieldAdapter",
    "MappingFile",
    "adapter_dead_letter",
    "health_path",
    "load_mapping",
    "parse_mapping",
    "read_health",
    "run_adapter",
    "write_health",
]
