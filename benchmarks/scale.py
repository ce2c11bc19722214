"""Cases at 10,000 revisions: peak memory of ``history`` and how ``current`` grows from N=1,000.

Skipped with ``--quick`` (making and loading 10,000 revision files takes most of a minute).
"""

from __future__ import annotations

from typing import Any

from benchmarks import features, processes
from benchmarks.cases import Bench
from benchmarks.measure import Row, Target, at_most, below, not_available, paired

BIG, SMALL = 10_000, 1_000
LINEAR = 12.0  # 10x the revisions, at most 12x the time


def scale_at_most(limit: float) -> Target:
    """The per-pair ratio of the big case to the small one is at most ``limit``."""
    return Target(
        f"<= {limit:g} (N={BIG:,} ÷ N={SMALL:,})", lambda row: row.ratio is not None and row.ratio <= limit
    )


def run(bench: Bench, quick: bool) -> None:
    group = f"table chain, N={BIG:,}"
    memory_case, current_case = "history: peak RSS added (MB)", f"current, N={BIG:,} ÷ N={SMALL:,}"
    if quick:
        bench.record(not_available(group, memory_case, at_most(100, "MB"), "skipped with --quick"))
        bench.record(not_available(group, current_case, scale_at_most(LINEAR), "skipped with --quick"))
        for case, limit in (("complete, first Tab (map not read yet)", 500), ("complete, later Tab", 50)):
            bench.record(not_available(group, case, below(limit), "skipped with --quick"))
        return
    big = bench.project(BIG, "table", stamp=False)  # plain Alembic's database is never read here
    bench.use(big)
    bench.migrate("stamp head")
    row = processes.memory(big)
    row.group = group
    bench.record(row)
    _current_scale(bench, group, current_case)
    features.completion_at_scale(bench, big)


def _current_scale(bench: Bench, group: str, case: str) -> None:
    """``%migrate current`` (map loaded) at N=10,000 against N=1,000, alternately, one session each."""
    from sakyum_magic._frontend.magic import MigrateMagics

    sessions: list[Any] = []
    for n in (SMALL, BIG):
        project = bench.project(n, "table")
        magics = MigrateMagics(shell=bench.shell)
        magics.ini, magics.directory = str(project.magic_ini), str(project.magic_dir)
        magics.url = f"sqlite:///{project.db('magic')}"
        magics.progress = False
        # Load the map and open the engine first: the rows time what follows.
        magics.magics["line"]["migrate"]("current")
        sessions.append(magics)
    small, big = (lambda m=m: m.magics["line"]["migrate"]("current") for m in sessions)
    pair = paired(small, big, bench.runs * 3)
    row = Row(
        group, case, pair.plain_ms, pair.magic_ms, pair.ratio, scale_at_most(LINEAR), runs=bench.runs * 3
    )
    row.note = f"plain column: N={SMALL:,}; magic column: N={BIG:,}"
    bench.record(row)
    for magics in sessions:
        magics.close()
