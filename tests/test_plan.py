"""``plan``: the dry run equals what ``upgrade`` then executes, marks data loss, and changes nothing."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from sakyum_magic import ConfigurationError, DatabaseError, Migrator
from sakyum_magic._display.render import PLAN_COLUMNS
from tests.shells import alembic, migrate, one_line_error


def models(*, age: bool = True, notes: bool = True, name_length: int = 50) -> sa.MetaData:
    m = sa.MetaData()
    columns = [sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(name_length))]
    if age:
        columns.append(sa.Column("age", sa.Integer))
    sa.Table("people", m, *columns)
    if notes:
        sa.Table("notes", m, sa.Column("id", sa.Integer, primary_key=True))
    return m


def state(url: str) -> tuple[Any, ...]:
    """Everything plan must leave alone: the version, the tables with their columns, the rows."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        with engine.connect() as connection:
            version = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
            people = connection.execute(sa.text("SELECT * FROM people ORDER BY id")).all()
        schema = {t: [c["name"] for c in inspector.get_columns(t)] for t in inspector.get_table_names()}
        return version, schema, people
    finally:
        engine.dispose()


def file_digest(url: str) -> str:
    return hashlib.sha256(Path(sa.engine.make_url(url).database or "").read_bytes()).hexdigest()


def at_version_one(url: str) -> Migrator:
    migrator = Migrator(url=url, metadata=models())
    migrator.init()
    migrator.revision("one", autogenerate=True)
    migrator.upgrade()
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO people (id, name, age) VALUES (1, 'Ada', 36), (2, 'Bo', 7)"))
    engine.dispose()
    return migrator


def with_revisions(migrator: Migrator, *changes: tuple[str, sa.MetaData]) -> None:
    """Autogenerate one revision per change (autogenerate needs an up-to-date database, so each is
    applied), then go back to where the database was: the new revisions are pending again."""
    start = migrator.current().revisions[0].revision
    for message, metadata in changes:
        migrator.metadata = metadata
        migrator.revision(message, autogenerate=True, allow_drop=True)
        migrator.upgrade()
    migrator.downgrade(start)


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, workdir: Path) -> str:
    """SQLite, then PostgreSQL, each with the test's own working directory."""
    return str(request.getfixturevalue(f"{request.param}_url"))


def test_plan_equals_what_upgrade_executes(url: str) -> None:
    migrator = at_version_one(url)
    with_revisions(
        migrator,
        ("drop age and notes", models(age=False, notes=False)),
        ("widen name", models(age=False, notes=False, name_length=80)),
    )
    before = state(url)
    digest = file_digest(url) if url.startswith("sqlite") else None

    planned = migrator.plan()
    assert state(url) == before  # nothing changed: version, schema, rows
    if digest is not None:
        assert file_digest(url) == digest  # not one byte of the SQLite file
    assert planned.command == "upgrade" and len(planned.steps) == 2
    assert all(step.sql for step in planned.steps)

    applied = migrator.upgrade()
    assert [(s.revision, s.sql) for s in planned.steps] == [(s.revision, s.sql) for s in applied.steps]


def test_plan_marks_statements_that_lose_data(url: str) -> None:
    migrator = at_version_one(url)
    with_revisions(
        migrator,
        ("drop age and notes", models(age=False, notes=False)),
        ("widen name", models(age=False, notes=False, name_length=80)),
        ("narrow name", models(age=False, notes=False, name_length=10)),
    )

    drop, widen, narrow = migrator.plan().steps
    lossy = {
        text.split("(")[0].split("\n")[0].strip()
        for text, d in zip(drop.sql, drop.destructive, strict=True)
        if d
    }
    assert "DROP TABLE notes" in lossy
    if url.startswith("sqlite"):  # batch mode: the copy that leaves "age" behind loses it
        assert any(s.startswith("INSERT INTO _alembic_tmp_people") for s in lossy)
        assert "DROP TABLE people" not in lossy  # the rows were copied first
    else:
        assert "ALTER TABLE people DROP COLUMN age" in lossy
    assert not any(widen.destructive)
    assert sum(narrow.destructive) == 1
    assert not any(
        s.startswith("UPDATE alembic_version")
        for s, d in zip(narrow.sql, narrow.destructive, strict=True)
        if d
    )


def test_plan_down_and_nothing_to_do(sqlite_url: str) -> None:
    migrator = at_version_one(sqlite_url)
    migrator.metadata = models(notes=False)
    two = migrator.revision("drop notes", autogenerate=True, allow_drop=True).revisions[0].revision
    migrator.upgrade()

    down = migrator.plan("-1")
    assert down.command == "downgrade"
    assert [s.direction for s in down.steps] == ["down"]
    assert any(s.startswith("CREATE TABLE notes") for s in down.steps[0].sql)
    to_base = migrator.plan("base")
    assert to_base.command == "downgrade" and len(to_base.steps) == 2
    assert to_base.destructive  # dropping people loses its rows
    assert migrator.plan().steps == ()
    assert migrator.current().revisions[0].revision == two


def test_plan_of_an_unversioned_database_starts_from_base(sqlite_url: str) -> None:
    """As upgrade would: every revision from base, and nothing created, not even alembic_version."""
    migrator = Migrator(url=sqlite_url, metadata=models())
    migrator.init()
    migrator.revision("one", autogenerate=True)  # autogenerate connected: an empty file exists
    result = migrator.plan()
    Path(sqlite_url.removeprefix("sqlite:///")).unlink()
    with pytest.raises(DatabaseError, match="no database file"):
        migrator.plan()
    engine = sa.create_engine(sqlite_url)
    engine.connect().close()  # an empty database file again
    result = migrator.plan()
    assert result.current == () and len(result.steps) == 1
    assert any("CREATE TABLE" in statement for statement in result.steps[0].sql)
    assert not sa.inspect(engine).get_table_names()
    engine.dispose()


@pytest.mark.postgres
def test_plan_refuses_a_revision_that_commits_on_its_own(postgres_url: str, workdir: Path) -> None:
    migrator = at_version_one(postgres_url)
    path = Path(migrator.revision("autocommit").revisions[0].path)
    # Newer Alembic templates put a docstring in upgrade(); older ones (1.9) only `pass`.
    source = re.sub(
        r"(def upgrade\(\) -> None:\n(?:    \"\"\"Upgrade schema.\"\"\"\n)?)    pass",
        r"\1    with op.get_context().autocommit_block():\n"
        r'        op.execute("CREATE TABLE committed (id integer)")',
        path.read_text(),
    )
    assert "autocommit_block" in source
    path.write_text(source)
    before = state(postgres_url)
    with pytest.raises(DatabaseError, match="commits on its own"):
        migrator.plan()
    assert state(postgres_url) == before


# -- through the magic ----------------------------------------------------------------------


def test_magic_plan_table(shell: Any, sqlite_url: str) -> None:
    at_version_one(sqlite_url)
    shell.user_ns["models"] = models(notes=False)
    migrate(shell, f"config --url {sqlite_url} --metadata models")
    migrate(shell, "revision --autogenerate -m 'drop notes' --allow-drop")
    shown = migrate(shell, "plan")
    assert isinstance(shown, pd.DataFrame)
    assert list(shown.columns) == PLAN_COLUMNS
    assert list(shown.loc[shown["destructive"], "statement"]) == ["DROP TABLE notes"]
    assert "!" in repr(shown) and "nothing was run" in repr(shown)
    migrate(shell, "upgrade head")
    nothing = migrate(shell, "plan head")
    assert isinstance(nothing, pd.DataFrame) and nothing.empty and "Nothing to do" in repr(nothing)


def test_magic_plan_without_a_database_file_is_one_line(shell: Any, sqlite_url: str) -> None:
    shell.user_ns["models"] = models()
    migrate(shell, f"config --url {sqlite_url} --metadata models")
    migrate(shell, "init")
    assert "no database file" in one_line_error(shell, "plan")
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()


def test_magic_upgrade_with_several_heads_shows_them(shell: Any, sqlite_url: str, workdir: Path) -> None:
    migrator = at_version_one(sqlite_url)
    first = migrator.revision("left").revisions[0].revision
    second = migrator.revision("right", head=migrator.current().revisions[0].revision, splice=True)
    migrate(shell, f"config --url {sqlite_url}")
    published: list[dict[str, Any]] = []
    shell.display_pub.publish = lambda data, **_: published.append(data)
    message = one_line_error(shell, "upgrade head")
    assert "upgrade heads" in message and "merge heads" in message
    (shown,) = published
    for head in (first, second.revisions[0].revision):
        assert head in shown["text/plain"] and head in shown["text/html"]
    assert "merge heads -m" in shown["text/plain"] and "upgrade heads" in shown["text/plain"]


@pytest.mark.mysql
def test_plan_refuses_ddl_that_commits_itself(mysql_url: str, workdir: Path) -> None:
    migrator = at_version_one(mysql_url)
    with_revisions(migrator, ("drop notes", models(notes=False)))
    before = state(mysql_url)
    with pytest.raises(ConfigurationError, match=r"commits each DDL statement.*--sql"):
        migrator.plan()
    assert state(mysql_url) == before


def test_plan_with_a_stock_env_py_runs_on_the_bound_connection(postgres_url: str, workdir: Path) -> None:
    """A stock `alembic init` env.py opens its own connection: plan uses the magic's, and rolls back."""
    alembic(workdir, "init", "plain")
    migrator = Migrator(url=postgres_url, directory=workdir / "plain", ini=workdir / "alembic.ini")
    made = migrator.revision("manual", rev_id="a1").revisions[0]
    path = Path(made.path)
    path.write_text(
        path.read_text().replace(
            "def upgrade() -> None:\n",
            "def upgrade() -> None:\n    op.create_table('zz', sa.Column('id', sa.Integer))\n",
        )
    )
    migrator.stamp("base")
    result = migrator.plan()
    assert [step.revision for step in result.steps] == ["a1"]
    assert any("CREATE TABLE zz" in statement for statement in result.steps[0].sql)
    assert migrator.current().revisions == ()
    assert "zz" not in sa.inspect(sa.create_engine(postgres_url)).get_table_names()


def test_plan_with_the_async_sqlite_driver(workdir: Path) -> None:
    url = f"sqlite+aiosqlite:///{workdir / 'async.db'}"
    migrator = Migrator(url=url, metadata=models())
    migrator.init()
    migrator.revision("first", autogenerate=True)
    migrator.upgrade()
    result = migrator.plan("base")
    assert result.command == "downgrade"
    assert any("DROP TABLE" in s for step in result.steps for s in step.sql)
    assert len(migrator.current().revisions) == 1


def test_offline_sql_of_a_sqlite_batch_revision_points_to_plan(sqlite_url: str, workdir: Path) -> None:
    """Alembic cannot write a batch revision's SQL offline (it reflects the table); plan can."""
    from sakyum_magic import MigrationError

    m = Migrator(url=sqlite_url)
    m.init()
    create = (
        "op.create_table('users', sa.Column('id', sa.Integer, primary_key=True), sa.Column('b', sa.Text))"
    )
    m.revision(message="users", rev_id="r1", body=f"def upgrade():\n    {create}\n")
    batch = "with op.batch_alter_table('users') as b:\n        b.alter_column('b', type_=sa.String(50))"
    m.revision(message="batch", rev_id="r2", body=f"def upgrade():\n    {batch}\n")
    with pytest.raises(MigrationError, match=r"^upgrade --sql cannot write this SQL: .*%migrate plan shows"):
        m.upgrade(sql=True)
    m.upgrade("r1")
    assert any("ALTER TABLE" in s or "_alembic_tmp_users" in s for step in m.plan().steps for s in step.sql)
