"""Client lanes: one chdb connection runs one call at a time; the state checkpointer writes on a lane of its own."""

from __future__ import annotations

import threading
from typing import Any

from gridmon.store.client import lane_of


class Call(threading.Thread):
    """Runs `call` in a thread of its own; `finished_within(s)` says whether it returned in that time."""

    def __init__(self, call: Any) -> None:
        super().__init__(daemon=True)
        self.call = call
        self.result: Any = None
        self.start()

    def run(self) -> None:
        self.result = self.call()

    def finished_within(self, seconds: float) -> bool:
        self.join(seconds)
        return not self.is_alive()


def count_pmu_rows(client: Any) -> int:
    return int(client.query("SELECT count() FROM pmu_readings").result_rows[0][0])


def test_a_lane_is_its_own_client_on_the_same_database(client: Any) -> None:
    lane = lane_of(client, "pmu_readings")
    assert lane is not client
    assert lane is lane_of(client, "pmu_readings")  # cached: one connection per lane
    assert (
        lane.query("SELECT currentDatabase()").result_rows
        == client.query("SELECT currentDatabase()").result_rows
    )
    other = object()
    assert lane_of(other, "pmu_readings") is other  # not opened by connect(): its own only lane


def test_an_open_read_holds_up_its_own_client_but_not_another_lane(client: Any) -> None:
    lane = lane_of(client, "pmu_readings")
    with client.query_row_block_stream("SELECT number FROM numbers(1000000)") as stream:
        next(iter(stream))  # the stream is open: the client's connection is busy until it closes
        same = Call(lambda: count_pmu_rows(client))
        other = Call(lambda: count_pmu_rows(lane))
        assert other.finished_within(60) and other.result == 0
        assert not same.finished_within(0.5)  # waits for the stream: calls on one client are serialised
    assert same.finished_within(60) and same.result == 0
