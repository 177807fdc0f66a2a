"""The C37.118.2 codec against frames from an independent implementation (pyc37) and its own encoder."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from pyc37.frame import ConfigFrame2, DataFrame

from gridmon.adapters.c37118.config import encode_cfg2, parse_config
from gridmon.adapters.c37118.data import STAT_NOT_SYNCHRONIZED, DataLayout, encode_data, infer_slots
from gridmon.adapters.c37118.frames import FrameError, FrameSplitter, FrameType, parse_frame, seal
from gridmon.adapters.c37118.simulator import phasors_at, simulated_config

SOC = 1_700_000_000


def _pyc37_stream() -> tuple[ConfigFrame2, bytes]:
    """Two PMUs: float polar phasors with integer FREQ at 60 Hz; integer rectangular at 50 Hz."""
    cfg = ConfigFrame2(
        7, 1_000_000, 2, ["Station A", "Station B"], [101, 102],
        [(True, True, True, False), (False, False, False, False)],
        [3, 2], [1, 0], [1, 0],
        [["VA", "VB", "VC", "ANALOG1"] + [f"BRK{i}" for i in range(16)], ["IA", "IB"]],
        [[(915527, "v")] * 3, [(45776, "i")] * 2],
        [[(1, "pow")], []], [[(0x0000, 0xFFFF)], []], [60, 50], [22, 23], 30,
        soc=SOC, frasec=(0, "+"),
    )  # fmt: skip
    data = DataFrame(
        7,
        [0, 0x2000],
        [[(14635.0, 0.1), (14600.0, -2.0), (14620.0, 2.1)], [(1000, -200), (-300, 400)]],
        [-20, 5],
        [50, -3],
        [[1.0], []],
        [[0x0], []],
        cfg,
        soc=SOC + 1,
        frasec=250_000,
    )
    return cfg, data.convert2bytes()


def test_cfg2_from_pyc37_is_understood() -> None:
    cfg, _ = _pyc37_stream()
    config = parse_config(parse_frame(cfg.convert2bytes()))
    assert config.idcode == 7 and config.time_base == 1_000_000 and config.data_rate == 30
    first, second = config.pmus
    assert (first.idcode, first.station, first.polar, first.phasor_float, first.freq_float) == (
        101, "Station A", True, True, False,
    )  # fmt: skip
    assert [c.name for c in first.phasors] == ["VA", "VB", "VC"] and first.analogs == ("ANALOG1",)
    assert first.digital_words == 1 and first.cfg_count == 22 and first.nominal_hz == 60.0
    assert second.nominal_hz == 50.0 and all(c.is_current for c in second.phasors)
    assert second.phasors[0].scale == pytest.approx(0.45776)


def test_data_frame_from_pyc37_decodes_to_engineering_units() -> None:
    cfg, raw = _pyc37_stream()
    layout = DataLayout(parse_config(parse_frame(cfg.convert2bytes())))
    columns = layout.decode([raw, raw])
    assert columns.ts_ns.tolist() == [(SOC + 1) * 10**9 + 250_000_000] * 2
    assert columns.status[0].tolist() == [0, 0x2000]
    assert columns.freq_hz[0].tolist() == pytest.approx([59.980, 50.005])
    assert columns.rocof_hz_s[0].tolist() == pytest.approx([0.5, -0.03])
    assert columns.magnitude[0, 0, :3].tolist() == pytest.approx([14635.0, 14600.0, 14620.0])
    assert columns.angle_deg[0, 0, :3].tolist() == pytest.approx(
        [math.degrees(a) for a in (0.1, -2.0, 2.1)], abs=1e-4
    )
    scale = 0.45776
    assert columns.magnitude[0, 1, 3:5].tolist() == pytest.approx(
        [math.hypot(1000, -200) * scale, 500 * scale]
    )
    assert columns.angle_deg[0, 1, 3:5].tolist() == pytest.approx(
        [math.degrees(math.atan2(-200, 1000)), math.degrees(math.atan2(400, -300))]
    )
    assert not columns.missing.any()


def test_encoded_cfg2_matches_pyc37_byte_for_byte() -> None:
    cfg = ConfigFrame2(
        9, 1_000_000, 1, "Sub 9", 909, (True, False, False, False), 2, 0, 0, ["VA", "IA"],
        [(50000, "v"), (2000, "i")], [], [], 50, 3, 60, soc=SOC, frasec=(0, "+"),
    )  # fmt: skip
    raw = cfg.convert2bytes()
    assert encode_cfg2(parse_config(parse_frame(raw)), SOC, 0) == raw


@pytest.mark.parametrize("pmu_format", [0, 1, 2, 3, 8, 11])
def test_every_phasor_and_frequency_format_round_trips(pmu_format: int) -> None:
    config = simulated_config(3, rate=60, fmt=pmu_format)
    ts_ns = SOC * 10**9 + 500_000_000
    truth = [phasors_at(ts_ns, index) for index in range(3)]
    raw = encode_data(config, SOC, 500_000, [0, 1, 2], truth, [59.95, 60.0, 60.012], [0.0, -0.25, 1.5])
    columns = DataLayout(config).decode([raw])
    tolerance = 1e-3 if pmu_format & 2 else 0.02  # integer phasors quantise to scale/2
    for index in range(3):
        assert columns.magnitude[0, index].tolist() == pytest.approx(
            [abs(v) for v in truth[index]], rel=tolerance
        )
        angles = [math.degrees(math.atan2(v.imag, v.real)) for v in truth[index]]
        assert columns.angle_deg[0, index].tolist() == pytest.approx(angles, abs=0.01)
    assert columns.freq_hz[0].tolist() == pytest.approx([59.95, 60.0, 60.012], abs=1e-3)
    assert columns.rocof_hz_s[0].tolist() == pytest.approx([0.0, -0.25, 1.5], abs=1e-6)
    assert columns.status[0].tolist() == [0, 1, 2]


def test_clock_failure_in_time_quality_marks_readings_unsynchronised() -> None:
    config = simulated_config(2, fmt=2)
    truth = [phasors_at(0, i) for i in range(2)]
    good = encode_data(config, SOC, 0, [0, 0], truth, [60.0, 60.0], [0.0, 0.0])
    bad = encode_data(config, SOC, 0, [0, 0], truth, [60.0, 60.0], [0.0, 0.0], time_quality=0x0F)
    columns = DataLayout(config).decode([good, bad])
    assert columns.status[0].tolist() == [0, 0]
    assert columns.status[1].tolist() == [STAT_NOT_SYNCHRONIZED] * 2
    assert columns.time_quality.tolist() == [0, 0x0F]


def test_missing_values_are_flagged_per_pmu() -> None:
    config = simulated_config(2, fmt=2)  # float rectangular phasors
    truth = [phasors_at(0, i) for i in range(2)]
    truth[1][4] = complex(float("nan"), 0.0)
    raw = encode_data(config, SOC, 0, [0, 0], truth, [60.0, 60.0], [0.0, 0.0])
    assert DataLayout(config).decode([raw]).missing.tolist() == [[False, True]]


def test_cfg3_with_phase_codes_and_scales() -> None:
    body = struct.pack(">HIH", 0, 1_000_000, 1)
    body += bytes([6]) + b"Feeder" + struct.pack(">H", 77) + bytes(16) + struct.pack(">HHHH", 2, 2, 0, 0)
    body += bytes([4]) + b"VPHB" + bytes([4]) + b"IPHC"
    body += struct.pack(">HBBff", 0, 0x05, 0, 1.0, math.radians(10.0))  # voltage, phase B, 10° offset
    body += struct.pack(">HBBff", 0, 0x0E, 0, 1.0, 0.0)  # current, phase C
    body += struct.pack(">fffBff", 45.0, 7.0, 100.0, 0, 0.0, 0.0)
    body += struct.pack(">HHh", 1, 4, 50)
    config = parse_config(parse_frame(seal(body, FrameType.CFG3, 77, SOC, 0, version=2)))
    pmu = config.pmus[0]
    assert (config.version, pmu.station, pmu.idcode, pmu.nominal_hz, config.data_rate) == (
        3,
        "Feeder",
        77,
        50.0,
        50,
    )
    assert [(c.phase, c.is_current) for c in pmu.phasors] == [("B", False), ("C", True)]
    assert infer_slots(pmu) == [1, 5]
    raw = encode_data(config, SOC, 0, [0], [[complex(7000, 0), complex(0, 100)]], [50.0], [0.0])
    columns = DataLayout(config).decode([raw])
    assert columns.angle_deg[0, 0, [1, 5]].tolist() == pytest.approx([10.0, 90.0])


def test_slots_come_from_names_then_order() -> None:
    config = simulated_config(1)
    assert infer_slots(config.pmus[0]) == [0, 1, 2, 3, 4, 5]


def test_splitter_resynchronises_after_garbage_and_rejects_bad_crc() -> None:
    config = simulated_config(1)
    frame = encode_data(config, SOC, 0, [0], [phasors_at(0, 0)], [60.0], [0.0])
    corrupted = bytearray(frame)
    corrupted[20] ^= 0xFF
    splitter = FrameSplitter()
    pieces = splitter.feed(b"\x01\x02garbage" + frame[:10]) + splitter.feed(
        frame[10:] + bytes(corrupted) + frame
    )
    assert pieces == [frame, bytes(corrupted), frame]
    assert splitter.skipped_bytes == 9
    with pytest.raises(FrameError, match="CRC"):
        parse_frame(bytes(corrupted))
    with pytest.raises(FrameError, match="FRAMESIZE"):
        parse_frame(frame[:-1])


def test_large_batches_decode_in_one_pass() -> None:
    config = simulated_config(200, rate=60)
    frames = [
        encode_data(
            config, SOC + n, 0, [0] * 200, [phasors_at(n, i) for i in range(200)], [60.0] * 200, [0.0] * 200
        )
        for n in range(3)
    ]
    columns = DataLayout(config).decode(frames)
    assert columns.magnitude.shape == (3, 200, 6)
    assert np.all(columns.magnitude[:, :, 0] > 7000)
