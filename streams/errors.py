"""The one exception tree of gridmon. Every error says what the user can do about it.

GridmonError
├── ConfigError          a setting is missing or wrong (names the GRIDMON_* variable)
├── BrokerError          Kafka is unreachable, refused us, or the embedded broker failed to start
├── StorageError         ClickHouse is unreachable, refused a query, or a migration failed
├── GridModelError       a network model cannot be imported or is not a valid radial network
├── SchemaError          a topic schema or catalog entry is inconsistent
└── AdapterError         a field protocol adapter cannot connect or decode
"""

from __future__ import annotations


class GridmonError(Exception):
    """Root of every error gridmon raises on purpose."""


class ConfigError(GridmonError):
    """A setting is missing or invalid."""


class BrokerError(GridmonError):
    """Kafka (real or embedded) cannot be used."""


class StorageError(GridmonError):
    """ClickHouse (server or embedded chdb) cannot be used."""


class GridModelError(GridmonError):
    """A grid model is invalid or cannot be imported."""


class SchemaError(GridmonError):
    """A topic catalog entry or schema is inconsistent."""


class AdapterError(GridmonError):
    """A field protocol adapter failed."""
