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
from dataclasses import dataclass
from pathlib import Path

Action = Callable[[], object]


@dataclass(frozen=True)
class Target:
    """What a row is held to: its text for the table, and the test of a measured row against it."""

    text: str
    check: Callable[[Row], bool]


def ratio_at_most(limit: float) -> Target:
    """The median per-pair ratio magic/plain is at most ``limit``."""
    return Target(f"<= {limit:.2f}x", lambda row: row.ratio is not None and row.ratio <= limit)


def times_faster(factor: float) -> Target:
    """At least ``factor`` times faster than plain (a ratio of at most 1/factor)."""
    limit = 1 / factor
    return Target(
        f">= {factor:g}x faster (<= {limit:.2f}x)", lambda row: row.ratio is not None and row.ratio <= limit
    )


def slower_by_at_most(ms: float) -> Target:
    """The median per-pair difference magic - plain is at most ``ms``."""
    return Target(f"<= plain + {ms:g} ms", lambda row: row.delta_ms is not None and row.delta_ms <= ms)


def below(limit: float, unit: str = "ms") -> Target:
    """The magic side's median is under ``limit`` (ms, or another unit the row states)."""
    return Target(f"< {limit:g} {unit}", lambda row: row.magic_ms is not None and row.magic_ms < limit)


def at_most(limit: float, unit: str) -> Target:
    """The magic side's value is at most ``limit`` (MB, or a plain number for a scale factor)."""
    text = f"<= {limit:g} {unit}".rstrip()
    return Target(text, lambda row: row.magic_ms is not None and row.magic_ms <= limit)


@dataclass
class Row:
    """One line of the results table: two medians (ms), their ratio, and the target it is held to.

    ``magic_ms`` is None when the feature measured is not available in this checkout (``note`` says
    why); such a row is reported, never judged.
    """

    group: str
    case: str
    plain_ms: float | None
    magic_ms: float | None
    ratio: float | None
    target: Target | None = None
    met: bool | None = None
    runs: int = 0
    note: str = ""
    delta_ms: float | None = None

    def judge(self) -> None:
        """Set ``met`` from the target (rows with no target, or nothing measured, stay None)."""
        if self.target is not None and self.magic_ms is not None:
            self.met = self.target.check(self)

    @property
    def verdict(self) -> str:
        if self.magic_ms is None:
            return "n/a"
        return {True: "yes", False: "no", None: ""}[self.met]

    def line(self) -> str:
        """The row as one line of the live console table."""
        plain = f"{self.plain_ms:10.1f}" if self.plain_ms is not None else " " * 10
        magic = f"{self.magic_ms:10.1f}" if self.magic_ms is not None else f"{'n/a':>10}"
        ratio = f"{self.ratio:7.3f}" if self.ratio is not None else " " * 7
        target = self.target.text if self.target else ""
        text = f"  {self.group:<24} {self.case:<40} {plain} {magic} {ratio}  {target:<24} {self.verdict}"
        return text + (f"  ({self.note})" if self.magic_ms is None and self.note else "")


HEADER = f"  {'group':<24} {'case':<40} {'plain':>10} {'magic':>10} {'ratio':>7}  {'target':<24} met"


def not_available(group: str, case: str, target: Target, why: str) -> Row:
    """A row for a case whose feature does not exist yet in this checkout."""
    return Row(group, case, None, None, None, target, note=f"not available: {why}")


@dataclass(frozen=True)
class Pair:
    """Medians of an alternating paired measurement."""

    plain_ms: float
    magic_ms: float
    ratio: float
    delta_ms: float


def _timed(action: Action) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def paired(
    plain: Action,
    magic: Action,
    runs: int,
    setup: Callable[[str], object] | None = None,
) -> Pair:
    """Medians of each side, of the per-pair ratios and of the per-pair differences (sides alternate).

    ``setup(side)`` runs untimed before each measurement (for example, to make a fresh database),
    after the logging is put back as it was before any plain env.py configured it.
    """
    plain_ms: list[float] = []
    magic_ms: list[float] = []
    for index in range(runs):
        order = [("plain", plain, plain_ms), ("magic", magic, magic_ms)]
        for side, action, sink in order if index % 2 == 0 else order[::-1]:
            reset_logging()
            if setup is not None:
                setup(side)
            sink.append(_timed(action) if not isinstance(action, Measured) else action())
    pairs = list(zip(magic_ms, plain_ms, strict=True))
    return Pair(
        statistics.median(plain_ms),
        statistics.median(magic_ms),
        statistics.median(m / p for m, p in pairs),
        statistics.median(m - p for m, p in pairs),
    )


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
    """Swallow what plain Alembic prints and logs, then undo the logging set-up its env.py did."""
    try:
        with silenced():
            yield
    finally:
        reset_logging()


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Send stdout and stderr to a buffer (the timed part of a plain Alembic call)."""
    sink = io.StringIO()
    with contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
        yield


def reset_logging() -> None:
    """Undo what the generic env.py's ``logging.config.fileConfig`` set up (run untimed).

    Left in place, it would make the next measurement, of either side, pay for Alembic's INFO lines.
    Undoing it is not part of what a plain Alembic user pays for, so it is kept out of the timing.
    """
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
