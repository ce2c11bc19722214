"""Timing helpers: paired measurements taken alternately, and a description of the machine."""

from __future__ import annotations

import contextlib
import io
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

Action = Callable[[], object]


@dataclass
class Row:
    """One line of the results table: two medians (ms), their ratio, and the target it is held to."""

    group: str
    case: str
    plain_ms: float | None
    magic_ms: float
    ratio: float | None
    target: str = ""
    met: bool | None = None
    runs: int = 0
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)


def _timed(action: Action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def paired(
    plain: Action,
    magic: Action,
    runs: int,
    setup: Callable[[str], object] | None = None,
) -> tuple[float, float, float]:
    """Median ms of each side and the median per-pair ratio, the two sides alternating in order.

    ``setup(side)`` runs untimed before each measurement (for example, to make a fresh database).
    """
    plain_ms: list[float] = []
    magic_ms: list[float] = []
    for index in range(runs):
        order = [("plain", plain, plain_ms), ("magic", magic, magic_ms)]
        for side, action, sink in order if index % 2 == 0 else order[::-1]:
            if setup is not None:
                setup(side)
            sink.append(_timed(action) if not isinstance(action, Measured) else action())
    ratios = [m / p for m, p in zip(magic_ms, plain_ms, strict=True)]
    return statistics.median(plain_ms), statistics.median(magic_ms), statistics.median(ratios)


class Measured:
    """An action that reports its own duration in ms (for example, from a subprocess)."""

    def __init__(self, action: Callable[[], float]) -> None:
        self.action = action

    def __call__(self) -> float:
        return self.action()


def single(action: Action, runs: int) -> float:
    """Median ms of ``action`` alone."""
    return statistics.median(_timed(action) for _ in range(runs))


@contextlib.contextmanager
def quiet_alembic() -> Iterator[None]:
    """Swallow what plain Alembic prints and logs, then undo the logging set-up its env.py did.

    The generic env.py calls ``logging.config.fileConfig`` on every run; leaving that in place would
    make the other side pay for INFO lines it never asked for.
    """
    sink = io.StringIO()
    try:
        with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
            yield
    finally:
        for name in ("", "alembic", "sqlalchemy", "sqlalchemy.engine"):
            logger = logging.getLogger(name)
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            logger.setLevel(logging.WARNING if not name else logging.NOTSET)


def machine() -> dict[str, str]:
    """What the numbers were taken on."""
    import sqlite3

    import alembic
    import IPython
    import pandas
    import sqlalchemy

    return {
        "cpu": _cpu(),
        "cores": str(os.cpu_count()),
        "memory": _memory(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "alembic": alembic.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "pandas": pandas.__version__,
        "ipython": IPython.__version__,
        "sqlite": sqlite3.sqlite_version,
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE") or "unset",
    }


def _cpu() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory() -> str:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def python_ms(code: str, cwd: str | None = None, env: dict[str, str] | None = None) -> float:
    """Run ``code`` in a fresh interpreter; it prints one number, its own timing in ms."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cwd, env=env
    )
    return float(done.stdout.strip().splitlines()[-1])


def wall_ms(commands: list[list[str]], cwd: str, env: dict[str, str]) -> float:
    """Wall time of running each command in turn as a process."""
    start = time.perf_counter()
    for command in commands:
        subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=True)
    return (time.perf_counter() - start) * 1000
