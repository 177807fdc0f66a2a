"""Modbus TCP polling: coils/discrete inputs → breaker state changes, registers → scaled sensor readings."""
