"""CPU seconds spent by this process, its child processes (Dask's workers), a local PostgreSQL server,
and the whole machine (what the rest is other work running meanwhile).

A server on another machine is not seen (``server`` is None then). A server backend that ended is
counted in its parent's ``children`` times once reaped, so the server's total is its processes' own
times plus the postmaster's reaped children. psutil comes with dask[distributed].
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cpu:
    """CPU seconds so far: this process (all its threads), its children, the local PostgreSQL server,
    and the whole machine (every process, every core: busy, not idle)."""

    own: float
    children: float
    server: float | None
    machine: float

    def __sub__(self, other: Cpu) -> Cpu:
        server = None if self.server is None or other.server is None else self.server - other.server
        return Cpu(self.own - other.own, self.children - other.children, server, self.machine - other.machine)

    @property
    def others(self) -> float:
        """What the rest of the machine used: not this process, its children or the server."""
        return self.machine - self.own - self.children - (self.server or 0.0)


def cpu_now() -> Cpu:
    """The CPU seconds of this process, of its live children, and of the PostgreSQL server, now."""
    psutil: Any = importlib.import_module("psutil")
    me = psutil.Process()
    times = me.cpu_times()
    own = _seconds(times)
    children = times.children_user + times.children_system  # those that ended (a process pool's)
    for child in me.children(recursive=True):
        try:
            children += _seconds(child.cpu_times())
        except psutil.Error:  # it ended meanwhile
            continue
    every = psutil.cpu_times()
    machine = sum(getattr(every, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq", "steal"))
    return Cpu(own, children, _server(psutil), float(machine))


def _server(psutil: Any) -> float | None:
    total, seen = 0.0, False
    for process in psutil.process_iter(["name", "ppid", "cpu_times"]):
        if process.info["name"] != "postgres" or process.info["cpu_times"] is None:
            continue
        seen, times = True, process.info["cpu_times"]
        total += _seconds(times)
        if process.info["ppid"] == 1 or not _is_postgres(psutil, process.info["ppid"]):
            total += times.children_user + times.children_system  # the postmaster: ended backends
    return total if seen else None


def _is_postgres(psutil: Any, pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).name() == "postgres")
    except psutil.Error:
        return False


def _seconds(times: Any) -> float:
    return float(times.user + times.system)
