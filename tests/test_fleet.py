"""Fleets: one chain applied to many PostgreSQL schemas, SQLite files and MariaDB databases, in worker
processes (the default process pool, and a real Dask LocalCluster with worker processes).

Every revision chain here has r1..r3; r2 is the one that can misbehave on a target that holds a table
named ``poison`` (a statement that fails) or ``victim`` (it writes its process id next to the
revisions and sleeps, so the test can kill that worker process mid-revision).

Each test's PostgreSQL schemas live in the test's own database and its MariaDB databases are made
for it; all are dropped after the test.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sakyum_magic import Migrator
from sakyum_magic._core.errors import ConfigurationError
from sakyum_magic._display.render import fleet as fleet_frame
from sakyum_magic._fleet import FleetTarget
from sakyum_magic._fleet.targets import fleet_targets
from tests.revisions import write

SECRET = "Fl33tS3cret"
R2 = """
import os, time
from pathlib import Path
from alembic import context
tables = [] if context.is_offline_mode() else sa.inspect(op.get_bind()).get_table_names()
if "poison" in tables:
    op.execute("SELECT * FROM no_such_table_anywhere")
if "victim" in tables:
    Path(__file__).resolve().parents[1].joinpath("victim.pid").write_text(str(os.getpid()))
    time.sleep(120)
op.create_table("t2", sa.Column("id", sa.Integer, primary_key=True))
"""


def chain(workdir: Path, url: str) -> Migrator:
    """A migrator on ``url`` with the chain r1..r3 (see the module docstring)."""
    migrator = Migrator(url=url, directory=workdir / "alembic", ini=workdir / "alembic.ini")
    migrator.init()
    table = 'op.create_table("t{}", sa.Column("id", sa.Integer, primary_key=True))'
    write(migrator.directory, "r1", None, table.format(1))
    write(migrator.directory, "r2", "r1", R2, 'op.drop_table("t2")')
    write(migrator.directory, "r3", "r2", table.format(3))
    return migrator


def make_schemas(url: str, names: list[str], tables: dict[str, str] | None = None) -> None:
    """Create the schemas (and a marker table in some: ``{schema: table}``)."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for name in names:
            connection.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        for schema, table in (tables or {}).items():
            connection.exec_driver_sql(f'CREATE TABLE "{schema}".{table} (id int)')
    engine.dispose()


def schema_tables(url: str) -> dict[str, set[str]]:
    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).all()
    engine.dispose()
    found: dict[str, set[str]] = {}
    for schema, table in rows:
        found.setdefault(schema, set()).add(table)
    return found


def at(url: str, schema: str | None = None) -> tuple[str, ...]:
    from sakyum_magic._run.database import create_engine, current_heads

    engine = create_engine(make_url(url), schema)
    try:
        return current_heads(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A real Dask LocalCluster with two worker processes of one thread each, and its client."""
    distributed = pytest.importorskip("distributed", reason="dask[distributed] (the fleet extra) is missing")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as made,
        distributed.Client(made) as client,
    ):
        yield client


@pytest.fixture
def mysql_databases(mysql_url: str) -> Iterator[list[str]]:
    """Five MariaDB databases of the test's own, dropped after it."""
    names = [f"sakyum_fleet_{uuid.uuid4().hex[:8]}_{k}" for k in range(5)]
    engine = sa.create_engine(mysql_url)
    with engine.connect() as connection:
        for name in names:
            connection.exec_driver_sql(f"CREATE DATABASE `{name}`")
    try:
        yield names
    finally:
        with engine.connect() as connection:
            for name in names:
                connection.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        engine.dispose()


# -- targets ---------------------------------------------------------------------------------------


def test_targets_from_lists_pairs_mappings_and_frames() -> None:
    import pandas as pd

    bound = f"postgresql+psycopg://app:{SECRET}@db/main"
    given = [
        "sqlite:///a.db",
        "tenant_1",
        (bound, "tenant_2"),
        {"schema": "tenant_3"},
        {"url": "mysql+pymysql://root@h/x", "schema": "shop_4"},
    ]
    targets = fleet_targets(given, bound)
    assert [t.schema for t in targets] == [None, "tenant_1", "tenant_2", "tenant_3", None]
    assert targets[4].url.endswith("/shop_4")  # a MySQL schema is a database: USE it
    assert targets[1].url == bound and SECRET not in repr(targets) and SECRET not in targets[1].label
    assert targets[1].label == "postgresql+psycopg://app:***@db/main / tenant_1"
    frame = pd.DataFrame({"url": [bound, bound], "schema": ["a", None]})
    assert [t.schema for t in fleet_targets(frame, None)] == ["a", None]
    assert fleet_targets([FleetTarget("sqlite:///b.db")], None)[0].label == "sqlite:///b.db"


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ([], "no targets"),
        (["sqlite:///a.db", "sqlite:///a.db"], "targets 1 and 2"),
        ([("postgresql://u@h/d", 'x"; drop')], "not a plain name"),
        ([("sqlite:///a.db", "s")], "needs PostgreSQL"),
        ("SELECT 1", "a list"),
        ([3], "is a int"),
    ],
)
def test_targets_refused(given: Any, words: str) -> None:
    with pytest.raises(ConfigurationError, match=words):
        fleet_targets(given, None)


# -- the default process pool --------------------------------------------------------------------


@pytest.mark.slow
def test_sqlite_files_on_the_process_pool(workdir: Path) -> None:
    urls = [f"sqlite:///{workdir / f'shard{k}.db'}" for k in range(20)]
    migrator = chain(workdir, urls[0])
    for url in urls[:5]:  # already at head
        Migrator(url=url, directory=migrator.directory, ini=migrator.ini).upgrade()
    updates: list[Any] = []
    result = migrator.fleet(urls, "upgrade", parallel=2, on_update=updates.append)
    statuses = [row.status for row in result.rows]
    assert statuses == ["skipped"] * 5 + ["done"] * 15, result.summary()
    assert all(row.after == ("r3",) for row in result.rows)
    assert {row.steps for row in result.rows[5:]} == {3}
    summary = "upgrade on 20 targets: 15 done, 5 skipped (already there), 0 failed, 0 not started"
    assert result.summary() == summary
    assert any(row.status == "running" for update in updates for row in update.rows)  # live updates
    again = migrator.fleet(urls, "upgrade", parallel=2)
    assert {row.status for row in again.rows} == {"skipped"}
    engine = sa.create_engine(urls[0])  # targets from a query on the bound database
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE shards (url TEXT)")
        connection.execute(sa.text("INSERT INTO shards VALUES (:url)"), [{"url": url} for url in urls[3:6]])
    engine.dispose()
    queried = migrator.fleet("SELECT url FROM shards WHERE url LIKE '%shard%'", "current", parallel=1)
    assert [row.target for row in queried.rows] == urls[3:6] and queried.summary() == "3 targets: 3 at head"


def test_read_only_commands_create_no_sqlite_file(workdir: Path) -> None:
    """As current, plan, check and lint on one database: a missing file is said, never created."""
    urls = [f"sqlite:///{workdir / f'new{k}.db'}" for k in range(2)]
    migrator = chain(workdir, f"sqlite:///{workdir / 'bound.db'}")
    migrator.metadata = sa.MetaData()  # check compares models
    current = migrator.fleet(urls, "current", parallel=1)
    assert [row.drift for row in current.rows] == ["no database file"] * 2, current.rows
    assert current.summary() == "2 targets: 2 no database file"
    for action in ("plan", "check", "lint"):
        result = migrator.fleet(urls, action, parallel=1, continue_on_error=True)
        assert [row.status for row in result.rows] == ["failed"] * 2, (action, result.rows)
        assert "no database file at" in result.rows[0].error, (action, result.rows[0].error)
    assert not [path.name for path in workdir.glob("new*.db")]


@pytest.mark.slow
def test_check_compares_each_target_with_the_models(workdir: Path) -> None:
    urls = [f"sqlite:///{workdir / f'c{k}.db'}" for k in range(2)]
    migrator = chain(workdir, urls[0])
    migrator.fleet(urls, "upgrade", parallel=2)
    models = sa.MetaData()
    for k in (1, 2, 3):
        sa.Table(f"t{k}", models, sa.Column("id", sa.Integer, primary_key=True))
    migrator.metadata = models
    assert {row.status for row in migrator.fleet(urls, "check", parallel=2).rows} == {"done"}
    sa.Table("t4", models, sa.Column("id", sa.Integer, primary_key=True))
    pending = migrator.fleet(urls, "check", parallel=2, continue_on_error=True)
    assert [row.status for row in pending.rows] == ["failed", "failed"]
    assert "1 operation(s) pending" in pending.rows[0].error


@pytest.mark.postgres
@pytest.mark.slow
def test_failing_target_continue_on_error_and_max_failures(postgres_url: str, workdir: Path) -> None:
    names = [f"t{k}" for k in range(6)]
    make_schemas(postgres_url, names, {"t2": "poison"})
    migrator = chain(workdir, postgres_url)
    stopped = migrator.fleet(names, "upgrade", parallel=1, max_failures=0)
    assert [row.status for row in stopped.rows] == ["done", "done", "failed", *["not started"] * 3]
    failed = stopped.rows[2]
    assert failed.after == ("r1",) and "no_such_table_anywhere" in failed.error  # r1 kept, r2 undone
    assert "more than --max-failures 0" in stopped.stopped and "3 not started" in stopped.summary()
    assert "t2" not in schema_tables(postgres_url)["t2"]
    going = migrator.fleet(names, "upgrade", parallel=2, continue_on_error=True)
    assert [row.status for row in going.rows] == ["skipped", "skipped", "failed", "done", "done", "done"]
    assert at(postgres_url, "t5") == ("r3",) and at(postgres_url, "t2") == ("r1",)
    assert "t1" not in schema_tables(postgres_url).get("public", set())  # nothing in the default schema


@pytest.mark.postgres
@pytest.mark.slow
def test_a_failing_canary_stops_the_rollout(postgres_url: str, workdir: Path) -> None:
    names = [f"c{k}" for k in range(5)]
    make_schemas(postgres_url, names, {"c1": "poison"})
    migrator = chain(workdir, postgres_url)
    result = migrator.fleet(names, "upgrade", canary=2, parallel=2, continue_on_error=True)
    assert [row.status for row in result.rows] == ["done", "failed", *["not started"] * 3]
    assert result.stopped.startswith("canary target") and at(postgres_url, "c4") == ()


@pytest.mark.postgres
@pytest.mark.slow
def test_drift_report_and_plan(postgres_url: str, workdir: Path) -> None:
    names = ["d_head", "d_behind", "d_none", "d_unknown"]
    make_schemas(postgres_url, names)
    migrator = chain(workdir, postgres_url)
    Migrator(url=postgres_url, directory=migrator.directory, schema="d_head").upgrade()
    Migrator(url=postgres_url, directory=migrator.directory, schema="d_behind").upgrade("r1")
    Migrator(url=postgres_url, directory=migrator.directory, schema="d_unknown").upgrade("r1")
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE d_unknown.alembic_version SET version_num = 'zz9'")
    engine.dispose()
    report = migrator.fleet(names, "current", parallel=2)
    drift = ["at head", "behind 2", "no version table", "unknown revision (zz9)"]
    assert [row.drift for row in report.rows] == drift
    assert report.summary().startswith("4 targets: ")
    plan = migrator.fleet(names[:3], "plan", parallel=2)
    assert [row.status for row in plan.rows] == ["skipped", "done", "done"]
    assert [row.steps for row in plan.rows] == [0, 2, 3] and at(postgres_url, "d_none") == ()
    assert [s.revision for s in plan.rows[1].plan.steps] == ["r2", "r3"]
    assert len(plan.notes) == 1 and "lint" in plan.notes[0]  # once for the chain, not per target


@pytest.mark.postgres
@pytest.mark.slow
def test_lint_runs_on_each_target_with_its_own_table_sizes(postgres_url: str, workdir: Path) -> None:
    """The same pending revision is a note on an empty tenant and a warning on one of 20,000 rows; a
    tenant that applied it already has nothing to lint; nothing is written to any tenant."""
    names = ["l_small", "l_big", "l_done"]
    make_schemas(postgres_url, names)
    migrator = chain(workdir, postgres_url)
    index = 'op.create_index("ix_t1_id", "t1", ["id"])'
    write(migrator.directory, "r4", "r3", index, 'op.drop_index("ix_t1_id", "t1")')
    for name, revision in zip(names, ("r3", "r3", "r4"), strict=True):
        Migrator(url=postgres_url, directory=migrator.directory, schema=name).upgrade(revision)
    engine = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql("INSERT INTO l_big.t1 SELECT generate_series(1, 20000)")
        connection.exec_driver_sql("ANALYZE l_big.t1")
    engine.dispose()
    result = migrator.fleet(names, "lint", parallel=2)
    assert [row.status for row in result.rows] == ["done"] * 3
    assert [row.steps for row in result.rows] == [1, 1, 0]  # revisions linted: r4 where it is pending
    rule = "require-concurrent-index-creation"
    assert result.rows[0].lint == f"1 note: {rule} on t1 (0 rows)"
    assert result.rows[1].lint == f"1 warning: {rule} on t1 (20,000 rows)"
    assert result.rows[2].lint == "clean (0 revision(s))" and result.rows[2].findings.findings == ()
    assert result.summary() == "lint on 3 targets: 0 with errors, 2 with findings only, 1 clean"
    assert [at(postgres_url, name) for name in names] == [("r3",), ("r3",), ("r4",)]
    with engine.connect() as connection:
        indexed = connection.exec_driver_sql("SELECT schemaname FROM pg_indexes WHERE indexname = 'ix_t1_id'")
        assert sorted(row[0] for row in indexed) == ["l_done"]  # lint created no index where r4 is pending
    engine.dispose()
    frame = fleet_frame(result)
    assert list(frame.columns)[:3] == ["target", "status", "lint"]


@pytest.mark.postgres
@pytest.mark.slow
def test_a_killed_pool_worker_reports_its_target_lost(postgres_url: str, workdir: Path) -> None:
    names = ["k0", "k1"]
    make_schemas(postgres_url, names, {"k1": "victim"})
    migrator = chain(workdir, postgres_url)
    killer = kill_when_started(workdir / "alembic" / "victim.pid")
    result = migrator.fleet(["k1", "k0"], "upgrade", parallel=1, continue_on_error=True)
    killer.join()
    assert result.rows[0].status == "lost" and result.rows[0].error == "lost: at r1"
    assert result.rows[1].status == "not started" and "worker pool broke" in result.stopped
    assert at(postgres_url, "k1") == ("r1",) and "t2" not in schema_tables(postgres_url)["k1"]
    drop_table(postgres_url, "k1.victim")
    rerun = migrator.fleet(["k1", "k0"], "upgrade", parallel=1)
    assert [row.status for row in rerun.rows] == ["done", "done"] and rerun.rows[0].before == ("r1",)


def kill_when_started(pid_file: Path) -> threading.Thread:
    """A thread that SIGKILLs the process whose id appears in ``pid_file``."""

    def kill() -> None:
        deadline = time.monotonic() + 120
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def drop_table(url: str, table: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP TABLE {table}")
    engine.dispose()


# -- on a Dask LocalCluster ---------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.mysql
@pytest.mark.slow
def test_postgres_schemas_sqlite_files_and_mariadb_databases_on_dask(
    postgres_url: str, mysql_url: str, mysql_databases: list[str], workdir: Path, cluster: Any
) -> None:
    schemas = [f"tenant_{k:02}" for k in range(50)]
    make_schemas(postgres_url, schemas)
    files = [f"sqlite:///{workdir / f'shard{k}.db'}" for k in range(20)]
    mysql = [(mysql_url, name) for name in mysql_databases]
    migrator = chain(workdir, postgres_url)
    for schema in schemas[:4]:
        Migrator(url=postgres_url, directory=migrator.directory, schema=schema).upgrade()
    targets = [*schemas, *files, *mysql]
    result = migrator.fleet(targets, "upgrade", executor=cluster, continue_on_error=True)
    counts = result.counts()
    assert (counts["done"], counts["skipped"], counts["failed"]) == (71, 4, 0), result.summary()
    tables = schema_tables(postgres_url)
    assert all({"alembic_version", "t1", "t2", "t3"} <= tables[schema] for schema in schemas)
    assert "t1" not in tables.get("public", set())
    assert all(at(mysql_url.rsplit("/", 1)[0] + "/" + name) == ("r3",) for name in mysql_databases)
    assert all(row.after == ("r3",) for row in result.rows)


@pytest.mark.postgres
@pytest.mark.slow
def test_a_killed_dask_worker_is_reported_not_rerun(postgres_url: str, workdir: Path, cluster: Any) -> None:
    names = ["v0", "v1", "v2"]
    make_schemas(postgres_url, names, {"v1": "victim"})
    migrator = chain(workdir, postgres_url)
    killer = kill_when_started(workdir / "alembic" / "victim.pid")
    result = migrator.fleet(names, "upgrade", executor=cluster, continue_on_error=True)
    killer.join()
    assert [row.status for row in result.rows] == ["done", "lost", "done"], result.rows
    assert result.rows[1].error == "lost: at r1" and at(postgres_url, "v1") == ("r1",)
    assert "t2" not in schema_tables(postgres_url)["v1"]  # the killed revision left nothing behind
    drop_table(postgres_url, "v1.victim")
    rerun = migrator.fleet(names, "upgrade", executor=cluster)
    assert [row.status for row in rerun.rows] == ["skipped", "done", "skipped"]
    assert rerun.rows[1].before == ("r1",) and rerun.rows[1].after == ("r3",)


@pytest.mark.postgres
@pytest.mark.slow
def test_credentials_stay_out_of_outputs_and_task_keys(
    postgres_url: str, workdir: Path, cluster: Any
) -> None:
    secret_url = make_url(postgres_url).set(password=SECRET).render_as_string(hide_password=False)
    names = ["s0", "s1", "s2"]
    make_schemas(postgres_url, names, {"s1": "poison"})
    migrator = chain(workdir, secret_url)
    keys: list[str] = []

    def spy(_result: Any) -> None:
        keys.extend(cluster.run_on_scheduler(lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks]))

    result = migrator.fleet(names, "upgrade", executor=cluster, continue_on_error=True, on_update=spy)
    assert [row.status for row in result.rows] == ["done", "failed", "done"]
    table = fleet_frame(result)
    logs = [*cluster.get_scheduler_logs(), *cluster.get_worker_logs().values()]
    shown = [repr(result), result.summary(), table.to_text(), table._repr_html_(), *keys, repr(logs)]
    assert keys and all(SECRET not in text for text in shown)
    assert "***" in result.rows[0].target and result.rows[1].error


# -- in a Jupyter kernel --------------------------------------------------------------------------


@pytest.mark.notebook
@pytest.mark.slow
def test_the_table_is_redrawn_in_place_while_the_rollout_runs(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    seen: list[tuple[str, str]] = []

    class Recording(NotebookClient):  # type: ignore[misc]
        def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
            kind = msg["msg_type"]
            if kind in ("display_data", "update_display_data"):
                seen.append((kind, str(msg["content"]["data"].get("text/html", ""))))
            return super().process_message(msg, cell, cell_index)

    revisions = (  # three revisions of 0.3 s each, written as %%migrate revision cells
        "body = 'def upgrade():\\n    import time\\n    time.sleep(0.3)\\n'\n"
        "for k in range(3):\n"
        "    get_ipython().run_cell_magic('migrate', f'revision -m s{k} --rev-id r{k}', body)"
    )
    cells = [
        "%load_ext sakyum_magic",
        "%migrate config --url sqlite:///bound.db\n%migrate init",
        revisions,
        "shards = [f'sqlite:///shard{k}.db' for k in range(6)]",
        "%migrate fleet shards upgrade --parallel 2",
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    Recording(notebook, timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    tables = [html for kind, html in seen if "<table" in html and "running" in html]
    assert tables and any(kind == "update_display_data" for kind, _ in seen)  # redrawn in place
    result = notebook.cells[-1].outputs[-1]
    assert result.output_type == "execute_result" and "6 done" in result.data["text/plain"]
    leftover = [
        o for o in notebook.cells[-1].outputs if o.output_type == "display_data" and "<table" in str(o)
    ]
    assert not leftover  # the live table gave way to the result
