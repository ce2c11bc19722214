"""A scratch run (%migrate test) reaches nothing real: env.py's schema options and a revision's own
schema names are redirected or refused, and a change to the bound database is an error naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import Migrator, ScratchError
from sakyum_magic._features.fence import Fence, bound_state
from tests.revisions import chain, sync_url, version, write
from tests.shells import migrate, one_line_error

CONFIGURE = (
    "context.configure(connection=connection, **{**configure_options(connection.dialect.name), **extra})"
)


def migrator(url: str) -> Migrator:
    made = Migrator(url=url, directory="mig", progress=False)
    made.init()
    return made


def configure_with(directory: Path, extra: str) -> None:
    """The env.py %migrate init writes, with ``extra`` keyword arguments added to its configure()."""
    env = directory / "env.py"
    configured = CONFIGURE.replace("connection=connection, ", f"connection=connection, {extra}, ")
    text = env.read_text()
    assert CONFIGURE in text, "the env.py init writes no longer configures as this test expects"
    env.write_text(text.replace(CONFIGURE, configured))


def database_name(url: str) -> str:
    return str(sa.engine.make_url(url).database)


def state(url: str) -> tuple[tuple[str, ...], list[str]]:
    """The version rows and the tables of the database at ``url``."""
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return version(url), sorted(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_a_version_table_schema_naming_the_bound_database_stays_on_the_scratch_one(
    mysql_url: str, workdir: Path
) -> None:
    """The reported case: on MariaDB, version_table_schema=<the bound database> made %migrate test move
    the real version row from r1 to r2 without creating r2's table."""
    core = migrator(mysql_url)
    configure_with(workdir / "mig", f"version_table_schema={database_name(mysql_url)!r}")
    chain(workdir / "mig", 2)
    core.upgrade("r1")
    before = state(mysql_url)
    assert before == (("r1",), ["alembic_version", "sakyum_migration_log", "t1"])
    results = {r.check: r for r in core.test()}
    assert results["upgrade"].ok and results["upgrade"].detail == "base → r2: 2 revision(s) applied"
    assert results["up_down_consistency"].ok, results["up_down_consistency"].detail
    assert state(mysql_url) == before
    core.upgrade("head")
    assert state(mysql_url)[0] == ("r2",) and "t2" in state(mysql_url)[1]


def test_another_real_database_as_version_table_schema_is_refused(mysql_url: str, workdir: Path) -> None:
    core = migrator(mysql_url)
    configure_with(workdir / "mig", "version_table_schema='test'")  # the server's `test` database
    chain(workdir / "mig", 1)
    with pytest.raises(ScratchError, match=r"version_table_schema='test' names the database 'test'"):
        core.test()
    assert state(mysql_url) == ((), [])


def test_include_schemas_on_mariadb_is_refused(mysql_url: str, workdir: Path) -> None:
    core = migrator(mysql_url)
    configure_with(workdir / "mig", "include_schemas=True")
    chain(workdir / "mig", 1)
    with pytest.raises(ScratchError, match="include_schemas=True reads every database on the server"):
        core.test(["upgrade"])


@pytest.mark.parametrize(
    "reach",
    [
        'op.create_table("t2", sa.Column("id", sa.Integer, primary_key=True), schema={db!r})',
        "op.execute(\"INSERT INTO `{db}`.t1 (id, note) VALUES (999, 'x')\")",
        "op.execute(\"UPDATE {db}.alembic_version SET version_num = 'r2'\")",
    ],
    ids=["schema-argument", "quoted-name-in-sql", "bare-name-in-sql"],
)
def test_a_revision_naming_the_bound_database_is_stopped_before_it_runs(
    mysql_url: str, workdir: Path, reach: str
) -> None:
    core = migrator(mysql_url)
    chain(workdir / "mig", 1)
    write(workdir / "mig", "r2", "r1", reach.format(db=database_name(mysql_url)))
    core.upgrade("r1")
    before = state(mysql_url)
    with pytest.raises(ScratchError) as caught:
        core.test()
    message = str(caught.value)
    assert f"names the database {database_name(mysql_url)!r}" in message and "(the bound one)" in message
    assert "nothing real was changed" in message and "\n" not in message
    assert state(mysql_url) == before


def test_a_name_inside_a_string_is_no_reference() -> None:
    fence = Fence("mysql", "app", "sakyum_test_1_a", frozenset({"app", "test"}))
    fence.statement("INSERT INTO notes (body) VALUES ('see app.t1 -- and `app`.x')")
    fence.statement("SELECT t.id FROM t1 AS t")
    with pytest.raises(ScratchError, match="names the database 'app'"):
        fence.statement("SELECT * FROM `app` . `t1`")
    with pytest.raises(ScratchError, match="names the database 'test'"):
        fence.statement("USE test")


def test_a_schema_of_its_own_on_postgresql_is_made_in_the_scratch_database(
    postgres_url: str, workdir: Path
) -> None:
    """A PostgreSQL schema lives inside one database: the scratch database gets its own."""
    with sa.create_engine(postgres_url).begin() as connection:
        connection.exec_driver_sql("CREATE SCHEMA meta")
    core = migrator(postgres_url)
    configure_with(workdir / "mig", "version_table_schema='meta'")
    chain(workdir / "mig", 2)
    core.upgrade("r1")
    # Only the upgrade check: the core reads a run's starting revision from the default schema's
    # version table, so the up/down walk does not follow a version table in another schema.
    (upgraded,) = core.test(["upgrade"])
    assert upgraded.ok, upgraded
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT version_num FROM meta.alembic_version").scalars().all()
    engine.dispose()
    assert rows == ["r1"]


def test_sqlite_attach_is_refused(sqlite_url: str, workdir: Path) -> None:
    core = migrator(sqlite_url)
    chain(workdir / "mig", 1)
    write(workdir / "mig", "r2", "r1", f"op.execute(\"ATTACH DATABASE '{workdir / 'test.db'}' AS real\")")
    core.upgrade("r1")
    with pytest.raises(ScratchError, match=r"attaches another database file \(ATTACH\)"):
        core.test()
    assert version(sqlite_url) == ("r1",)


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "mysql"])
def test_a_change_to_the_bound_database_is_an_error_naming_it(
    backend: str, workdir: Path, request: pytest.FixtureRequest
) -> None:
    """A revision that opens an engine of its own on the bound database escapes every fence: the
    comparison after the run says what it changed, instead of "the bound one was not used"."""
    url = str(request.getfixturevalue(f"{backend}_url"))
    core = migrator(url)
    chain(workdir / "mig", 1)
    reach = f"""
    engine = sa.create_engine({sync_url(url)!r})
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE sneaky (id INTEGER)")
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'r2'")
    engine.dispose()
    """
    write(workdir / "mig", "r2", "r1", reach)
    core.upgrade("r1")
    with pytest.raises(ScratchError) as caught:
        core.test(["upgrade"])
    message = str(caught.value)
    assert message.startswith("%migrate test changed the bound database ")
    assert "alembic_version r1 → r2; tables added: sneaky" in message, message


def test_the_bound_state_reads_every_version_table(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE SCHEMA other")
        connection.exec_driver_sql("CREATE TABLE other.my_versions (version_num VARCHAR(32))")
        connection.exec_driver_sql("INSERT INTO other.my_versions VALUES ('abc')")
        connection.exec_driver_sql("CREATE TABLE plain (id INTEGER)")
    found = bound_state(engine)
    engine.dispose()
    assert found is not None
    assert found.versions == {"other.my_versions": ("abc",)}
    assert found.tables == {"other.my_versions", "plain"}


def test_through_the_shell_a_refusal_is_one_line(shell: Any, workdir: Path, mysql_url: str) -> None:
    migrate(shell, f"config --url {mysql_url}")
    migrate(shell, "init")
    configure_with(workdir / "alembic", "include_schemas=True")
    chain(workdir / "alembic", 1)
    message = one_line_error(shell, "test")
    assert message.startswith("%migrate test stopped before it reached a real database: on MySQL/MariaDB")
