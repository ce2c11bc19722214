"""The revision index: read commands build the map from each file's literal header, kept on disk under
the user's cache directory, without executing the files; a changed file is noticed even when its
size and modification time are kept, and a corrupt index is rebuilt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sakyum_magic import Migrator
from sakyum_magic._authoring.revindex import cache_dir, header
from tests.revisions import write

SIDE_EFFECT = "open('imported-{0}', 'w').close()\nop.create_table('t_{0}', sa.Column('id', sa.Integer))"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    return cache_dir()


def chain(migrator: Migrator, count: int) -> None:
    for k in range(1, count + 1):
        write(migrator.directory, f"r{k}", f"r{k - 1}" if k > 1 else None, SIDE_EFFECT.format(k))


def fresh(workdir: Path) -> Migrator:
    """A new Migrator (a new session: nothing loaded in memory) on the same directory."""
    return Migrator(url=f"sqlite:///{workdir / 'app.db'}")


def test_read_commands_execute_no_revision_file(workdir: Path, cache: Path) -> None:
    migrator = fresh(workdir)
    migrator.init()
    chain(migrator, 3)
    versions = workdir / "alembic" / "versions"
    first = versions / "r1.py"
    first.write_text(first.read_text() + "\nopen('imported-at-top', 'w')\n")
    assert [e.info.revision for e in fresh(workdir).history()] == ["r3", "r2", "r1"]
    assert [i.revision for i in fresh(workdir).heads()] == ["r3"]
    assert [i.message for i in fresh(workdir).show("r2")] == ["step r2"]
    assert not list(workdir.glob("imported-*"))
    assert sorted(p.name for p in versions.iterdir()) == ["r1.py", "r2.py", "r3.py"]  # nothing beside
    assert len(list(cache.glob("*.idx"))) == 1
    assert [s.revision for s in fresh(workdir).upgrade().steps] == ["r1", "r2", "r3"]  # runs import them
    assert (workdir / "imported-at-top").exists() and (workdir / "imported-3").exists()


def test_an_edit_keeping_size_and_mtime_is_noticed(workdir: Path, cache: Path) -> None:
    migrator = fresh(workdir)
    migrator.init()
    chain(migrator, 3)
    assert [i.revision for i in fresh(workdir).heads()] == ["r3"]
    path = workdir / "alembic" / "versions" / "r3.py"
    before = path.stat()
    path.write_text(path.read_text().replace("down_revision = 'r2'", "down_revision = 'r1'"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(i.revision for i in fresh(workdir).heads()) == ["r2", "r3"]


def test_a_corrupt_index_is_rebuilt(workdir: Path, cache: Path) -> None:
    migrator = fresh(workdir)
    migrator.init()
    chain(migrator, 2)
    fresh(workdir).history()
    (index,) = cache.glob("*.idx")
    for garbage in (b"", b"\x00not marshal", index.read_bytes()[:-7]):
        index.write_bytes(garbage)
        assert [e.info.revision for e in fresh(workdir).history()] == ["r2", "r1"]
    assert index.read_bytes() != garbage


def test_a_header_that_is_not_literal_is_imported(workdir: Path, cache: Path) -> None:
    migrator = fresh(workdir)
    migrator.init()
    chain(migrator, 2)
    path = workdir / "alembic" / "versions" / "r2.py"
    text = path.read_text().replace("down_revision = 'r1'", "down_revision = 'r' + '1'")
    path.write_text(text + "\nopen('imported-at-top', 'w')\n")
    assert [e.info.revision for e in fresh(workdir).history()] == ["r2", "r1"]
    assert (workdir / "imported-at-top").exists()  # imported, as Alembic does


@pytest.mark.parametrize(
    ("source", "literal"),
    [
        ('"""doc"""\nrevision: str = "a"\ndown_revision: str | None = None\n', True),
        ("revision = 'a'\ndown_revision = ('b', 'c')\nbranch_labels = ['x']\ndepends_on = None\n", True),
        ("revision = 'a'\ndown_revision = None\nif True:\n    down_revision = 'b'\n", False),
        ("revision = 'a'\ndown_revision = None\nfrom x import depends_on\n", False),
        ("revision = 'a'\ndown_revision = compute()\n", False),
        ("revision = 'a'\n", False),
        ("revision = 1\ndown_revision = None\n", False),
        ("def upgrade(:\n", False),
    ],
)
def test_which_headers_are_literal(source: str, literal: bool) -> None:
    assert (header(source.encode()) is not None) == literal
