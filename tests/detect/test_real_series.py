"""One series through the real DetectorBank (`gridmon.detect.series`): event scoring, CSV input, units, the
`anomalies score` command, and real labelled series read from public wheels (skipped without PyPI)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from gridmon.cli import _register_all
from gridmon.cli import app as cli_app
from gridmon.detect.series import (
    EPOCH_NS,
    Series,
    SeriesError,
    label_windows,
    read_series_csv,
    score_events,
    score_series,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def noisy_series(
    samples: int = 1500, seed: int = 3, interval_s: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = EPOCH_NS + (np.arange(samples) * interval_s * 1e9).astype(np.int64)
    return ts, 50.0 + rng.normal(0.0, 1.0, samples)


def test_a_level_shift_is_found_at_once_and_the_clean_part_raises_nothing() -> None:
    ts, values = noisy_series()
    labels = np.zeros(len(ts), dtype=bool)
    values[1200:1230] += 15.0  # 15 sd for 30 s
    labels[1200:1230] = True
    result = score_series(Series("shift", ts, values[:, None], labels))

    found = [(a.detector, a.metric, (a.start_ns - ts[0]) // 10**9) for a in result.anomalies]
    # the level for the whole shift; the step channel at its two edges (up at 1200, back down at 1230)
    assert sorted(found) == [("baseline", "value", 1200), ("baseline", "value_step", 1200),
                             ("baseline", "value_step", 1230)]  # fmt: skip
    level = next(a for a in result.anomalies if a.metric == "value")
    step = next(a for a in result.anomalies if a.metric == "value_step" and a.start_ns == ts[1200])
    assert np.isclose(step.value, values[1200] - values[1199])  # a step, in the series' units
    peak = level.value  # the reading at the peak score, back in the series' units
    assert np.isclose(values[1200:1230], peak, rtol=1e-9).any()
    score = score_events(ts, labels, result.events())
    assert (score.windows, score.found, score.false_positives) == (1, 1, 0)
    assert score.latency_start_s == (0.0,)  # the first shifted reading
    assert not result.flags[:1200].any() and result.flags[1200:1230].all()
    assert result.scores["baseline/value"][1200] > 10 > result.scores["baseline/value"][:1200].max()


def test_units_do_not_matter() -> None:
    ts, values = noisy_series(seed=5)
    values[900:920] += 12.0
    plain = score_series(Series("plain", ts, values[:, None]))
    scaled = score_series(Series("scaled", ts, (values * 1e6 + 3e4)[:, None]))
    assert [a.start_ns for a in plain.anomalies] == [a.start_ns for a in scaled.anomalies]
    assert len(plain.anomalies) >= 1


def test_a_frozen_reading_is_a_data_quality_anomaly() -> None:
    ts, values = noisy_series(samples=600)
    values[400:460] = values[400]
    result = score_series(Series("frozen", ts, values[:, None]))
    stuck = [a for a in result.anomalies if a.metric == "value_stuck"]
    assert len(stuck) == 1 and stuck[0].category == "data_quality"
    assert stuck[0].start_ns == ts[400]


def test_event_scoring_counts_windows_false_positives_and_latency() -> None:
    ts = EPOCH_NS + np.arange(100, dtype=np.int64) * 10**9
    labels = np.zeros(100, dtype=bool)
    labels[20:25] = labels[60:61] = True
    assert label_windows(labels) == [(20, 24), (60, 60)]
    events = [(int(ts[22]), int(ts[30]), int(ts[23])), (int(ts[63]), int(ts[64]), int(ts[64])),
              (int(ts[90]), int(ts[91]), int(ts[91]))]  # fmt: skip
    strict = score_events(ts, labels, events, tolerance_samples=0)
    assert (strict.found, strict.false_positives) == (1, 2)
    tolerant = score_events(ts, labels, events, tolerance_samples=5)
    assert (tolerant.found, tolerant.false_positives, tolerant.raised) == (2, 1, 3)
    assert tolerant.latency_start_s == (2.0, 3.0) and tolerant.latency_raised_s == (3.0, 4.0)
    assert tolerant.precision == pytest.approx(2 / 3) and tolerant.recall == 1.0
    assert tolerant.false_positives_per_1000 == pytest.approx(10.0)
    assert tolerant.flagged_samples == 9 + 2 + 2 and tolerant.flagged_in_windows == 3


def test_csv_forms(tmp_path: Path) -> None:
    (tmp_path / "iso.csv").write_text(
        "timestamp,value,is_anomaly\n2024-05-01 00:00:00.000,1.5,0\n2024-05-01 00:00:00.250,2.5,1\n"
    )
    iso = read_series_csv(tmp_path / "iso.csv")
    assert (
        iso.interval_s == pytest.approx(0.25)
        and iso.labels is not None
        and iso.labels.tolist() == [False, True]
    )
    (tmp_path / "bare.csv").write_text("3.0,0\n4.0,1\n5.0,0\n")
    bare = read_series_csv(tmp_path / "bare.csv", interval_s=0.1)
    assert bare.values[:, 0].tolist() == [3.0, 4.0, 5.0] and bare.interval_s == pytest.approx(0.1)
    (tmp_path / "multi.csv").write_text("time,x,y\n0,1,2\n1,3,\n")
    multi = read_series_csv(tmp_path / "multi.csv")
    assert multi.channels == ("x", "y") and np.isnan(multi.values[1, 1]) and multi.labels is None


@pytest.mark.parametrize(
    ("text", "interval", "message"),
    [
        ("timestamp,value\n0,1\n1,x\n", None, ":3: value 'x' is not a number"),
        ("timestamp,value,label\n0,1,0\n1,2,maybe\n", None, ":3: label 'maybe' must be 0 or 1"),
        ("timestamp,value\n0,1\n2,1\n1,1\n", None, ":4: timestamp is not after the previous one"),
        ("timestamp,value\n0,1\n1,2,3\n", None, ":3: 3 columns where the header has 2"),
        ("value\n1\n2\n", None, "no timestamp column"),
        ("1,2,3,4\n5,6,7,8\n", None, "line 1 has 4 columns"),
        ("timestamp,value\n0,1\n", None, "1 sample(s)"),
        ("", None, "the file is empty"),
    ],
)
def test_bad_csv_is_refused_with_the_line(
    tmp_path: Path, text: str, interval: float | None, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(SeriesError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_series_csv(path, interval)


def test_score_command_prints_anomalies_and_scores(tmp_path: Path) -> None:
    ts, values = noisy_series(samples=900)
    values[700:720] += 15.0
    lines = ["timestamp,value,label"] + [f"{i},{v:.4f},{int(700 <= i < 720)}" for i, v in enumerate(values)]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    _register_all()
    result = CliRunner().invoke(cli_app, ["anomalies", "score", str(tmp_path / "s.csv")], terminal_width=220)
    assert result.exit_code == 0, result.output
    assert "3 anomalies in 900 samples" in result.output  # the level, and the step up and back down
    assert "event-wise scores" in result.output and result.output.count("1.00") == 3  # precision, recall, F1
    missing = CliRunner().invoke(cli_app, ["anomalies", "score", str(tmp_path / "none.csv")])
    assert isinstance(missing.exception, SeriesError)


# ------------------------------------------------------------------------- real series from public wheels
@pytest.fixture(scope="module")
def real_cache() -> Path:
    realdata = pytest.importorskip("load_tests.realdata")
    try:
        realdata.wheel(realdata.AEON)
        realdata.wheel(realdata.SKTIME)
    except Exception as exc:  # no network to PyPI: nothing to read
        pytest.skip(f"cannot fetch the aeon/sktime wheels with pip ({exc}); the real-series tests need PyPI")
    return Path(realdata.CACHE)


def test_kdd135_clean_stretch_raises_nothing(real_cache: Path) -> None:
    """Session 3's one false positive here (a step of z 6.2 at sample 93, 33 samples after the warm-up) is
    gone: the step channel judges only once its learned tail has seen 250 steps."""
    from load_tests.realdata import kdd_tsad_135

    real = kdd_tsad_135(real_cache)
    head = slice(0, 1200)  # the archive's TRAIN part: anomaly-free by construction
    series = real.series
    result = score_series(Series("kdd135_train", series.ts_ns[head], series.values[head]))
    assert result.anomalies == []
    assert series.labels is not None and label_windows(series.labels) == [(4187, 4198)]


def test_kdd135_labelled_anomaly_is_found(real_cache: Path) -> None:
    """The burst of jitter inside the slow wave: the level z-score peaks at 4.7, the step channel sees it."""
    from load_tests.realdata import kdd_tsad_135

    series = kdd_tsad_135(real_cache).series
    part = slice(3000, 4400)
    cut = Series(
        "kdd135",
        series.ts_ns[part],
        series.values[part],
        series.labels[part] if series.labels is not None else None,
    )
    result = score_series(cut)
    assert cut.labels is not None
    assert score_events(cut.ts_ns, cut.labels, result.events()).found == 1
    assert {a.metric for a in result.anomalies} == {"value_step"}


def test_mitdb_heartbeats_after_a_warmup_in_seconds(real_cache: Path) -> None:
    """Real behaviour on a 360 Hz ECG: the warm-up now also needs 10 s of event time (60 samples were 0.17 s,
    less than one beat), so the first half raises nothing; then some QRS complexes still reach z 6 and, as
    beats come every 0.8 s (< the 2 s quiet time), the anomaly stays open: about half the samples flagged
    (was 95 %). The docs report both numbers."""
    from load_tests.realdata import mitdb_excerpt

    series = mitdb_excerpt(real_cache).series
    assert series.labels is not None
    result = score_series(series)
    score = score_events(series.ts_ns, series.labels, result.events())
    assert score.found == 1 and score.false_positives == 0
    assert 0.3 < score.flagged_share < 0.6
    assert not result.flags[:3600].any()


def test_a_lasting_level_shift_becomes_the_new_normal() -> None:
    """A shift that stays outside the clear level for 3 half-lives (600 s at 1 sample/s) is the new normal:
    the baseline mean moves to it and the anomaly closes, and is not raised again at the new level.
    (`clip_z` 1 keeps the winsorised updates from absorbing the shift first: at the default 4 each update
    grows the variance by up to 15 α, and this shift is absorbed in 175 s.)"""
    from gridmon.detect.config import BankConfig, BaselineConfig, ClassConfig

    ts, values = noisy_series(samples=4000)
    values[1000:] += 15.0
    config = BankConfig(default=ClassConfig(baseline=BaselineConfig(clip_z=1.0)))
    result = score_series(Series("shift", ts, values[:, None]), config)
    level = [a for a in result.anomalies if a.metric == "value"]
    assert level[0].start_ns == ts[1000] and level[0].end_ns is not None
    assert 1800 <= (level[0].end_ns - ts[1000]) / 1e9 <= 1810  # 3 half-lives, then 2 s quiet
    # (clip_z 1 also shrinks the learned sd over time, so short alarms follow later; not the point here)
