"""``plan``: the dry run of an upgrade or downgrade, with the SQL each step would execute.

Alembic's offline ``--sql`` mode cannot render batch mode's copy-and-move of a SQLite table, so the
steps are really run, somewhere harmless, and the statements captured as they execute:

- **SQLite**: on a scratch copy of the database, made with SQLite's online backup API (which only
  reads the original) in a temporary directory that is deleted afterwards.
- **PostgreSQL** (and other databases with transactional DDL): inside one transaction begun before
  Alembic sees the connection, so Alembic treats it as external and never commits; it is rolled back
  at the end. A revision that tries to commit on its own (``autocommit_block``) stops the plan
  before anything is committed.
- MySQL and MariaDB commit every DDL statement implicitly, so there is no harmless place to run it:
  ``plan`` refuses and points to ``upgrade --sql``.

Statements that lose data are marked (see :mod:`sakyum_magic.safety`); in batch mode that is the
copy (``INSERT INTO _alembic_tmp_t ... SELECT``) when it leaves columns behind or narrows a type.
"""

from __future__ import annotations

import re
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import runner
from .binding import mask_url, parse_url
from .database import VERSION_TABLE, connect, current_heads
from .errors import ConfigurationError, DatabaseError, MigrationError, RevisionError
from .execution import migration
from .records import Plan
from .safety import always_destructive, narrowing, shape, sql_shape

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import Connection, Engine

    from .commands import Migrator

TRANSACTIONAL_DDL = frozenset({"postgresql", "mssql"})
UNREACHABLE_URL = "sakyum_plan_uses_the_given_connection_only://"
_NAME = r'(?:"[^"]+"|`[^`]+`|\w+)(?:\.(?:"[^"]+"|`[^`]+`|\w+))?'
_TMP = "_alembic_tmp_"


def plan(migrator: Migrator, revision: str = "head") -> Plan:
    """The steps and SQL a migration from the database's current revision to ``revision`` would run."""
    script = migrator.script_directory()
    engine = migrator.engine()
    _require_versioned(engine)
    current = current_heads(engine)
    name = direction(script, revision, current, parse_url(migrator.url))
    classify = Classifier()
    run = migration(name, revision)
    try:
        if engine.dialect.name == "sqlite":
            method = "scratch copy"
            result = _on_scratch_copy(migrator, name, revision, run, classify)
        elif engine.dialect.name in TRANSACTIONAL_DDL:
            method = "rolled-back transaction"
            result = _in_rolled_back_transaction(migrator, name, revision, run, classify)
        else:
            raise ConfigurationError(
                f"plan needs DDL that can be rolled back, and {engine.dialect.name} commits each DDL "
                f"statement: read the SQL with %migrate {name} {revision} --sql instead"
            )
    except MigrationError as exc:
        failure = str(exc).split("; ")[0]
        raise MigrationError(
            f"plan: {failure}; the database itself was not changed. Fix the revision file and plan again",
            exc.result,
        ) from exc
    return Plan(mask_url(migrator.url), name, revision, current, tuple(result.steps), method)


def direction(script: ScriptDirectory, revision: str, current: tuple[str, ...], url: Any = None) -> str:
    """``upgrade`` or ``downgrade``: which way ``revision`` lies from the ``current`` revisions."""
    relative = revision.rsplit("@", 1)[-1]
    if revision == "base" or relative.startswith("-"):
        return "downgrade"
    if relative.startswith("+") or relative in {"head", "heads"}:
        return "upgrade"
    with runner.alembic_errors(url):
        target = script.get_revision(revision)
        below = {s.revision for s in script.iterate_revisions(current, "base")} if current else set()
    if target is not None and target.revision in below and target.revision not in current:
        return "downgrade"
    return "upgrade"


def _require_versioned(engine: Engine) -> None:
    from sqlalchemy import inspect

    with connect(engine) as connection:
        versioned = inspect(connection).has_table(VERSION_TABLE)
    if not versioned:
        raise RevisionError(
            f"{mask_url(engine.url)} is not versioned (no {VERSION_TABLE} table), so plan has no revision "
            "to start from: run %migrate stamp base if it is empty, or %migrate stamp head if its tables "
            "already match the models, then plan again"
        )


def _in_rolled_back_transaction(
    migrator: Migrator, name: str, revision: str, run: Any, classify: Classifier
) -> Any:
    from sqlalchemy.exc import NoSuchModuleError

    try:
        return migrator._migrate(name, revision, False, run, classify=classify, dry_run=True)
    except NoSuchModuleError as exc:
        if UNREACHABLE_URL.split(":")[0] not in str(exc):
            raise
        raise ConfigurationError(
            f"plan cannot run this env.py safely: it opens its own connection instead of using the one "
            f"the magic hands it (Config.attributes['connection']), so a dry run could not be undone; "
            f"nothing was changed. Read the SQL with %migrate {name} {revision} --sql, or use an env.py "
            "written by %migrate init"
        ) from exc
    except (AssertionError, RevisionError) as exc:
        # Alembic asserts when autocommit_block() meets a transaction it did not begin itself
        # (the assertion may arrive as is, or already translated into a RevisionError).
        if not _in_autocommit_block(exc):
            raise
        raise _commit_refused() from exc


def _in_autocommit_block(exc: BaseException) -> bool:
    found: BaseException | None = exc
    while found is not None:
        if any(frame.name == "autocommit_block" for frame in traceback.extract_tb(found.__traceback__)):
            return True
        found = found.__cause__
    return False


def _on_scratch_copy(migrator: Migrator, name: str, revision: str, run: Any, classify: Classifier) -> Any:
    from .commands import Migrator

    with tempfile.TemporaryDirectory(prefix="sakyum-plan-") as directory:
        path = Path(directory) / "scratch.db"
        _copy_sqlite(migrator.engine(), path)
        scratch = Migrator(
            url=f"sqlite:///{path}", directory=migrator.directory, ini=migrator.ini, progress=False
        )
        scratch.scripts = migrator.scripts
        try:
            return scratch._migrate(name, revision, False, run, classify=classify)
        finally:
            scratch.dispose()


def _copy_sqlite(engine: Engine, path: Path) -> None:
    """Copy the database with SQLite's backup API: a consistent snapshot, the original only read."""
    import sqlite3

    database = engine.url.database
    with connect(engine) as connection:
        source = connection.connection.driver_connection
        if isinstance(source, sqlite3.Connection):
            _backup(source, path)
            return
    if not database or database == ":memory:":
        raise ConfigurationError(
            f"plan cannot copy an in-memory database through {engine.dialect.driver}: "
            "bind a sqlite:/// file URL to plan"
        )
    # Another driver (aiosqlite): read the same file through the standard library, read-only.
    source = sqlite3.connect(f"{Path(database).absolute().as_uri()}?mode=ro", uri=True)
    try:
        _backup(source, path)
    finally:
        source.close()


def _backup(source: Any, path: Path) -> None:
    import sqlite3

    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        target.close()


@contextmanager
def rolled_back(connection: Connection) -> Iterator[None]:
    """One transaction around everything run on ``connection``; rolled back, and no COMMIT allowed."""
    from sqlalchemy import event

    transaction = connection.begin()
    event.listen(connection, "commit", _refuse_commit)
    try:
        yield
    finally:
        event.remove(connection, "commit", _refuse_commit)
        if transaction.is_active:
            transaction.rollback()


def _refuse_commit(connection: Any) -> NoReturn:
    raise _commit_refused()


def _commit_refused() -> DatabaseError:
    return DatabaseError(
        "plan stopped: a revision commits on its own (autocommit_block), which a dry run cannot undo; "
        "nothing was changed. Read its SQL with %migrate upgrade REV --sql instead"
    )


class Classifier:
    """Marks each statement that loses data, looking at the table as it is just before it runs."""

    def __init__(self) -> None:
        self.new_types: dict[str, dict[str, str]] = {}  # batch tables being built: column -> type
        self.moved: set[str] = set()  # tables whose rows a batch copy already moved

    def __call__(self, connection: Any, statement: str) -> bool:
        text = " ".join(statement.split())
        if created := re.match(rf"CREATE TABLE ({_NAME}) \((.*)\)$", text, re.I):
            if _bare(created[1]).startswith(_TMP):
                self.new_types[_bare(created[1])[len(_TMP) :]] = _column_types(created[2])
            return False
        copied = re.match(rf"INSERT INTO ({_NAME}) \((.*?)\) SELECT (.*) FROM ({_NAME})$", text, re.I)
        if copied and _bare(copied[1]).startswith(_TMP):
            return self._copy_loses(connection, copied)
        dropped = re.match(rf"DROP TABLE ({_NAME})$", text, re.I)
        if dropped and _bare(dropped[1]) in self.moved:
            self.moved.discard(_bare(dropped[1]))
            return False
        if altered := re.match(rf"ALTER TABLE ({_NAME}) ALTER COLUMN ({_NAME}) TYPE (.+)$", text, re.I):
            old = _columns(connection, altered[1]).get(_bare(altered[2]))
            return old is None or narrowing(shape(old), sql_shape(altered[3]))
        return always_destructive(statement)

    def _copy_loses(self, connection: Any, copied: re.Match[str]) -> bool:
        """A batch copy loses data when it leaves a column behind or narrows one's type."""
        table = _bare(copied[4])
        self.moved.add(table)
        old = _columns(connection, copied[4])
        targets = [_bare(c) for c in _split(copied[2])]
        sources = [_source_column(expr) for expr in _split(copied[3])]
        if set(old) - {s for s in sources if s}:
            return True
        new_types = self.new_types.pop(table, {})
        return any(
            source in old
            and target in new_types
            and narrowing(shape(old[source]), sql_shape(new_types[target]))
            for target, source in zip(targets, sources, strict=False)
        )


def _columns(connection: Any, qualified: str) -> dict[str, Any]:
    """The table's columns and their reflected types, as the database has them right now."""
    from sqlalchemy import inspect

    owner, _, table = qualified.rpartition(".")
    schema = _bare(owner) if owner else None
    found = inspect(connection).get_columns(_bare(table), schema=schema)
    return {column["name"]: column["type"] for column in found}


def _bare(name: str) -> str:
    return name.rsplit(".", 1)[-1].strip('"`')


def _split(text: str) -> list[str]:
    """Split on the commas that are not inside parentheses."""
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _source_column(expression: str) -> str | None:
    match = re.match(rf"(?:CAST\()?(?:{_NAME}\.)?(\"[^\"]+\"|`[^`]+`|\w+)", expression, re.I)
    return _bare(match[1]) if match else None


_CONSTRAINT = re.compile(r"^(PRIMARY|FOREIGN|UNIQUE|CHECK|CONSTRAINT)\b", re.I)
_TYPE_END = re.compile(
    r"\s+(NOT\b|NULL\b|DEFAULT\b|PRIMARY\b|REFERENCES\b|CHECK\b|UNIQUE\b|COLLATE\b|CONSTRAINT\b)", re.I
)


def _column_types(body: str) -> dict[str, str]:
    """Column name -> type text, from the body of a CREATE TABLE statement."""
    types = {}
    for part in _split(body):
        if _CONSTRAINT.match(part):
            continue
        name, _, rest = part.partition(" ")
        types[_bare(name)] = _TYPE_END.split(rest, maxsplit=1)[0].strip()
    return types
