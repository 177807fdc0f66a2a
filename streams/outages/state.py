"""The correlator's memory as msgspec Structs, so that `snapshot()` / `restore()` are one encode and decode.

Indexes are grid-model device indexes; a meter's state is its newest event time, negative when dark.
"""

from __future__ import annotations

import msgspec


class OpenOutage(msgspec.Struct, kw_only=True):
    """One outage being followed (including recently finished ones, kept for late events)."""

    id: str
    feeder: str
    device: int
    start_ns: int
    sources: list[str]
    customers: int
    opened_ns: int = 0  # the watermark when it was opened (arrival order, immune to meter clocks)
    version: int = 0
    state: str = "probable"
    end_ns: int | None = None
    customers_out: int = 0
    out_since_ns: int = 0  # when customers_out last changed
    customer_ns: int = 0  # customers × ns out until out_since_ns (IEEE 1366 customer-minutes × 6e10)
    parent: str | None = None
    dark: dict[int, int] = {}  # meter → when it went dark
    restored: dict[int, int] = {}  # meter → when it came back
    tripped: bool = False  # SCADA saw its own device open
    start_seen: bool = False  # a gasp or SCADA told when it began (not only an interval read with no voltage)
    closed_ns: int | None = None  # SCADA says the device closed again
    reclosed: bool = False  # ... by automatic reclosing (a momentary when short)
    hold_until_ns: int = 0  # not raised before this (a recloser may reclose)
    last_change_ns: int = 0
    merged_into: str | None = None
    done: bool = False  # final (or merged unseen) and emitted: no further records
    emitted: bool = False
    last_emit_ns: int = 0
    last_key: bytes = b""


class AtRiskState(msgspec.Struct, kw_only=True):
    operations: dict[int, list[int]] = {}  # equipment → times of its momentaries, trips, sags
    raised: dict[int, int] = {}  # device → when its last warning was raised
    pending: list[tuple[int, int, int]] = []  # (device, first_ts, count) not yet drained
    sags: list[tuple[int, int]] = []  # (measuring device, ts) of sags not yet settled


class CorrelatorState(msgspec.Struct, kw_only=True):
    max_ts: int = 0
    pruned_ns: int = 0
    outages: dict[str, OpenOutage] = {}
    by_device: dict[int, str] = {}  # device → id of its open outage
    finished: dict[int, str] = {}  # device → id of its latest finished outage (for gasps read late)
    pending: dict[int, dict[int, int]] = {}  # feeder index → meter → dark since (not yet located)
    unseen: set[int] = set()  # pending meters known dark only from an interval read
    back: dict[int, int] = {}  # pending meters that reported power again before being located → when
    pending_first: dict[int, int] = {}  # feeder index → earliest pending dark time (its window)
    meters: dict[int, int] = {}
    alive: dict[int, int] = {}  # meter or transformer → newest time it had power
    scada: dict[int, int] = {}  # device → newest state change time, negative when open
    evidence: list[tuple[int, int, str, int]] = []  # (device, ts, source, below) not yet matched
    at_risk: AtRiskState = msgspec.field(default_factory=AtRiskState)
