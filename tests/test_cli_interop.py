"""The directory the magic makes is a standard Alembic directory, and the other way round."""

from __future__ import annotations

import re
from pathlib import Path

from sakyum_magic import Migrator
from tests.models import USERS, USERS_AND_POSTS, namespace
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
