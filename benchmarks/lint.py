"""Cases for ``lint`` and ``plan --locks`` on PostgreSQL (issue 19).

``lint`` of a 100-revision chain (ten tables, then a column added to one of them per revision),
the database half way up so that the tables and their rows are live: held to under 2 s warm, and
shown beside its nearest peer, Alembic writing the same chain's offline SQL (which lint runs once,
then cuts per revision). ``plan --locks`` against ``plan`` on the same chain's last 50 revisions:
the lock reading after each statement is held to under 1.5x. The same on SQLite (its file's
``sqlite_master`` read after each statement).
"""

from __future__ import annotations

import time

from benchmarks.cases import RACY_WAIT, Bench, _server_database
from benchmarks.generate import make_project, rev_id
from benchmarks.measure import below, not_available, ratio_at_most

CHAIN, AT = 100, 50
ROWS = 10_000


def run(bench: Bench) -> None:
    _sqlite_locks(bench)
    group = f"column chain, N={CHAIN}, PostgreSQL"
    if bench.postgres_url is None:
        bench.record(not_available(group, "lint --all", below(2000), "PostgreSQL not reachable"))
        return
    try:
        import sqlglot  # noqa: F401
    except ImportError:
        bench.record(not_available(group, "lint --all", below(2000), "the migrate-lint extra"))
        return
    project = make_project(bench.root / "lint", CHAIN, "column")
    time.sleep(RACY_WAIT)
    url = _server_database(bench.postgres_url, "sakyum_bench_lint")
    bench.use(project, url)
    bench.migrate(f"upgrade {rev_id('column', AT - 1)}")
    _fill(url)
    bench.migrate("lint --all")  # warm: revision map, squawk's binary in the page cache
    try:
        offline = bench.plain("upgrade", project, "head", True, url=url)
        lint = lambda: bench.migrate("lint --all")  # noqa: E731
        bench.add(group, "lint --all, 100 revisions (peer: upgrade --sql)", offline, lint, below(2000))
        plan = lambda: bench.migrate("plan head")  # noqa: E731
        locks = lambda: bench.migrate("plan head --locks")  # noqa: E731
        bench.add(group, f"plan --locks, {CHAIN - AT} steps (peer: plan)", plan, locks, ratio_at_most(1.5))
    finally:
        bench.magics.migrator.dispose()


def _fill(url: str) -> None:
    """Rows in the ten tables, analysed, so that lint's sizes are real."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as connection:
        names = connection.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version' "
            "AND tablename NOT LIKE 'sakyum%%'"
        ).scalars()
        for name in list(names):
            connection.exec_driver_sql(f"INSERT INTO {name} (id) SELECT g FROM generate_series(1, {ROWS}) g")
            connection.exec_driver_sql(f"ANALYZE {name}")
    engine.dispose()


def _sqlite_locks(bench: Bench) -> None:
    """``plan --locks`` against ``plan`` on SQLite: the same chain's last 50 revisions, on a file."""
    project = make_project(bench.root / "lint_sqlite", CHAIN, "column")
    time.sleep(RACY_WAIT)
    bench.use(project)
    bench.migrate(f"upgrade {rev_id('column', AT - 1)}")
    plan = lambda: bench.migrate("plan head")  # noqa: E731
    locks = lambda: bench.migrate("plan head --locks")  # noqa: E731
    group = f"column chain, N={CHAIN}, SQLite"
    try:
        bench.add(group, f"plan --locks, {CHAIN - AT} steps (peer: plan)", plan, locks, ratio_at_most(1.5))
    finally:
        bench.magics.migrator.dispose()
