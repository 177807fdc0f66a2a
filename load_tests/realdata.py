"""Real labelled series shipped inside public wheels (aeon, sktime): fetch the wheel once into a cache with
`pip download --no-deps` (never installed) and read the CSVs straight from the zip as `gridmon` Series.

Sources, licences and what the labels are: docs/detect.md, "Real-world labelled series".
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from gridmon.detect.series import EPOCH_NS, Series

REPO_ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("GRIDMON_REALDATA_CACHE", REPO_ROOT / ".gridmon" / "cache" / "realdata"))
AEON = ("aeon", "1.6.0")
SKTIME = ("sktime", "1.2.0")


class FetchError(RuntimeError):
    """The wheel could not be downloaded (no network to PyPI?)."""


@dataclass(frozen=True)
class RealSeries:
    series: Series
    source: str  # wheel and path inside it
    origin: str  # who recorded it, and the licence
    real: bool  # recorded from the world (not generated); False also when that is not established
    note: str


def wheel(package: tuple[str, str], cache: Path = CACHE) -> Path:
    """The cached wheel of `package` (name, version), downloaded with pip (no dependencies) if missing."""
    name, version = package
    found = sorted(cache.glob(f"{name}-{version}-*.whl"))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", f"{name}=={version}", "--no-deps", "--only-binary",
               ":all:", "-d", str(cache), "-q"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    found = sorted(cache.glob(f"{name}-{version}-*.whl"))
    if done.returncode != 0 or not found:
        raise FetchError(f"pip download {name}=={version} failed: {done.stderr.strip()[-300:]}")
    return found[0]


def _rows(archive: Path, member: str) -> tuple[list[str], list[list[str]]]:
    with zipfile.ZipFile(archive) as zipped:
        text = zipped.read(member).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], [row for row in rows[1:] if row]


def kdd_tsad_135(cache: Path = CACHE) -> RealSeries:
    """UCR/KDD-Cup 2021 anomaly archive no. 135, InternalBleeding16 (TimeEval CSV: index,value,is_anomaly).
    The TEST file holds the whole series (its first 1,200 samples are the TRAIN file, anomaly-free)."""
    member = "aeon/datasets/data/KDD-TSAD_135/135_UCR_Anomaly_InternalBleeding16_TEST.csv"
    _, rows = _rows(wheel(AEON, cache), member)
    index = np.array([float(r[0]) for r in rows])
    series = Series(
        "kdd135_internal_bleeding16", EPOCH_NS + np.round(index * 1e9).astype(np.int64),
        np.array([[float(r[1])] for r in rows]), np.array([r[2].strip() == "1" for r in rows]),
    )  # fmt: skip
    return RealSeries(
        series, f"aeon {AEON[1]}: {member}",
        "UCR Time Series Anomaly Archive (Keogh et al., KDD Cup 2021), a patient's physiological signal; "
        "aeon BSD-3", True,
        "samples stamped 0, 1, 2 …: read as 1 s apart (the archive gives no rate); 1 labelled window",
    )  # fmt: skip


def daphnet_s06r02e0(cache: Path = CACHE) -> RealSeries:
    """Daphnet freezing-of-gait, subject 6 run 2: 9 accelerometer channels at 64 Hz. Every label is 0 in
    this excerpt (aeon 1.6.0 says so itself and deprecates the loader): a clean stretch, false positives only."""
    member = "aeon/datasets/data/Daphnet_S06R02E0/S06R02E0.csv"
    header, rows = _rows(wheel(AEON, cache), member)
    stamps = np.array([_iso_ns(r[0]) for r in rows], dtype=np.int64)
    values = np.array([[float(x) for x in r[1:-1]] for r in rows])
    series = Series("daphnet_s06r02e0", stamps, values, np.array([r[-1].strip() == "1" for r in rows]),
                    tuple(header[1:-1]))  # fmt: skip
    return RealSeries(
        series, f"aeon {AEON[1]}: {member}",
        "UCI Daphnet Freezing of Gait (Roggen, Plotnik, Hausdorff 2013), CC BY 4.0; aeon BSD-3", True,
        "no labelled episode in this excerpt: scores false positives on real sensor data only",
    )  # fmt: skip


def mitdb_excerpt(cache: Path = CACHE) -> RealSeries:
    """MIT-BIH Arrhythmia Database excerpt (ECG, 360 Hz) as TSB-UAD prepared it, shipped by sktime as
    `data,label` with no time column."""
    member = "sktime/datasets/data/mitdb/mitdb.csv"
    _, rows = _rows(wheel(SKTIME, cache), member)
    interval_ns = round(1e9 / 360)
    series = Series(
        "mitdb_excerpt", EPOCH_NS + np.arange(len(rows), dtype=np.int64) * interval_ns,
        np.array([[float(r[0])] for r in rows]), np.array([float(r[1]) > 0 for r in rows]),
    )  # fmt: skip
    return RealSeries(
        series, f"sktime {SKTIME[1]}: {member}",
        "MIT-BIH Arrhythmia Database (Moody & Mark), PhysioNet, ODC-By 1.0, via TSB-UAD (Paparrizos et al. "
        "2022); sktime BSD-3", True,
        "360 Hz assumed (MIT-BIH's rate; the file has no time column); 1 labelled window of 352 samples",
    )  # fmt: skip


def yahoo_excerpt(cache: Path = CACHE) -> RealSeries:
    """One Yahoo S5 series as TSB-UAD prepared it (sktime's `yahoo.csv`, `data,label`). Which S5 file is not
    stated; its clean trend + 12-sample season + noise looks like the synthetic A3/A4 benchmarks, so it is not
    counted as real."""
    member = "sktime/datasets/data/yahoo/yahoo.csv"
    _, rows = _rows(wheel(SKTIME, cache), member)
    series = Series(
        "yahoo_s5_excerpt", EPOCH_NS + np.arange(len(rows), dtype=np.int64) * 3600 * 10**9,
        np.array([[float(r[0])] for r in rows]), np.array([float(r[1]) > 0 for r in rows]),
    )  # fmt: skip
    return RealSeries(
        series, f"sktime {SKTIME[1]}: {member}",
        "Yahoo Webscope S5 (Laptev et al. 2015) via TSB-UAD; file not named, likely synthetic", False,
        "hourly stamps assumed (S5 is hourly); 7 single-sample labels",
    )  # fmt: skip


def all_series(cache: Path = CACHE) -> list[RealSeries]:
    return [kdd_tsad_135(cache), mitdb_excerpt(cache), daphnet_s06r02e0(cache), yahoo_excerpt(cache)]


def _iso_ns(text: str) -> int:
    moment = datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)
    return EPOCH_NS + round(moment.timestamp() * 1e9)
