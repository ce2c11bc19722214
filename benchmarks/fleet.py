"""Fleets: PostgreSQL tenant schemas x 10 revisions, on four Dask worker processes against one after another.

The peer is what Alembic's cookbook does for tenants: one run per tenant, one after another; here
in this process through the same core API (``Migrator(url, schema=...).upgrade()``), so the pair
differs only in the parallelism, not in process start-up. The parallel side is ``Migrator.fleet``
on a ``LocalCluster(n_workers=4, threads_per_worker=1, processes=True)`` started once (as a notebook
or a real cluster has it). Both sides start from freshly made, empty schemas, alternately. The pair
differs in one more way, the fleet's: a worker runs its tenants on one engine for the database
(:mod:`sakyum_magic._run.tenants`), where each one-after-another run makes its own.

Two rows say what the machine allows. The CPU each side spends per target: this process (with the
Dask client and the LocalCluster's scheduler), the Dask workers, and the PostgreSQL server when it
runs on this machine; with what other work took meanwhile (a shared machine's). And the best the
parallel side could do: its CPU spread evenly over every core, against the sequential side's wall
time. With the server on the same two cores, that bound, not the worker count, caps the speed-up.

Then every target is at head: ``per target at head`` is the median time one such target takes
(read its version table on the worker's pooled connection, compare with the cached revision map,
skip: no lock, no env.py), measured in this process; the same as the Dask workers report it (with
the started-marker's scheduler calls), and the wall time of the no-op rollout per target, follow.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from benchmarks.cases import Bench, _server_database
from benchmarks.cpu import Cpu, cpu_now
from benchmarks.measure import Row, below, not_available, paired, times_faster

SCHEMAS, QUICK_SCHEMAS, REVISIONS, WORKERS = 200, 40, 10, 4
DATABASE = "sakyum_bench_fleet"
GROUP = "fleet (PostgreSQL schemas)"
REVISION = """revision = {rev!r}
down_revision = {down!r}
branch_labels = depends_on = None
import sqlalchemy as sa
from alembic import op


def upgrade():
    op.create_table("t{k}", sa.Column("id", sa.Integer, primary_key=True), sa.Column("v", sa.Text))


def downgrade():
    op.drop_table("t{k}")
"""


def run(bench: Bench, quick: bool) -> None:
    count = QUICK_SCHEMAS if quick else SCHEMAS
    parallel_case = f"{count} schemas x {REVISIONS} revisions: {WORKERS} Dask workers vs one after another"
    head_case = "per target at head: its own work (median)"
    if bench.postgres_url is None:
        bench.record(not_available(GROUP, parallel_case, times_faster(3), "no PostgreSQL server"))
        bench.record(not_available(GROUP, head_case, below(20), "no PostgreSQL server"))
        return
    try:
        import distributed as imported
    except ModuleNotFoundError:
        bench.record(not_available(GROUP, parallel_case, times_faster(3), "dask[distributed] not installed"))
        return
    distributed: Any = imported
    url = _server_database(bench.postgres_url, DATABASE)
    migrator = _chain(bench, url)
    names = [f"tenant_{k:03}" for k in range(count)]
    with (
        distributed.LocalCluster(
            n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        _rollouts(bench, migrator, url, names, client, parallel_case)
        _at_head(bench, migrator, names, client, head_case)
    _drop(bench.postgres_url)


def _chain(bench: Bench, url: str) -> Any:
    from sakyum_magic import Migrator

    migrator = Migrator(url=url, directory=bench.root / "fleet", ini=bench.root / "fleet.ini")
    migrator.init()
    for k in range(1, REVISIONS + 1):
        text = REVISION.format(rev=f"f{k}", down=f"f{k - 1}" if k > 1 else None, k=k)
        (migrator.directory / "versions" / f"f{k}.py").write_text(text)
    return migrator


def _rollouts(bench: Bench, migrator: Any, url: str, names: list[str], client: Any, case: str) -> None:
    from sakyum_magic import Migrator

    used: dict[str, list[Cpu]] = {"plain": [], "magic": []}

    def sequential() -> None:
        began = cpu_now()
        for name in names:
            one = Migrator(
                url=url, directory=migrator.directory, ini=migrator.ini, schema=name, progress=False
            )
            one.upgrade(allow_lint=True)  # the fleet lints the chain once, not once per tenant
            one.dispose()
        used["plain"].append(cpu_now() - began)

    def parallel() -> None:
        began = cpu_now()
        result = migrator.fleet(names, "upgrade", executor=client, parallel=WORKERS)
        used["magic"].append(cpu_now() - began)
        assert result.counts()["done"] == len(names), result.summary()

    pair = paired(sequential, parallel, min(bench.runs, 3), lambda side: _fresh(url, names))
    row = Row(GROUP, case, pair.plain_ms, pair.magic_ms, pair.ratio, times_faster(3), delta_ms=pair.delta_ms)
    bench.record(row)
    _cpu_rows(bench, used, len(names), (pair.plain_ms, pair.magic_ms))


def _cpu_rows(bench: Bench, used: dict[str, list[Cpu]], count: int, walls: tuple[float, float]) -> None:
    """CPU per target of each side (client, Dask workers, server), and the best the machine allows:
    the parallel side's CPU spread over every core, against the sequential side's wall time."""
    sides = {side: _per_target(samples, count) for side, samples in used.items()}
    plain, magic = sides["plain"], sides["magic"]
    if plain is None or magic is None:
        note = "the PostgreSQL server runs elsewhere: its CPU is not seen"
        bench.record(Row(GROUP, "CPU per target and the bound it sets", None, None, None, note=note))
        return
    cores = os.cpu_count() or 1
    note = (
        f"one after another: this process {plain[0]:.0f} + server {plain[2]:.0f} ms (+ the idle Dask "
        f"cluster's workers {plain[1]:.0f} ms), other work {plain[3]:.0f} ms meanwhile; {WORKERS} Dask "
        "workers: this process (client, scheduler) "
        f"{magic[0]:.0f} + workers {magic[1]:.0f} + server {magic[2]:.0f} ms, other work {magic[3]:.0f} ms"
    )
    case = "CPU per target (ms, medians): one after another vs Dask"
    bench.record(Row(GROUP, case, sum(plain[:3]), sum(magic[:3]), sum(magic[:3]) / sum(plain[:3]), note=note))
    best = sum(magic[:3]) * count / cores
    busy = sum(magic) * count / cores / walls[1]
    bound = f"at best on {cores} cores: the Dask side's CPU ÷ {cores} vs one after another's wall"
    note = f"the {cores} cores were {busy:.0%} busy during the Dask side (other work included)"
    bench.record(Row(GROUP, bound, walls[0], best, best / walls[0], note=note))


def _per_target(samples: list[Cpu], count: int) -> tuple[float, float, float, float] | None:
    """Median ms per target of this process, its children, the server and other work; None without
    the server."""
    if any(sample.server is None for sample in samples):
        return None
    parts = [(s.own, s.children, s.server or 0.0, s.others) for s in samples]
    own, children, server, others = (
        statistics.median(column) * 1000 / count for column in zip(*parts, strict=True)
    )
    return own, children, server, others


def _at_head(bench: Bench, migrator: Any, names: list[str], client: Any, case: str) -> None:
    """The cost of a target already at head: each target's own work, measured in this process (no
    executor), then as the Dask workers report it (with the started-marker's two scheduler calls)."""
    import functools

    from sakyum_magic import Migrator
    from sakyum_magic._fleet.work import Task, run_target

    opener = functools.partial(Migrator, directory=migrator.directory, ini=migrator.ini, progress=False)
    tasks = [Task(str(migrator.url), name, "upgrade", None, opener) for name in names]
    run_target(tasks[0])  # the revision map loaded, the reader's connection open
    own: list[float] = []
    for task in tasks * 2:
        began = time.perf_counter()
        assert run_target(task).status == "skipped"
        own.append((time.perf_counter() - began) * 1000)
    bench.record(Row(GROUP, case, None, statistics.median(own), None, below(20)))
    in_worker: list[float] = []
    walls: list[float] = []
    for _ in range(2):
        began = time.perf_counter()
        result = migrator.fleet(names, "upgrade", executor=client, parallel=WORKERS)
        walls.append((time.perf_counter() - began) * 1000 / len(names))
        assert result.counts()["skipped"] == len(names), result.summary()
        in_worker += [row.seconds * 1000 for row in result.rows]
    worker_case = "the same in a Dask worker, with its started-marker (median)"
    bench.record(Row(GROUP, worker_case, None, statistics.median(in_worker), None, None))
    wall = f"whole no-op rollout, wall time ÷ {len(names)} targets ({WORKERS} workers)"
    bench.record(Row(GROUP, wall, None, statistics.median(walls), None, None))


def _fresh(url: str, names: list[str]) -> None:
    """Every tenant schema dropped and made again, empty."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with engine.connect() as connection:
        for name in names:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE; CREATE SCHEMA "{name}"')
    engine.dispose()


def _drop(base_url: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    admin.dispose()
