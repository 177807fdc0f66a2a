"""The oscillation window keeps rows only for devices that send the signal, and survives a checkpoint."""

from __future__ import annotations

import numpy as np
import pytest

from gridmon.detect.pmu import OscillationWindow

SECOND = 1_000_000_000


def _feed(window: OscillationWindow, start_ns: int, seconds: float) -> int:
    """30 fps for two PMUs among a million devices: #7 oscillates at 0.5 Hz (20 mHz), #999,999 is steady."""
    ts = start_ns + (np.arange(int(seconds * 30)) * SECOND // 30)
    for device, amplitude in ((7, 0.02), (999_999, 0.0)):
        values = 60.0 + amplitude * np.sin(2 * np.pi * 0.5 * (ts - start_ns) / SECOND)
        window.add(np.full(len(ts), device), ts, values)
    return int(ts[-1])


def test_rows_only_for_reporting_devices_and_the_mode_is_found() -> None:
    window = OscillationWindow(12.0, 10.0, devices=1_000_000)
    now = _feed(window, 1_700_000_000 * SECOND, 15.0)
    assert window.values.shape == (2, 120)  # not (1,000,000, 120): 2 GB per window on a 1M-meter grid
    devices, amplitude, snr = window.modes(now, (0.1, 2.0))
    by_device = dict(zip(devices.tolist(), amplitude.tolist(), strict=True))
    assert by_device[7] == pytest.approx(0.02, rel=0.3)
    assert by_device[999_999] < 0.002


def test_a_restored_window_gives_the_same_modes() -> None:
    window = OscillationWindow(12.0, 10.0, devices=1_000_000)
    now = _feed(window, 1_700_000_000 * SECOND, 15.0)
    restored = OscillationWindow(12.0, 10.0, devices=1_000_000)
    restored.load({key: array.copy() for key, array in window.arrays().items()})
    for got, expected in zip(restored.modes(now, (0.1, 2.0)), window.modes(now, (0.1, 2.0)), strict=True):
        np.testing.assert_array_equal(got, expected)
    _feed(restored, now + SECOND // 30, 1.0)  # a restored window keeps filling the rows it knows
    assert restored.values.shape == (2, 120)
