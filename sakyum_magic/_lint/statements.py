"""Reading statements with sqlglot (a real SQL parser): the table a statement acts on, the tables it
creates, and the functions a new column's default calls."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlglot import exp

MISSING = "lint needs sqlglot: pip install 'sakyum-magic[migrate-lint]' (squawk-cli and sqlglot)"


def sqlglot() -> Any:
    """The sqlglot module, imported on first use; its fallback warnings kept out of the notebook."""
    try:
        import sqlglot as module
    except ImportError as exc:
        raise ConfigurationError(MISSING) from exc
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    return module


@lru_cache(maxsize=4096)
def parsed(statement: str, dialect: str) -> exp.Expression | None:
    """The statement's syntax tree; None when sqlglot cannot read it."""
    module = sqlglot()
    try:
        return module.parse_one(statement, read=dialect)  # type: ignore[no-any-return]
    except (module.errors.ParseError, module.errors.TokenError):  # e.g. a $$ function body
        return None


def table_of(statement: str, dialect: str) -> str | None:
    """The table the statement acts on (its first table), lower-case, without the schema."""
    from sqlglot import exp

    tree = parsed(statement, dialect)
    if tree is None:
        return None
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Index):
        table = tree.this.args.get("table")
        return str(table.name).lower() if table is not None else None
    found = tree.find(exp.Table)
    return str(found.name).lower() if found is not None and found.name else None


def created_table(statement: str, dialect: str) -> str | None:
    """The table a ``CREATE TABLE`` makes, else None."""
    from sqlglot import exp

    tree = parsed(statement, dialect)
    if isinstance(tree, exp.Create) and str(tree.args.get("kind") or "").upper() == "TABLE":
        return table_of(statement, dialect)
    return None


def add_column_defaults(statement: str, dialect: str) -> set[str]:
    """The (lower-case) functions the defaults of the columns an ``ALTER TABLE ... ADD`` adds call."""
    from sqlglot import exp

    tree = parsed(statement, dialect)
    if not isinstance(tree, exp.Alter):
        return set()
    names: set[str] = set()
    for action in tree.args.get("actions") or ():
        if not isinstance(action, exp.ColumnDef):
            continue
        for constraint in action.args.get("constraints") or ():
            if isinstance(constraint.args.get("kind"), exp.DefaultColumnConstraint):
                names |= {_function_name(f, dialect) for f in constraint.find_all(exp.Func)}
    return {n for n in names if n}


def _function_name(function: exp.Func, dialect: str) -> str:
    """The name as the server knows it (sqlglot's own name for random() is RAND)."""
    return str(function.sql(dialect=dialect)).partition("(")[0].strip().lower()
