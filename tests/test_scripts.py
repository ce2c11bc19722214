"""The cached revision map: changes on disk are seen at once, and answers match plain Alembic.

Correctness only; speed is measured by ``make bench``, never asserted here.
"""

from __future__ import annotations

import io
import os
import py_compile
import re
import sys
from importlib.util import cache_from_source
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from sakyum_magic import Migrator
from sakyum_magic.scripts import ScriptCache

REVISION = '''"""{message}

Revision ID: {revision}
Revises: {down}
Create Date: 2024-05-01 12:00:00.000000
"""
revision = {revision!r}
down_revision = {down!r}
branch_labels = {labels!r}
depends_on = {depends!r}


def upgrade():
    pass


def downgrade():
    pass
'''

# base -> a -> (b1, b2) -> m (merge) -> c, plus a labelled second root x1 -> x2 that depends on a.
GRAPH = [
    ("base0", None, None, None),
    ("a1", "base0", None, None),
    ("b1", "a1", None, None),
    ("b2", "a1", None, None),
    ("m1", ("b1", "b2"), None, None),
    ("c1", "m1", None, None),
    ("x1", None, ("extra",), None),
    ("x2", "x1", None, "a1"),
]


def write(
    directory: Path,
    revision: str,
    down: str | tuple[str, ...] | None,
    labels: tuple[str, ...] | None = None,
    depends: str | None = None,
    message: str | None = None,
    name: str | None = None,
) -> Path:
    path = directory / "versions" / (name or f"{revision}.py")
    text = REVISION.format(
        message=message or f"step {revision}",
        revision=revision,
        down=down,
        labels=labels,
        depends=depends,
    )
    path.write_text(text)
    return path


@pytest.fixture
def migrator(sqlite_url: str, workdir: Path) -> Migrator:
    migrator = Migrator(sqlite_url, directory=workdir / "alembic", ini=workdir / "alembic.ini")
    migrator.init()
    return migrator


@pytest.fixture
def graph(migrator: Migrator) -> Migrator:
    for revision, down, labels, depends in GRAPH:
        write(migrator.directory, revision, down, labels, depends)
    return migrator


def plain_config(migrator: Migrator, url: str | None = None) -> Config:
    """A Config as the alembic CLI would build it from alembic.ini (printing to a buffer)."""
    config = Config(str(migrator.ini), stdout=io.StringIO())
    config.set_main_option("script_location", str(migrator.directory))
    config.set_main_option("sqlalchemy.url", url or str(migrator.url))
    return config


def plain_output(migrator: Migrator, name: str, *args: object) -> str:
    config = plain_config(migrator)
    getattr(command, name)(config, *args)
    stdout = config.stdout
    assert isinstance(stdout, io.StringIO)
    return stdout.getvalue()


def history_ids(migrator: Migrator) -> list[str]:
    return [entry.info.revision for entry in migrator.history()]


def messages(migrator: Migrator) -> dict[str, str]:
    return {entry.info.revision: entry.info.message for entry in migrator.history()}


# -- changes on disk are seen at once ----------------------------------------------------------


def test_added_file_is_seen_at_once(migrator: Migrator) -> None:
    write(migrator.directory, "r1", None)
    assert history_ids(migrator) == ["r1"]
    write(migrator.directory, "r2", "r1")
    assert history_ids(migrator) == ["r2", "r1"]
    assert [i.revision for i in migrator.heads()] == ["r2"]


def test_same_size_edit_in_the_same_tick_is_seen(migrator: Migrator) -> None:
    path = write(migrator.directory, "r1", None, message="first message")
    assert messages(migrator) == {"r1": "first message"}
    before = path.stat()
    # Stale bytecode as Python would trust it: same source size and mtime.
    py_compile.compile(str(path), cfile=cache_from_source(str(path)))
    write(migrator.directory, "r1", None, message="other message")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size
    assert messages(migrator) == {"r1": "other message"}


def test_edit_that_changes_the_graph_is_seen(migrator: Migrator) -> None:
    write(migrator.directory, "r1", None)
    write(migrator.directory, "r2", "r1")
    write(migrator.directory, "r3", "r1")
    assert {i.revision for i in migrator.heads()} == {"r2", "r3"}
    write(migrator.directory, "r3", "r2")
    assert [i.revision for i in migrator.heads()] == ["r3"]
    assert history_ids(migrator) == ["r3", "r2", "r1"]


def test_renamed_file_is_seen(migrator: Migrator) -> None:
    path = write(migrator.directory, "r1", None, name="r1_old_name.py")
    assert migrator.history()[0].info.path == str(path)
    renamed = path.with_name("r1_new_name.py")
    path.rename(renamed)
    assert migrator.history()[0].info.path == str(renamed)


def test_deleted_file_is_seen(migrator: Migrator) -> None:
    write(migrator.directory, "r1", None)
    path = write(migrator.directory, "r2", "r1")
    assert history_ids(migrator) == ["r2", "r1"]
    path.unlink()
    assert history_ids(migrator) == ["r1"]
    assert [i.revision for i in migrator.heads()] == ["r1"]


def test_new_revision_command_is_seen_by_the_next_read(migrator: Migrator) -> None:
    migrator.revision("one", rev_id="r1")
    assert history_ids(migrator) == ["r1"]
    migrator.revision("two", rev_id="r2")
    assert history_ids(migrator) == ["r2", "r1"]


def test_unchanged_directory_reuses_the_loaded_map(migrator: Migrator) -> None:
    write(migrator.directory, "r1", None)
    first = migrator.snapshot()
    assert migrator.snapshot() is first
    write(migrator.directory, "r2", "r1")
    assert migrator.snapshot() is not first


def test_repeated_reads_leave_sys_path_alone(migrator: Migrator) -> None:
    write(migrator.directory, "r1", None)
    migrator.history()
    before = list(sys.path)
    for _ in range(5):
        migrator.history()
        migrator.scripts.forget()
    assert sys.path == before


def test_caches_are_per_directory(workdir: Path, sqlite_url: str) -> None:
    one = Migrator(sqlite_url, directory=workdir / "one", ini=workdir / "one.ini")
    two = Migrator(sqlite_url, directory=workdir / "two", ini=workdir / "two.ini")
    one.init()
    two.init()
    write(one.directory, "r1", None)
    write(two.directory, "s1", None)
    cache = ScriptCache()
    assert [s.revision for s in cache.snapshot(one.config()).script.walk_revisions()] == ["r1"]
    assert [s.revision for s in cache.snapshot(two.config()).script.walk_revisions()] == ["s1"]


# -- the same answers as plain Alembic on branched and merged graphs ---------------------------


def test_history_matches_alembic_on_a_branched_graph(graph: Migrator) -> None:
    printed = plain_output(graph, "history")
    plain_ids = [re.search(r"-> (\w+)", line).group(1) for line in printed.splitlines()]  # type: ignore[union-attr]
    assert history_ids(graph) == plain_ids
    script = ScriptDirectory.from_config(plain_config(graph))
    for entry in graph.history():
        original = script.get_revision(entry.info.revision)
        assert original is not None
        assert entry.info.is_merge == original.is_merge_point
        assert entry.info.is_branch_point == original.is_branch_point
        assert entry.info.is_head == original.is_head
        assert entry.info.branch_labels == tuple(sorted(original.branch_labels))


def test_history_ranges_match_alembic(graph: Migrator) -> None:
    script = ScriptDirectory.from_config(plain_config(graph))
    for rev_range, (base, head) in {
        "a1:c1": ("a1", "c1"),
        ":m1": ("base", "m1"),
        "b1:": ("b1", "heads"),
    }.items():
        expected = [s.revision for s in script.walk_revisions(base, head)]
        assert [e.info.revision for e in graph.history(rev_range)] == expected


def test_heads_and_branches_match_alembic(graph: Migrator) -> None:
    script = ScriptDirectory.from_config(plain_config(graph))
    assert {i.revision for i in graph.heads()} == set(script.get_heads()) == {"c1", "x2"}
    assert {i.revision for i in graph.branches()} == {
        s.revision for s in script.walk_revisions() if s.is_branch_point
    }
    printed = plain_output(graph, "heads")
    assert {line.split()[0] for line in printed.splitlines()} == {"c1", "x2"}


@pytest.mark.parametrize(
    "stamped",
    [("b1",), ("b1", "b2"), ("c1", "x2"), ("a1", "x1")],
    ids=["one-branch", "both-branches", "all-heads", "mixed"],
)
def test_current_matches_alembic(graph: Migrator, stamped: tuple[str, ...]) -> None:
    graph.stamp(list(stamped))
    printed = plain_output(graph, "current")
    plain_ids = {line.split()[0] for line in printed.splitlines() if line.strip()}
    result = graph.current()
    assert {i.revision for i in result.revisions} == plain_ids == set(stamped)
    script = ScriptDirectory.from_config(plain_config(graph))
    for info in result.revisions:
        assert info.is_head == (info.revision in script.get_heads())


def stored_heads(url: str) -> set[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    return {row[0] for row in rows}


def test_upgrade_and_downgrade_walk_the_graph_like_alembic(graph: Migrator, workdir: Path) -> None:
    plain_url = f"sqlite:///{workdir / 'plain.db'}"
    config = plain_config(graph, plain_url)
    result = graph.upgrade("heads")
    command.upgrade(config, "heads")
    assert set(result.after) == stored_heads(plain_url) == {"c1", "x2"}
    assert {s.revision for s in result.steps} == {rev for rev, *_ in GRAPH}
    for target in ("a1", "base"):
        down = graph.downgrade(target)
        command.downgrade(config, target)
        assert set(down.after) == stored_heads(plain_url)
