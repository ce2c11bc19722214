"""``lint``: what each revision would cost a live database, revision by revision.

Each revision's SQL is taken on its own (:mod:`.sources`), checked by the bound dialect's checker
(:mod:`.postgres`: squawk plus volatile defaults; :mod:`.mysql`: copy and rebuild with sqlglot;
:mod:`.sqlite`: batch rebuilds) and each hit given what only the live database knows: the table's
rows, which set the severity of a rule whose cost grows with the table (:mod:`.rules`). An operation
on a table created earlier in the same revision is exempt (the table is new and empty). A comment
``# lint: allow RULE[, RULE]`` in a revision file marks that revision's findings of those rules
``allowed``: still shown, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import live as live_facts
from .findings import Finding, Hit, LintResult
from .rules import LARGE, rule, severity
from .sources import RevisionSQL, dry_run, offline
from .statements import created_table

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

    from .._run.envrun import Target
    from .kept import LintCache

__all__ = ["Finding", "LintResult", "Span", "gated", "lint", "refuse_errors"]

_ALLOW = re.compile(r"#\s*lint:\s*allow\s+([\w\-]+(?:\s*,\s*[\w\-]+)*)", re.I)
_SHORT = 90
_DIALECTS = {"postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite"}


@dataclass(frozen=True)
class Span:
    """Which revisions: from ``start`` (exclusive; None: base) up to ``end``; ``current`` the database's."""

    start: str | None
    end: str
    current: tuple[str, ...]
    exists: bool = True  # whether the database (a SQLite file) exists yet


def lint(
    target: Target,
    script: ScriptDirectory,
    span: Span,
    large: int = LARGE,
    kept: LintCache | None = None,
    context: Hashable = (),
) -> LintResult:
    """The findings of the revisions in ``span``, each revision's SQL linted on its own.

    :param kept: what earlier passes rendered and found, used again where nothing it depends on changed.
    :param context: what else decides a revision's SQL (the ``-x`` arguments, alembic.ini's digest).
    """
    from .._core.binding import mask_url

    dialect = target.engine.dialect.name
    facts = live_facts.read(target.engine, span.exists)
    if dialect == "sqlite" or kept is None:
        revisions = _sources(target, script, span, dialect)
    else:
        revisions = _kept_sources(target, script, span, kept, (context, dialect, facts.version))
    hits = _hits(revisions, facts, lambda names: live_facts.volatility(target.engine, names), kept)
    findings = _findings(revisions, hits, facts, _allowed(script, revisions), large)
    return LintResult(
        mask_url(target.url),
        dialect,
        facts.version_text,
        tuple(r.revision for r in revisions),
        findings,
        large,
    )


def refuse_errors(result: LintResult, command: str, way_out: str = "") -> None:
    """Raise LintError, naming the first error, when ``result`` has errors that no comment allows."""
    from .._core.errors import LintError

    if not result.errors:
        return
    first = result.errors[0]
    rows = "" if first.rows is None else f", {first.rows:,} rows"
    others = f" and {len(result.errors) - 1} more" if len(result.errors) > 1 else ""
    table = first.table or "the database"
    raise LintError(
        f"{command}: revision {first.revision} {first.rule} on {table}{rows}{others}: "
        f"{first.safer or 'see %migrate lint'}; or allow it in the revision file (# lint: allow {first.rule})"
        f"{way_out}",
        result,
    )


def gated(engine: Any, revision: str, current: tuple[str, ...], script: ScriptDirectory) -> bool:
    """Whether ``upgrade`` lints what it is about to apply first: with the extra installed, on PostgreSQL,
    MySQL or MariaDB, for a named target (not +N) that is not reached yet, on a database already at some
    revision (a database at base has none of the chain's tables, so none with rows to block), when every
    revision to apply only declares operations (linting runs ``upgrade()`` once more, offline: a data
    migration or any code of its own is not run twice; see :mod:`.declarative`)."""
    from importlib.util import find_spec

    from .._core.errors import ConfigurationError

    if any(mark in revision for mark in "+-@:") or not current or find_spec("sqlglot") is None:
        return False
    if revision in {"head", "heads"} and current == tuple(sorted(script.get_heads())):
        return False
    if revision in current or engine.dialect.name not in {"postgresql", "mysql"}:
        return False
    if engine.dialect.name == "postgresql":
        from .postgres import squawk_path

        try:
            squawk_path()
        except ConfigurationError:
            return False
    return _only_declarations(script, revision, current)


def _only_declarations(script: ScriptDirectory, revision: str, current: tuple[str, ...]) -> bool:
    from .._run.steps import pending_revisions
    from .declarative import declarative

    pending = pending_revisions("upgrade", revision, current, script)
    paths = [getattr(script.get_revision(rev), "path", None) for rev in pending]
    return bool(paths) and all(path and declarative(path) for path in paths)


def _sources(target: Target, script: ScriptDirectory, span: Span, dialect: str) -> list[RevisionSQL]:
    from .._core.errors import ConfigurationError

    if dialect != "sqlite":
        return offline(target, script, span.start, span.end)
    if span.start != (span.current[0] if span.current else None):
        raise ConfigurationError(
            "on SQLite, lint reads the revisions not yet applied from plan's dry run (offline SQL cannot "
            "show batch mode's table copy): leave out --all and --since"
        )
    if not span.exists:
        raise ConfigurationError(
            "no database file yet, so no table has rows: lint it after %migrate upgrade creates it"
        )
    return dry_run(target, script, span.current, span.end)


def _kept_sources(
    target: Target, script: ScriptDirectory, span: Span, kept: LintCache, context: Hashable
) -> list[RevisionSQL]:
    """The span's SQL from ``kept`` when every revision of it is kept; else one offline run, whose
    revisions that only declare operations are kept (code of a revision's own may render otherwise
    another time)."""
    from .declarative import declarative
    from .kept import digest, span_keys

    # env.py and the modules beside it (the support files init copies) decide how a revision renders.
    beside = tuple(digest(path) for path in sorted(target.directory.glob("*.py")))
    keys = span_keys(script, span.start, span.end, (context, beside))
    found = kept.sql(list(keys.values())) if keys is not None else None
    if found is not None:
        return found
    revisions = offline(target, script, span.start, span.end)
    if keys is not None and [r.revision for r in revisions] == list(keys):
        paths = {r.revision: str(getattr(script.get_revision(r.revision), "path", "")) for r in revisions}
        kept.keep_sql(keys, [r for r in revisions if paths[r.revision] and declarative(paths[r.revision])])
    return revisions


def _hits(
    revisions: list[RevisionSQL],
    facts: live_facts.Live,
    volatility: Callable[[Iterable[str]], dict[str, str]],
    kept: LintCache | None = None,
) -> list[Hit]:
    if facts.dialect == "postgresql":
        from . import postgres

        return postgres.check(revisions, facts.version, volatility, kept)
    if facts.dialect == "mysql":
        from . import mysql

        return mysql.check(revisions, facts)
    if facts.dialect == "sqlite":
        from . import sqlite

        return sqlite.check(revisions)
    return []


def _findings(
    revisions: list[RevisionSQL],
    hits: list[Hit],
    facts: live_facts.Live,
    allowed: dict[str, set[str]],
    large: int,
) -> tuple[Finding, ...]:
    """Hits in revision and statement order, exempt ones left out, with rows, severity and allowed."""
    dialect = _DIALECTS.get(facts.dialect, facts.dialect)
    created = {r.revision: _created_before(r, dialect) for r in revisions}
    new_in_range = {t for tables in created.values() for t in tables}
    order = {r.revision: n for n, r in enumerate(revisions)}
    findings = []
    for hit in sorted(hits, key=lambda h: (order.get(h.revision, 0), h.index)):
        earlier = created.get(hit.revision, {})
        if hit.table is not None and earlier.get(hit.table, hit.index) < hit.index:
            continue  # a table this revision created: new and empty
        rows = facts.rows_of(hit.table) if hit.table not in earlier else 0
        if rows is None and hit.table in new_in_range:
            rows = 0  # created by an earlier revision of the range
        effect = rule(hit.rule)
        findings.append(
            Finding(
                hit.revision,
                _short(hit.statement),
                hit.table,
                rows,
                effect.lock,
                effect.blocks,
                effect.effect,
                hit.rule,
                effect.source,
                severity(effect, rows, large),
                effect.safer,
                hit.rule in allowed.get(hit.revision, set()),
                hit.message,
                effect.link(hit.rule),
            )
        )
    return tuple(findings)


def _created_before(revision: RevisionSQL, dialect: str) -> dict[str, int]:
    """Each table the revision creates, with the index of the statement that creates it."""
    created: dict[str, int] = {}
    for index, statement in enumerate(revision.statements):
        if statement.lstrip()[:12].upper().startswith("CREATE TABLE"):
            table = created_table(statement, dialect)
            if table is not None and not table.startswith("_alembic_tmp_"):
                created.setdefault(table, index)
    return created


def _allowed(script: ScriptDirectory, revisions: list[RevisionSQL]) -> dict[str, set[str]]:
    """The rules each revision file allows with ``# lint: allow RULE``."""
    allowed: dict[str, set[str]] = {}
    for revision in revisions:
        found = script.get_revision(revision.revision)
        path = getattr(found, "path", None)
        if not path:
            continue
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        rules = {r.strip().lower() for match in _ALLOW.finditer(text) for r in match[1].split(",")}
        if rules:
            allowed[revision.revision] = rules
    return allowed


def _short(statement: str) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= _SHORT else text[: _SHORT - 1] + "…"
