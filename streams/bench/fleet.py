"""The worker processes of a benchmark run and the coordinator's view of them (snapshots, commands, lag)."""

from __future__ import annotations

import multiprocessing
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gridmon.bench.worker import Snapshot, WorkerSpec, worker_main

_spawn = multiprocessing.get_context("spawn")  # Faust, librdkafka and chdb threads do not survive fork


@dataclass
class Fleet:
    """Spawned workers; `series[n]` is every snapshot worker n sent, in order."""

    specs: list[WorkerSpec]
    reports: Any = field(default_factory=_spawn.Queue)
    commands: list[Any] = field(default_factory=list)
    processes: list[Any] = field(default_factory=list)
    series: dict[int, list[Snapshot]] = field(default_factory=dict)
    ready: dict[int, dict[str, float]] = field(default_factory=dict)  # build seconds and RSS when ready
    latencies: dict[int, dict[int, int]] = field(default_factory=dict)
    final: dict[int, Snapshot] = field(default_factory=dict)
    memories: dict[int, dict[str, float]] = field(default_factory=dict)

    def start(self, timeout_s: float = 180.0) -> None:
        for spec in self.specs:
            commands = _spawn.Queue()
            process = _spawn.Process(target=worker_main, args=(spec, self.reports, commands), daemon=True)
            process.start()
            self.commands.append(commands)
            self.processes.append(process)
            self.series[spec.number] = []
        self.wait(lambda: len(self.ready) == len(self.specs), timeout_s, "workers did not start")

    def send(self, *command: Any) -> None:
        for commands in self.commands:
            commands.put(command)

    def pump(self, timeout_s: float = 0.2) -> None:
        """Take every report waiting (block up to `timeout_s` for the first)."""
        try:
            self._take(self.reports.get(timeout=timeout_s))
            while True:
                self._take(self.reports.get_nowait())
        except queue.Empty:
            return

    def _take(self, report: tuple[str, int, Any]) -> None:
        kind, number, payload = report
        if kind == "ready":
            self.ready[number] = payload
        elif kind == "snapshot":
            self.series[number].append(payload)
        elif kind == "latency":
            self.latencies[number] = payload
        elif kind == "memory":
            self.memories[number] = payload
        elif kind == "stopped":
            self.final[number] = payload

    def wait(self, done: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} within {timeout_s:.0f} s")
            self.pump()

    def _check_alive(self) -> None:
        for spec, process in zip(self.specs, self.processes, strict=True):
            if not process.is_alive() and spec.number not in self.final:
                self.pump(0.5)  # its last report may still be in the queue
            if not process.is_alive() and spec.number not in self.final:
                raise RuntimeError(f"benchmark worker {spec.number} died (exit code {process.exitcode})")

    def processed(self) -> dict[tuple[str, int], int]:
        """Next offset per partition over all workers (a partition may have moved between them)."""
        merged: dict[tuple[str, int], int] = {}
        for snapshots in self.series.values():
            if snapshots:
                for tp, offset in snapshots[-1].next_offsets.items():
                    merged[tp] = max(merged.get(tp, 0), offset)
        return merged

    def lag(self, ends: dict[tuple[str, int], int]) -> int:
        processed = self.processed()
        return sum(max(0, end - processed.get(tp, 0)) for tp, end in ends.items())

    def latency(self, since_ns: int, until_ns: int, timeout_s: float = 120.0) -> list[dict[int, int]]:
        self.latencies.clear()
        self.send("latency", since_ns, until_ns)
        self.wait(lambda: len(self.latencies) == len(self.specs), timeout_s, "latency queries did not answer")
        return list(self.latencies.values())

    def memory(self, timeout_s: float = 60.0) -> list[dict[str, float]]:
        """Each worker's RSS split into what chdb tracks and the rest, now."""
        self.memories.clear()
        self.send("memory")
        self.wait(lambda: len(self.memories) == len(self.specs), timeout_s, "memory queries did not answer")
        return [self.memories[number] for number in sorted(self.memories)]

    def stop(self, timeout_s: float = 60.0) -> None:
        self.send("stop")
        try:
            self.wait(lambda: len(self.final) == len(self.specs), timeout_s, "workers did not stop")
        finally:
            for process in self.processes:
                process.join(timeout=30)
                if process.is_alive():
                    process.kill()
