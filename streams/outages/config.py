"""Tuning of outage correlation: windows, evidence thresholds, lifecycle and rate limits (event-time seconds).

The defaults suit AMI last gasps that arrive within seconds with 10–30 % lost; every value is documented here.
"""

from __future__ import annotations

import msgspec


class CorrelatorConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How the correlator groups evidence and when it speaks."""

    last_gasp_window_s: float = 5.0  # gasps of one fault arrive together; locate after this long
    allowed_lateness_s: float = 2.0  # watermark = newest event time − this
    min_dark_fraction: float = 0.3  # share of a device's meters that must be dark (70–90 % of gasps arrive)
    min_dark_meters: int = 2  # a device with several meters needs at least this many dark to be blamed
    branch_min_meters: int = 3  # a branch this big with (almost) no dark meter proves its parent is closed
    gasp_loss_max: float = 0.3  # ... unless all its gasps could be lost: with this loss and
    silent_branch_chance: float = 0.1  # ... this chance that one of the device's branches is silent by luck
    branch_dark_fraction: float = (
        0.1  # ... at most this share (rounded down) of its meters gasped with the rest
    )
    onset_tolerance_s: float = 2.0  # gasps of one device's opening agree within this (meter clocks, jitter)
    merge_window_s: float = (
        20.0  # an outage located less than this before a wider one is part of it; else nests
    )
    clock_skew_s: float = 120.0  # meter clocks may be this far off: a gasp this early still joins an outage
    clock_ahead_s: float = 10.0  # event time moves at most this far past a batch's median stamp (fast clocks)
    alive_share: float = 0.1  # powered units below a device, per dark meter, that it tolerates (stray clocks)
    momentary_max_s: float = 300.0  # IEEE 1366: shorter interruptions are momentary (MAIFI)
    scada_hold_s: float = 30.0  # a trip without lockout may reclose: wait this long before raising it
    confirm_after_s: float = 60.0  # an AMI-only outage still dark after this is confirmed
    confirm_min_meters: int = 3  # ... or at once with this many dark meters
    late_restore_s: float = 900.0  # a meter's "power restored" this soon after its outage ended belongs to it
    restore_settle_s: float = 60.0  # every gasping meter is back and nothing changed for this long: restored
    update_interval_s: float = 1.0  # at most one update per outage per this much event time (storm mode)
    retain_s: float = 3600.0  # how long restored outages and per-meter state stay in memory
    at_risk_window_s: float = 6 * 3600.0
    at_risk_count: int = 3  # this many momentaries / trips / sags on one device in the window: at risk
