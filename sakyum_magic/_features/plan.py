"""``plan``: the dry run of an upgrade or downgrade, with the SQL each step would execute.

Alembic's offline ``--sql`` mode cannot render batch mode's copy-and-move of a SQLite table, so the
steps really run, inside one transaction begun before Alembic sees the connection: Alembic treats
it as external and never commits, and it is rolled back at the end (see
:func:`sakyum_magic._run.online.rolled_back`). On SQLite the package's engine makes DDL transactional
(SQLAlchemy's pysqlite recipe), so this costs what the pending steps cost, whatever the size of the
file. Whatever env.py does, the run uses that connection for the bound database; a connection to any
other database is refused before a migration runs, and a revision that commits on its own
(``autocommit_block``) stops the plan before anything is committed. MySQL and MariaDB commit every
DDL statement implicitly, so there is no harmless place to run it: ``plan`` refuses and points to
``upgrade --sql``.

Statements that lose data are marked (see :mod:`sakyum_magic._guards.safety`); in batch mode that is the
copy (``INSERT INTO _alembic_tmp_t ... SELECT``) when it leaves columns behind or narrows a type.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._core import translation
from .._core.binding import mask_url
from .._core.errors import ConfigurationError, MigrationError, RevisionError
from .._core.records import Plan
from .._guards.safety import always_destructive, narrowing, shape, sql_shape
from .._run.database import is_transactional_sqlite, require_database_file
from .._run.environment import commit_refused
from .._run.envrun import Target
from .._run.execution import Strategy, migrate

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

TRANSACTIONAL_DDL = frozenset({"postgresql", "mssql"})
METHOD = "rolled-back transaction"
_NAME = r'(?:"[^"]+"|`[^`]+`|\w+)(?:\.(?:"[^"]+"|`[^`]+`|\w+))?'
_TMP = "_alembic_tmp_"


def plan(
    target: Target,
    script: ScriptDirectory,
    revision: str,
    current: tuple[str, ...],
    observe: Callable[[Any, str], Any] | None = None,
) -> Plan:
    """The steps and SQL a migration from ``current`` to ``revision`` would run; nothing is changed.

    ``observe`` is called before each statement that writes, after it is classified (``plan --locks``).
    """
    engine = target.engine
    require_database_file(target.url)
    name = direction(script, revision, current, target.url)
    if not (is_transactional_sqlite(engine) or engine.dialect.name in TRANSACTIONAL_DDL):
        raise ConfigurationError(
            f"plan needs DDL that can be rolled back, and {engine.dialect.name} commits each DDL "
            f"statement: read the SQL with %migrate {name} {revision} --sql instead"
        )
    strategy = Strategy(dry_run=True, classify=_observed(Classifier(), observe))
    try:
        result = migrate(target, script, name, revision, strategy=strategy)
    except MigrationError as exc:
        failure = str(exc).split("; ")[0]
        raise MigrationError(
            f"plan: {failure}; the database itself was not changed. Fix the revision file and plan again",
            exc.result,
        ) from exc
    except (AssertionError, RevisionError) as exc:
        # Alembic asserts when autocommit_block() meets a transaction it did not begin itself
        # (the assertion may arrive as is, or already translated into a RevisionError).
        if not _in_autocommit_block(exc):
            raise
        raise commit_refused() from exc
    return Plan(mask_url(target.url), name, revision, current, tuple(result.steps), METHOD)


def _observed(classify: Classifier, observe: Callable[[Any, str], Any] | None) -> Callable[[Any, str], bool]:
    if observe is None:
        return classify

    def both(connection: Any, statement: str) -> bool:
        lossy = classify(connection, statement)
        observe(connection, statement)
        return lossy

    return both


def direction(script: ScriptDirectory, revision: str, current: tuple[str, ...], url: Any = None) -> str:
    """``upgrade`` or ``downgrade``: which way ``revision`` lies from the ``current`` revisions."""
    relative = revision.rsplit("@", 1)[-1]
    if revision == "base" or relative.startswith("-"):
        return "downgrade"
    if relative.startswith("+") or relative in {"head", "heads"}:
        return "upgrade"
    with translation.alembic_errors(url):
        target = script.get_revision(revision)
        below = {s.revision for s in script.iterate_revisions(current, "base")} if current else set()
    if target is not None and target.revision in below and target.revision not in current:
        return "downgrade"
    return "upgrade"


def _in_autocommit_block(exc: BaseException) -> bool:
    found: BaseException | None = exc
    while found is not None:
        if any(frame.name == "autocommit_block" for frame in traceback.extract_tb(found.__traceback__)):
            return True
        found = found.__cause__
    return False


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
