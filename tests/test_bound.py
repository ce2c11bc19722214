"""What a Migrator is bound to is worked out once: the URL parsed once per value, one Config per run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sakyum_magic import Migrator
from sakyum_magic._core import binding, bound
from tests.revisions import write


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(module, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_one_upgrade_parses_the_url_once_and_builds_one_config(
    workdir: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    Migrator(url=sqlite_url).init()
    write(workdir / "alembic", "r1", None, "op.create_table('t1', sa.Column('id', sa.Integer))")
    write(workdir / "alembic", "r2", "r1", "op.create_table('t2', sa.Column('id', sa.Integer))")
    parsed = _counting(monkeypatch, binding, "_parsed")
    configs = _counting(monkeypatch, bound, "build_config")
    migrator = Migrator(url=sqlite_url)
    result = migrator.upgrade()
    assert [step.revision for step in result.steps] == ["r1", "r2"]
    assert (len(parsed), len(configs)) == (1, 1)
    migrator.downgrade("base")
    assert (len(parsed), len(configs)) == (1, 2)  # the same URL is not parsed again


def test_the_url_is_parsed_again_when_it_changes(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{workdir / 'a.db'}")
    migrator = Migrator()
    assert migrator.parsed_url().database == str(workdir / "a.db")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{workdir / 'b.db'}")
    assert migrator.parsed_url().database == str(workdir / "b.db")
    migrator.url = f"sqlite:///{workdir / 'c.db'}"
    assert migrator.parsed_url().database == str(workdir / "c.db")


def test_the_bound_url_is_parsed_once_and_shown_masked_from_there(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql+psycopg://user:s3cret@db.example/app?sslpassword=hush&application_name=nb"
    parsed = _counting(monkeypatch, binding, "_parsed")
    migrator = Migrator(url=url)
    shown = (migrator.binding().url, migrator.masked_url(), migrator.masked_url())
    assert migrator.parsed_url().password == "s3cret"
    assert len(parsed) == 1  # the parsed URL and its masked form were made together
    assert shown == (binding.mask_url(url),) * 3
    assert "s3cret" not in shown[0] and "hush" not in shown[0] and "application_name=nb" in shown[0]


def test_a_url_that_does_not_parse_is_still_shown_masked(workdir: Path) -> None:
    migrator = Migrator(url="postgresql://user:p@ss@db.example/app")
    assert migrator.binding().url == migrator.masked_url() == binding.mask_url(migrator.url)
    assert "p@ss" not in migrator.masked_url()
