"""The directory the magic makes is a standard Alembic directory, and the other way round."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from sakyum_magic import Migrator
from tests.models import USERS, USERS_AND_POSTS, namespace
from tests.revisions import version, write
from tests.shells import alembic


def revision_ids(text: str) -> list[str]:
    return re.findall(r"\b([0-9a-f]{12})\b", text)


def test_magic_directory_driven_by_the_cli(workdir: Path, sqlite_url: str) -> None:
    models = namespace(USERS_AND_POSTS)
    m = Migrator(url=sqlite_url, metadata=models["Base"])
    m.init()
    first = m.revision("users", autogenerate=True).revisions[0].revision
    m.upgrade()
    second = m.revision("empty step").revisions[0].revision

    history = alembic(workdir, "history")
    assert f"{first} -> {second} (head), empty step" in history
    assert f"<base> -> {first}, users" in history
    assert [e.info.revision for e in m.history()] == [second, first]
    assert revision_ids(alembic(workdir, "current")) == [first]

    alembic(workdir, "upgrade", "head")  # the CLI reads the URL from alembic.ini
    assert [r.revision for r in m.current().revisions] == [second]
    alembic(workdir, "downgrade", "base", url=sqlite_url)  # or from $DATABASE_URL
    assert m.current().revisions == ()


def test_cli_autogenerate_with_metadata_named_in_ini(workdir: Path, sqlite_url: str) -> None:
    Migrator(url=sqlite_url).init()
    (workdir / "mymodels.py").write_text(USERS)
    ini = workdir / "alembic.ini"
    ini.write_text(
        ini.read_text().replace("# sakyum_metadata = myapp.models:db", "sakyum_metadata = mymodels:Base")
    )
    alembic(workdir, "revision", "--autogenerate", "-m", "from cli")
    alembic(workdir, "upgrade", "head")
    m = Migrator(url=sqlite_url, metadata=namespace(USERS)["Base"])
    assert m.current().revisions[0].message == "from cli"
    assert m.diff() == []


def test_cli_metadata_named_by_a_dotted_path(workdir: Path, sqlite_url: str) -> None:
    """The chapter names Flask-SQLAlchemy's metadata as models:db.Model.metadata; a name that is not
    there is Alembic's one-line error, not a traceback."""
    Migrator(url=sqlite_url).init()
    (workdir / "mymodels.py").write_text(USERS + "\n\nclass db:\n    Model = Base\n")
    ini = workdir / "alembic.ini"
    text = ini.read_text()
    ini.write_text(
        text.replace("# sakyum_metadata = myapp.models:db", "sakyum_metadata = mymodels:db.Model.metadata")
    )
    alembic(workdir, "revision", "--autogenerate", "-m", "dotted")
    (script,) = (workdir / "alembic" / "versions").glob("*_dotted.py")
    assert "op.create_table('users'" in script.read_text() or 'op.create_table("users"' in script.read_text()
    ini.write_text(text.replace("# sakyum_metadata = myapp.models:db", "sakyum_metadata = mymodels:db.Nope"))
    with pytest.raises(subprocess.CalledProcessError) as failed:
        alembic(workdir, "revision", "--autogenerate", "-m", "again")
    assert (
        "sakyum_metadata = mymodels:db.Nope in alembic.ini: mymodels:db has no 'Nope'" in failed.value.stderr
    )
    assert "Traceback" not in failed.value.stderr


def test_alembic_init_directory_driven_by_the_magic(workdir: Path, sqlite_url: str) -> None:
    alembic(workdir, "init", "alembic")
    ini = workdir / "alembic.ini"
    ini.write_text(re.sub(r"sqlalchemy.url = .*", f"sqlalchemy.url = {sqlite_url}", ini.read_text()))
    alembic(workdir, "revision", "-m", "made by the cli")
    m = Migrator(url=sqlite_url)
    up = m.upgrade()
    cli_current = revision_ids(alembic(workdir, "current"))
    assert [r.revision for r in m.current().revisions] == cli_current
    assert up.after == tuple(cli_current)
    assert [e.info.revision for e in m.history()] == revision_ids(alembic(workdir, "history"))


def test_a_failing_revision_run_by_the_cli_takes_back_its_ddl_on_sqlite(
    workdir: Path, sqlite_url: str
) -> None:
    """The env.py init writes gives the CLI the magic's SQLite recipe: DDL inside the revision's
    transaction, so a revision that fails halfway leaves neither its table nor its version row."""
    m = Migrator(url=sqlite_url)
    m.init()
    write(m.directory, "r1", None, 'op.create_table("t1", sa.Column("id", sa.Integer))')
    write(
        m.directory,
        "r2",
        "r1",
        'op.create_table("t2", sa.Column("id", sa.Integer))\n'
        'op.execute("INSERT INTO no_such_table VALUES (1)")',
    )
    with pytest.raises(subprocess.CalledProcessError):
        alembic(workdir, "upgrade", "head", url=sqlite_url)
    assert version(sqlite_url) == ("r1",)
    tables = set(sa.inspect(sa.create_engine(sqlite_url)).get_table_names())
    assert "t1" in tables and "t2" not in tables
