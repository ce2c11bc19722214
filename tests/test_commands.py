"""The core API without IPython: every command against a real SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from sakyum_magic import (
    ConfigurationError,
    DatabaseError,
    Migrator,
    MultipleHeadsError,
    NotInitializedError,
    RevisionError,
)
from sakyum_magic._run.database import OWN_TABLES
from tests.models import USERS, USERS_AND_POSTS, namespace


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - OWN_TABLES
    finally:
        engine.dispose()


@pytest.fixture
def migrator(sqlite_url: str) -> Migrator:
    models = namespace(USERS)
    m = Migrator(url=sqlite_url, metadata=models["Base"])
    m.init()
    return m


def test_init_writes_a_standard_alembic_directory(workdir: Path, sqlite_url: str) -> None:
    result = Migrator(url=sqlite_url).init()
    assert {p.name for p in (workdir / "alembic").iterdir()} == {
        "env.py",
        "script.py.mako",
        "README",
        "sakyum_env_support.py",
        "sakyum_env_lock.py",
        "versions",
    }
    assert result.ini_written
    ini = (workdir / "alembic.ini").read_text()
    assert "script_location = %(here)s/alembic" in ini
    assert f"sqlalchemy.url = {sqlite_url}" in ini


def test_init_refuses_a_non_empty_directory(workdir: Path) -> None:
    (workdir / "alembic").mkdir()
    (workdir / "alembic" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigurationError, match="not empty"):
        Migrator().init()
    assert [p.name for p in (workdir / "alembic").iterdir()] == ["keep.txt"]
    assert not (workdir / "alembic.ini").exists()


def test_init_never_writes_the_password(workdir: Path) -> None:
    Migrator(url="postgresql+psycopg://app:hunter2@db.invalid/app").init()
    ini = (workdir / "alembic.ini").read_text()
    assert "hunter2" not in ini
    assert "sqlalchemy.url = postgresql+psycopg://app@db.invalid/app" in ini


def test_commands_need_an_initialized_directory(workdir: Path) -> None:
    with pytest.raises(NotInitializedError, match="run %migrate init"):
        Migrator().history()


def test_whole_workflow(migrator: Migrator, sqlite_url: str) -> None:
    made = migrator.revision("Added tables", autogenerate=True)
    (info,) = made.revisions
    assert info.message == "Added tables" and Path(info.path).is_file()
    assert [(o.op, o.table) for o in made.operations] == [("add_table", "users")]

    up = migrator.upgrade()
    assert [(s.revision, s.direction) for s in up.steps] == [(info.revision, "up")]
    assert up.after == (info.revision,)
    assert "users" in tables(sqlite_url)

    current = migrator.current()
    assert [r.revision for r in current.revisions] == [info.revision]
    assert current.revisions[0].is_head

    (entry,) = migrator.history(indicate_current=True)
    assert entry.is_current and entry.info.revision == info.revision

    down = migrator.downgrade("base")
    assert [(s.revision, s.direction) for s in down.steps] == [(info.revision, "down")]
    assert down.after == ()
    assert "users" not in tables(sqlite_url)
    assert migrator.current().revisions == ()


def test_autogenerate_with_no_changes_writes_nothing(migrator: Migrator) -> None:
    migrator.revision("first", autogenerate=True)
    migrator.upgrade()
    result = migrator.revision("again", autogenerate=True)
    assert result.revisions == ()
    assert result.note is not None and "already matches" in result.note
    assert len(migrator.history()) == 1


def test_autogenerate_on_create_all_database_suggests_stamp(migrator: Migrator, sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    migrator.target_metadatas()[0].create_all(engine)
    engine.dispose()
    result = migrator.revision("nothing new", autogenerate=True)
    assert result.note is not None and "stamp head" in result.note


def test_models_changed_between_commands_are_picked_up(sqlite_url: str, workdir: Path) -> None:
    cell = {"models": namespace(USERS)}
    m = Migrator(url=sqlite_url, metadata=lambda: cell["models"]["Base"])
    m.init()
    m.revision("users", autogenerate=True)
    m.upgrade()
    cell["models"] = namespace(USERS_AND_POSTS)
    second = m.revision("posts", autogenerate=True)
    assert [(o.op, o.table) for o in second.operations] == [("add_table", "posts")]


def test_relative_and_prefix_targets(migrator: Migrator) -> None:
    ids = [migrator.revision(f"r{i}", rev_id=f"{i}aaa{i}").revisions[0].revision for i in range(1, 4)]
    assert migrator.upgrade("+2").after == (ids[1],)
    assert migrator.downgrade("-1").after == (ids[0],)
    assert migrator.upgrade("3aa").after == (ids[2],)
    assert migrator.downgrade("base").after == ()


def test_unknown_and_ambiguous_revisions(migrator: Migrator) -> None:
    migrator.revision("a", rev_id="abc1")
    migrator.revision("b", rev_id="abc2")
    with pytest.raises(RevisionError, match="zzz"):
        migrator.upgrade("zzz")
    with pytest.raises(RevisionError, match="abc"):
        migrator.upgrade("abc")
    assert migrator.current().revisions == ()


def test_multiple_heads_need_a_choice(migrator: Migrator) -> None:
    migrator.revision("root", rev_id="root")
    migrator.revision("left", rev_id="left", head="root")
    migrator.revision("right", rev_id="right", head="root", splice=True)
    with pytest.raises(MultipleHeadsError) as caught:
        migrator.upgrade("head")
    assert set(caught.value.heads) == {"left", "right"}
    assert "merge heads" in str(caught.value)
    assert migrator.upgrade("heads").after == ("left", "right")
    merged = migrator.merge("heads", message="join")
    assert merged.revisions[0].is_merge
    assert [h.revision for h in migrator.heads()] == [merged.revisions[0].revision]
    assert [b.revision for b in migrator.branches()] == ["root"]


def test_stamp_and_show(migrator: Migrator) -> None:
    migrator.revision("one", rev_id="one")
    stamped = migrator.stamp("head")
    assert stamped.after == ("one",) and stamped.steps[0].direction == "stamp"
    assert [i.revision for i in migrator.show("current")] == ["one"]
    assert migrator.show("one")[0].message == "one"


def test_history_ranges(migrator: Migrator) -> None:
    for i in range(1, 4):
        migrator.revision(f"r{i}", rev_id=f"r{i}")
    assert [e.info.revision for e in migrator.history()] == ["r3", "r2", "r1"]
    assert [e.info.revision for e in migrator.history("r2:")] == ["r3", "r2"]
    assert [e.info.revision for e in migrator.history(":r2")] == ["r2", "r1"]
    migrator.upgrade("r2")
    assert [e.info.revision for e in migrator.history("current:")] == ["r3", "r2"]
    with pytest.raises(ConfigurationError, match="colon"):
        migrator.history("r2")


def test_offline_sql_executes_nothing(migrator: Migrator, sqlite_url: str) -> None:
    migrator.revision("users", autogenerate=True)
    result = migrator.upgrade(sql=True)
    assert result.sql is not None and "CREATE TABLE users" in result.sql
    assert "users" not in tables(sqlite_url)


def test_unreachable_database_is_a_one_line_error(workdir: Path) -> None:
    m = Migrator(url="sqlite:///no/such/dir/x.db")
    m.init()
    m.revision("one")
    with pytest.raises(DatabaseError, match=r"cannot connect to sqlite:///no/such/dir/x\.db") as caught:
        m.upgrade()
    assert "\n" not in str(caught.value)


def test_malformed_and_unknown_urls(workdir: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot parse"):
        Migrator(url="not a url").engine()
    with pytest.raises(ConfigurationError, match="unknown database dialect"):
        Migrator(url="postgress://u:secret@h/db").engine()


def test_metadata_that_is_not_metadata(sqlite_url: str) -> None:
    m = Migrator(url=sqlite_url, metadata=42)
    with pytest.raises(ConfigurationError, match="not SQLAlchemy metadata"):
        m.target_metadatas()


def test_default_url_is_env_then_sqlite_default(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Migrator().binding().url == "sqlite:///default.db"
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:pw@h/db")
    assert Migrator().binding().url == "postgresql+psycopg://u:***@h/db"


def test_failed_revision_leaves_database_at_last_good(migrator: Migrator, sqlite_url: str) -> None:
    migrator.revision("users", autogenerate=True, rev_id="good")
    bad = migrator.revision("broken", rev_id="bad").revisions[0]
    text = (
        Path(bad.path)
        .read_text()
        .replace(
            "def upgrade() -> None:\n",
            "def upgrade() -> None:\n    op.execute('CREATE TABLE t1 (x int)')\n"
            "    op.execute('SELECT * FROM missing_table')\n",
            1,
        )
    )
    Path(bad.path).write_text(text)
    with pytest.raises(Exception, match="revision bad") as caught:
        migrator.upgrade()
    assert "missing_table" in str(caught.value)
    assert migrator.current().revisions[0].revision == "good"
    assert tables(sqlite_url) == {"alembic_version", "users"}


def test_autogenerate_on_a_database_behind_head_says_upgrade_first(migrator: Migrator) -> None:
    migrator.revision("users", autogenerate=True)
    with pytest.raises(RevisionError, match="upgrade head first"):
        migrator.revision("again", autogenerate=True)
    assert len(migrator.history()) == 1


def test_branch_labels_and_branch_at_head(migrator: Migrator) -> None:
    migrator.revision("root", rev_id="root")
    migrator.revision("feature start", rev_id="f1", head="root", branch_label="feature")
    migrator.revision("main next", rev_id="m1", head="root", splice=True)
    assert migrator.upgrade("feature@head").after == ("f1",)
    assert {h.revision for h in migrator.heads()} == {"f1", "m1"}
    assert [e.info.branch_labels for e in migrator.history() if e.info.revision == "f1"] == [("feature",)]


def test_init_elsewhere_keeps_the_ini_usable(workdir: Path, sqlite_url: str) -> None:
    Migrator(url=sqlite_url, directory="db/migrations").init()
    assert "script_location = %(here)s/db/migrations" in (workdir / "alembic.ini").read_text()
    outside = workdir.parent / f"{workdir.name}-abs"
    Migrator(url=sqlite_url, directory=outside, ini=workdir / "other.ini").init()
    assert f"script_location = {outside}" in (workdir / "other.ini").read_text()
    m = Migrator(url=sqlite_url, directory=outside, ini=workdir / "other.ini")
    m.revision("one")
    assert [e.info.message for e in m.history()] == ["one"]


def test_database_at_a_revision_with_no_file_says_how_out(migrator: Migrator) -> None:
    made = migrator.revision("users", autogenerate=True).revisions[0]
    migrator.upgrade()
    Path(made.path).unlink()
    with pytest.raises(RevisionError, match=r"stamp REV --purge"):
        migrator.upgrade()
    migrator.stamp("base", purge=True)
    assert migrator.current().revisions == ()


def test_init_warns_when_the_ini_names_another_directory(workdir: Path, sqlite_url: str) -> None:
    Migrator(url=sqlite_url).init()
    second = Migrator(url=sqlite_url, directory="other").init()
    assert not second.ini_written
    assert second.note is not None and "names" in second.note and "other" in second.note
    assert Migrator(url=sqlite_url, directory="alembic").init("third").note is not None


def test_diff_with_an_unknown_schema_is_an_error(migrator: Migrator) -> None:
    with pytest.raises(ConfigurationError, match="not a schema"):
        migrator.diff(schema="nosuch")


def test_relative_steps_across_a_merge_say_name_the_target(migrator: Migrator) -> None:
    migrator.revision("root", rev_id="root")
    migrator.revision("left", rev_id="left", head="root")
    migrator.revision("right", rev_id="right", head="root", splice=True)
    migrator.merge("heads", message="join", rev_id="join")
    migrator.upgrade("heads")
    with pytest.raises(RevisionError, match="name the target revision"):
        migrator.downgrade("-2")


def test_not_initialized_says_where_it_looked(workdir: Path) -> None:
    with pytest.raises(NotInitializedError, match=f"looked in {workdir}"):
        Migrator(directory="nowhere").history()
