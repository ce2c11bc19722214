"""``check --single-head``: a directory with two heads fails, naming them, before the database is read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sakyum_magic import Migrator
from sakyum_magic._core.errors import MultipleHeadsError
from tests.models import USERS, namespace
from tests.revisions import write
from tests.shells import migrate, one_line_error


def two_heads(workdir: Path, url: str) -> Migrator:
    migrator = Migrator(url=url, metadata=namespace(USERS)["Base"])
    migrator.init()
    write(
        workdir / "alembic",
        "a1",
        None,
        'op.create_table("users", sa.Column("id", sa.Integer, primary_key=True))',
    )
    write(workdir / "alembic", "b2", "a1", "pass")
    write(workdir / "alembic", "c3", "a1", "pass")
    return migrator


def test_two_heads_fail_by_name(sqlite_url: str, workdir: Path) -> None:
    migrator = two_heads(workdir, sqlite_url)
    with pytest.raises(MultipleHeadsError, match=r"has 2 heads \(b2, c3\).*merge heads") as raised:
        migrator.check(single_head=True)
    assert raised.value.heads == ("b2", "c3")
    assert not (workdir / "test.db").exists()  # refused before connecting


def test_one_head_goes_on_to_the_model_check(sqlite_url: str, workdir: Path) -> None:
    migrator = Migrator(url=sqlite_url, metadata=namespace(USERS)["Base"])
    migrator.init()
    migrator.revision("users", autogenerate=True)
    migrator.upgrade()
    assert migrator.check(single_head=True) == []


def test_magic_flag(shell: Any, sqlite_url: str, workdir: Path) -> None:
    shell.user_ns.update(namespace(USERS))
    migrate(shell, f"config --url {sqlite_url} --metadata Base")
    migrate(shell, "init")
    for revision, down in (("a1", None), ("b2", "a1"), ("c3", "a1")):
        write(workdir / "alembic", revision, down, "pass")
    message = one_line_error(shell, "check --single-head")
    assert "2 heads (b2, c3)" in message
