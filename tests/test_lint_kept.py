"""Lint kept for the session: a revision rendered and judged by squawk once, the same findings as a
fresh pass, and a revision file edited (even with its modification time put back) linted again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sakyum_magic import Migrator
from sakyum_magic._lint import Span, lint
from sakyum_magic._lint.findings import LintResult
from sakyum_magic._lint.kept import LintCache, digest
from sakyum_magic._lint.rules import LARGE
from tests.test_lint import BIG, PG_BASE, PG_CASES, at_base, body, fill, revisions

pytest.importorskip("sqlglot", reason="lint's checkers need the migrate-lint extra (sqlglot, squawk-cli)")


def fresh_lint(url: str, large: int = LARGE) -> LintResult:
    """The same lint in a new session: nothing kept."""
    migrator = Migrator(url=url)
    try:
        return migrator.lint(large=large)
    finally:
        migrator.dispose()


def revision_path(migrator: Migrator, revision: str) -> Path:
    return Path(migrator.script_directory().get_revision(revision).path)


@pytest.mark.postgres
def test_a_kept_lint_finds_what_a_fresh_one_finds(postgres_url: str) -> None:
    migrator = at_base(postgres_url, PG_BASE)
    fill(postgres_url, {"big": BIG}, "ANALYZE {}")
    made = revisions(migrator, [body(case[0]) for case in PG_CASES])
    first = migrator.lint(large=1000)
    assert len(migrator.lints) == len(made)  # each revision's SQL kept
    again = migrator.lint(large=1000)
    assert again == first == fresh_lint(postgres_url, 1000)
    assert len({f.rule for f in again.findings}) >= 14
    # A span inside the one linted: from what was kept, the same as a fresh pass over it.
    middle = f"{made[3]}:{made[7]}"
    assert migrator.lint(rev_range=middle, large=1000) == Migrator(url=postgres_url).lint(
        rev_range=middle, large=1000
    )
    migrator.dispose()


@pytest.mark.postgres
def test_what_the_live_database_says_is_read_every_time(postgres_url: str) -> None:
    migrator = at_base(postgres_url, PG_BASE)
    revisions(migrator, [body("op.create_index('ix_big_a', 'big', ['a'])")])
    (before,) = migrator.lint(large=1000).findings
    fill(postgres_url, {"big": BIG}, "ANALYZE {}")
    (after,) = migrator.lint(large=1000).findings
    assert (before.rows, before.severity) == (0, "note")
    assert (after.rows, after.severity) == (BIG, "error")
    migrator.dispose()


@pytest.mark.postgres
def test_an_edited_revision_is_linted_again(postgres_url: str) -> None:
    migrator = at_base(postgres_url, PG_BASE)
    (made,) = revisions(migrator, [body("op.create_index('ix_big_a', 'big', ['a'])")])
    assert [f.rule for f in migrator.lint().findings] == ["require-concurrent-index-creation"]
    path = revision_path(migrator, made)
    stamp = path.stat()
    old = "op.create_index('ix_big_a', 'big', ['a'])"
    path.write_text(path.read_text().replace(old, "op.drop_table('gone')".ljust(len(old))))
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # as a checkout or a copy may leave it
    assert path.stat().st_size == stamp.st_size  # only the content tells
    assert [f.rule for f in migrator.lint().findings] == ["ban-drop-table"]
    assert migrator.lint() == fresh_lint(postgres_url)
    migrator.dispose()


@pytest.mark.postgres
def test_a_revision_with_code_of_its_own_is_rendered_every_time(postgres_url: str) -> None:
    migrator = at_base(postgres_url, PG_BASE)
    own = "def upgrade():\n    for name in ['a']:\n        op.create_index('ix_big_' + name, 'big', [name])\n"
    revisions(migrator, [body("op.drop_table('gone')"), own])
    first = migrator.lint()
    assert len(migrator.lints) == 1  # only the revision that declares operations
    assert migrator.lint() == first == fresh_lint(postgres_url)
    migrator.dispose()


def test_digest_names_size_time_and_content(tmp_path: Path) -> None:
    path = tmp_path / "rev.py"
    path.write_text("one")
    stamp = path.stat()
    first = digest(path)
    path.write_text("two")
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert first is not None and digest(path) is not None
    assert first[:3] == digest(path)[:3]  # type: ignore[index]  # same path, size and time
    assert first != digest(path)
    assert digest(tmp_path / "missing.py") is None


@pytest.mark.postgres
def test_the_module_function_lints_without_a_cache(postgres_url: str) -> None:
    migrator = at_base(postgres_url, PG_BASE)
    revisions(migrator, [body("op.drop_table('gone')")])
    span = Span(None, "heads", ())  # every revision, from base
    kept = LintCache()
    target, script = migrator.target(), migrator.script_directory()
    assert lint(target, script, span, LARGE, kept) == lint(target, script, span, LARGE)
    assert len(kept) == 2
    migrator.dispose()
