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
from sakyum_magic._authoring.scripts import ScriptCache

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


# -- at every size: graphs with branches, merges, labels and dependencies ------------------------


def write_graph(directory: Path, n: int) -> list[str]:
    """``n`` revisions: a spine that forks every 10th revision into two branches merged 3 steps later,
    a labelled side root, and a revision that depends on another branch. Returns the ids written."""
    ids: list[str] = []
    tip: str | None = None
    index = 0
    while index < n:
        rev = f"s{index:05d}"
        if index % 10 == 5 and tip is not None and index + 3 < n:
            left, right = f"{rev}l", f"{rev}r"
            write(directory, left, tip)
            write(directory, right, tip, depends="x0" if index > 10 else None)
            merge = f"{rev}m"
            write(directory, merge, (left, right), message=f"merge {index}\n\nwith a second paragraph")
            ids += [left, right, merge]
            tip, index = merge, index + 3
            continue
        write(directory, rev, tip)
        ids.append(rev)
        tip, index = rev, index + 1
    write(directory, "x0", None, labels=("side",))
    write(directory, "x1", "x0", message="side head")
    return [*ids, "x0", "x1"]


@pytest.mark.parametrize("n", [10, 100, 1000])
def test_history_heads_and_current_match_alembic_at_every_size(migrator: Migrator, n: int) -> None:
    write_graph(migrator.directory, n)
    script = ScriptDirectory.from_config(plain_config(migrator))
    printed = plain_output(migrator, "history")
    plain_ids = [re.search(r"-> (\w+)", line).group(1) for line in printed.splitlines()]  # type: ignore[union-attr]
    history = migrator.history()
    assert [e.info.revision for e in history] == plain_ids
    heads = set(script.get_heads())
    for entry in history:
        original = script.get_revision(entry.info.revision)
        assert original is not None
        assert entry.info.message == original.doc
        assert entry.info.doc == original.longdoc
        assert entry.info.down_revision == as_ids(original.down_revision)
        assert entry.info.depends_on == as_ids(original.dependencies)
        assert entry.info.branch_labels == tuple(sorted(original.branch_labels))
        assert entry.info.is_head == (original.revision in heads) == original.is_head
        assert entry.info.is_branch_point == original.is_branch_point
        assert entry.info.is_merge == original.is_merge_point
    printed_heads = {line.split()[0] for line in plain_output(migrator, "heads").splitlines()}
    assert {i.revision for i in migrator.heads()} == printed_heads == heads
    migrator.stamp(sorted(heads))
    migrator.scripts.forget()  # current on a map loaded afresh, as the first command of a session
    printed_current = {line.split()[0] for line in plain_output(migrator, "current").splitlines()}
    assert {i.revision for i in migrator.current().revisions} == printed_current == heads


def as_ids(value: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


DOCSTRINGS = {
    "template": "add users\n\nRevision ID: d1\nRevises:\nCreate Date: 2024-05-01 12:00:00.000000\n",
    "no date": "just a message",
    "date mid-line": "see the Create Date: below\n\nCreate Date:   2023-01-02 03:04:05  \n",
    "date only in prose": "mentions Create Date: inline and nothing else",
    "empty": "",
    "paragraphs": "first line\nsecond line\n\nmore\n\nand more",
}


@pytest.mark.parametrize("name", list(DOCSTRINGS))
def test_message_doc_and_create_date_are_alembics(migrator: Migrator, name: str) -> None:
    docstring = DOCSTRINGS[name]
    body = f'"""{docstring}"""\n' if docstring else ""
    path = migrator.directory / "versions" / "d1.py"
    path.write_text(f"{body}revision = 'd1'\ndown_revision = None\nbranch_labels = None\ndepends_on = None\n")
    (info,) = [entry.info for entry in migrator.history()]
    original = ScriptDirectory.from_config(plain_config(migrator)).get_revision("d1")
    assert original is not None
    assert (info.message, info.doc) == (original.doc, original.longdoc)
    match = re.search(r"^Create Date:\s*(.+)$", original.longdoc, re.MULTILINE)
    assert info.create_date == (match.group(1).strip() if match else None)


def test_a_broken_file_fails_when_the_map_is_used_and_a_fix_is_seen(migrator: Migrator) -> None:
    import gc

    from sakyum_magic._core.errors import RevisionError

    write(migrator.directory, "r1", None)
    broken = migrator.directory / "versions" / "r2.py"
    broken.write_text("revision = 'r2'\ndown_revision = 'r1'\ndef (:\n")
    for _ in range(2):  # the failed load is not kept: each command tries again
        with pytest.raises(RevisionError, match=r"r2\.py"):
            migrator.history()
        assert gc.isenabled()
    write(migrator.directory, "r2", "r1")
    assert history_ids(migrator) == ["r2", "r1"]


def test_loading_leaves_a_disabled_collector_disabled(migrator: Migrator) -> None:
    import gc

    write(migrator.directory, "r1", None)
    gc.disable()
    try:
        assert history_ids(migrator) == ["r1"]
        assert not gc.isenabled()
    finally:
        gc.enable()
