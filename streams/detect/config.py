"""Typed detector settings per device class: limits, baselines, PMU checks and data quality.

`BankConfig.classes` maps a device class (e.g. `pmu`, `transformer`, `meter`) to its `ClassConfig`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

Levels = tuple[float, float, float]  # thresholds for warning, major, critical


@dataclass(frozen=True)
class LimitConfig:
    """Physical and regulatory limits (ANSI C84.1 service voltage ranges, frequency bands, thermal)."""

    range_a_pu: tuple[float, float] = (0.95, 1.05)
    range_b_pu: tuple[float, float] = (0.917, 1.058)
    critical_pu: tuple[float, float] = (0.80, 1.10)
    voltage_clear_margin_pu: float = 0.005
    interruption_pu: float = 0.1  # IEEE 1159: below this the device is de-energised (an outage, not a sag)
    nominal_hz: float = 60.0
    freq_deviation_hz: Levels = (0.1, 0.2, 0.5)
    freq_clear_hz: float = 0.05
    temperature_c: Levels = (90.0, 105.0, 120.0)
    temperature_clear_margin_c: float = 3.0
    thd_pct: Levels = (5.0, 8.0, 12.0)
    thd_clear_margin_pct: float = 0.5
    thd_min_on_s: float = 600.0  # IEEE 519 judges harmonics on 10-minute values, not single samples
    loading_fraction: Levels = (0.9, 1.0, 1.2)  # of the device's rated current
    loading_clear_margin: float = 0.03
    min_on_s: float = 0.5
    min_off_s: float = 2.0


@dataclass(frozen=True)
class BaselineConfig:
    """Per-device EWMA mean/variance z-score with a variance floor and winsorised updates."""

    half_life_s: float = 600.0
    # memory and warm-up count samples as well as event time: the half-life is `half_life_s` but at least
    # `half_life_min_samples` (600 s is 10 samples of a 1-minute sensor: an EWMA over so few misjudges the
    # sd by ±13 %, over 250 by ±3 %; an hourly signal would forget half of everything at each sample) and at
    # most `half_life_max_samples` samples (a 600 s half-life is 216,000 samples of an ECG at 360 Hz); a device is judged only after both `warmup_samples`
    # samples and `warmup_s` of event time (a few seconds cover the beat-scale structure that 60 samples of
    # a 360 Hz signal do not)
    half_life_min_samples: float = 250.0
    half_life_max_samples: float = 20_000.0
    warmup_samples: int = 60
    warmup_s: float = 10.0
    z_levels: Levels = (6.0, 10.0, 20.0)
    z_clear: float = 3.0
    # the change since the previous sample is scored too (`<metric>_step`): a burst of jitter at a normal
    # level, a spike on a seasonal signal. Its warning level follows from the device's sample rate, for one
    # false alarm per `step_false_alarm_hours` of Gaussian steps, never below the level's warning z (real
    # noise has heavier tails); a step across more than `step_max_gap_intervals` usual intervals is not scored
    step_false_alarm_hours: float = 10_000.0
    step_max_gap_intervals: float = 3.0
    # raise the step threshold by the device's learned tail (power law fitted to its steps beyond 2.5 and 4 sd
    # below the warning level): heavy-tailed noise then stops crossing a Gaussian threshold. The tail learns
    # only steps judged by a settled baseline (`step_tail_from_samples`: an sd learned from 60 samples is
    # itself uncertain, and KDD 135's first slopes reached z 6 on one and taught a tail it does not have),
    # never the step right after an alarm (a spike's return to normal is part of the spike: Yahoo's 7 spikes
    # taught a heavy tail through their own returns), and the channel raises nothing before
    # `step_warmup_samples` (its threshold rests on the tail). docs/detect.md, session 5
    step_learn_tail: bool = True
    step_tail_from_samples: float = 120.0
    step_warmup_samples: float = 250.0
    # a reading that stays outside the clear level for `relearn_half_lives` half-lives is the new normal (a
    # level shift): the baseline's mean moves there (its spread is kept), so the anomaly closes
    relearn_half_lives: float = 3.0
    clip_z: float = 4.0  # an outlier moves the baseline as if it were at most 4 sd away
    relative_floor: float = 1e-4  # sd never below 0.01 % of the mean level
    absolute_floor: dict[str, float] = field(
        default_factory=lambda: {
            "freq_hz": 0.002,
            "voltage_v": 0.05,
            "va": 0.05,
            "current_a": 0.1,
            "temperature_c": 0.2,
            "thd_pct": 0.05,
            "kwh": 0.001,
            "value": 1e-3,
            "va_peer_pu": 5e-4,
            "voltage_v_peer_pu": 5e-4,
        }
    )
    peer_min_devices: int = 4  # a zone needs this many devices reporting the same instant to compare
    # CUSUM on the standardised peer residual: a slow drift away from the zone adds up long before any one
    # reading is far out. k = half the shift (in sd) it is tuned to find; the alarm level h follows from
    # the device's sample rate so that noise alone crosses it once per `cusum_false_alarm_hours` (Siegmund's
    # approximation of the in-control run length); each reading adds at most `cusum_clip_z` (a spike is not
    # a drift)
    cusum_k: float = 1.0
    cusum_false_alarm_hours: float = 10_000.0
    cusum_clip_z: float = 4.0
    min_on_s: float = 0.0
    min_off_s: float = 2.0
    # the quiet time needed to close is the shorter of `min_off_s` and this many samples. Off (inf) by
    # default: 60 samples cut MIT-BIH's flagged share from 51 % to 13 % but split every spiky stretch into
    # many short alarms (MIT-BIH 0 → 22 false positives, Daphnet 147 → 422; docs/detect.md)
    min_off_samples: float = math.inf


@dataclass(frozen=True)
class PmuConfig:
    """Synchrophasor checks: ROCOF, angle jumps against the fleet reference, unbalance, oscillations."""

    rocof_hz_s: Levels = (0.5, 1.0, 2.0)
    rocof_clear_hz_s: float = 0.2
    angle_jump_deg: Levels = (10.0, 20.0, 40.0)
    angle_clear_deg: float = 5.0
    angle_half_life_samples: float = 1800.0
    unbalance_pct: Levels = (2.0, 3.0, 5.0)
    unbalance_clear_pct: float = 1.5
    oscillation_window_s: float = 12.0
    oscillation_every_s: float = 1.0
    oscillation_bin_hz: float = 10.0
    oscillation_band_hz: tuple[float, float] = (0.1, 2.0)
    oscillation_freq_mhz: Levels = (10.0, 30.0, 100.0)  # mode amplitude in mHz
    oscillation_voltage_pct: Levels = (0.5, 1.0, 3.0)  # mode amplitude in % of nominal
    oscillation_snr: float = 6.0  # the mode must stand this far above the median of the band
    min_on_s: float = 0.2
    min_off_s: float = 4.0


@dataclass(frozen=True)
class QualityConfig:
    """Data-quality checks: flatline, gaps, out-of-order bursts, impossible jumps, clock skew."""

    # stuck: a run of exactly equal values is judged against how often this device repeats a value by
    # itself (learned) and how fast it samples: the run must be as unlikely as one false alarm per
    # `stuck_false_alarm_hours` of that device's samples, and never shorter than `stuck_min_samples`
    stuck_min_samples: int = 3
    stuck_max_samples: int = 100_000
    stuck_false_alarm_hours: float = 10_000.0
    stuck_memory_samples: float = 1_000.0  # half-life of the learned repeat rate, in samples
    # gap: silence beyond the device's usual lag behind its peers' event time, by more than this many of
    # its usual intervals plus its usual delivery jitter: one late or lost message (two intervals of
    # silence) is normal on a field network, three missed reports in a row are a gap
    gap_intervals: float = 3.0
    gap_jitter: float = 4.0  # × the mean absolute deviation of the device's lag behind its peers
    gap_min_s: float = 1.0
    gap_kinds: tuple[str, ...] = ("pmu", "sensor", "meter")  # periodic sources; SCADA reports on change
    late_fraction: float = 0.2
    late_min_rows: int = 3
    late_min_s: float = (
        30.0  # late and reordered rows are normal; only a device that keeps sending so is news
    )
    max_step: dict[str, float] = field(
        default_factory=lambda: {"freq_hz": 1.0, "temperature_c": 15.0}
    )  # larger changes between consecutive readings are physically impossible
    clock_ahead_s: float = 2.0
    clock_lag_s: float = 30.0
    min_off_s: float = 5.0


@dataclass(frozen=True)
class ClassConfig:
    limits: LimitConfig = field(default_factory=LimitConfig)
    baseline: BaselineConfig = field(default_factory=BaselineConfig)
    pmu: PmuConfig = field(default_factory=PmuConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    baseline_metrics: tuple[str, ...] = (
        "freq_hz",
        "va",
        "voltage_v",
        "current_a",
        "temperature_c",
        "thd_pct",
    )


@dataclass(frozen=True)
class BankConfig:
    classes: dict[str, ClassConfig] = field(default_factory=dict)
    default: ClassConfig = field(default_factory=ClassConfig)
    group_window_s: float = 60.0

    def for_class(self, name: str) -> ClassConfig:
        return self.classes.get(name, self.default)
