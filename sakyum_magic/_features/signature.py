"""A digest of everything in the models that a comparison with the database reads.

``diff`` run again on an unchanged database with unchanged models finds what it found before, so
its result is kept (:mod:`sakyum_magic._features.reflection`) under the database's fingerprint and
the models' signature. The signature is made afresh at every call, from the models' structure as it
is then, so a model edited in place (a column's type, nullability or default changed, a column,
index or constraint added or removed) changes it. It holds, per table: its name, schema, comment and
dialect options; each column's name, type (its class and attributes: an enum's values, a string's
length),
nullability, key, server default, comment, computed and identity parts; each constraint's kind,
name, columns, condition, foreign key targets and options; each index's name, uniqueness,
expressions and options. And the MetaData's identity: a model cell run again makes new objects, and
its comparison is made afresh.
"""

from __future__ import annotations

import hashlib
from typing import Any


def signature(target: Any) -> str:
    """The signature of ``target`` (a MetaData or a list of them)."""
    digest = hashlib.sha256()
    for metadata in target if isinstance(target, list | tuple) else [target]:
        digest.update(f"metadata {id(metadata)}\0".encode())
        for key in sorted(metadata.tables):
            digest.update(_table(metadata.tables[key]).encode())
    return digest.hexdigest()


def _table(table: Any) -> str:
    columns = [_column(column) for column in table.columns]
    constraints = sorted(_constraint(constraint) for constraint in table.constraints)
    indexes = sorted(_index(index) for index in table.indexes)
    return repr((table.fullname, table.comment, _options(table), columns, constraints, indexes)) + "\0"


def _column(column: Any) -> tuple[Any, ...]:
    kinds = (_type(column.type), _text(column.server_default), repr(column.computed), repr(column.identity))
    flags = (column.nullable, column.primary_key, repr(column.autoincrement), column.index, column.unique)
    return (column.name, *kinds, *flags, column.comment, _options(column))


def _constraint(constraint: Any) -> str:
    columns = tuple(constraint.columns.keys()) if hasattr(constraint, "columns") else ()
    elements = getattr(constraint, "elements", ())  # a foreign key's targets
    targets = tuple(element.target_fullname for element in elements)
    options = tuple(
        repr(getattr(constraint, name, None)) for name in ("ondelete", "onupdate", "match", "use_alter")
    )
    condition = _text(getattr(constraint, "sqltext", None))
    timing = (constraint.deferrable, constraint.initially)
    kind = (type(constraint).__name__, repr(constraint.name))
    return repr((*kind, columns, targets, options, condition, *timing, _options(constraint)))


def _index(index: Any) -> str:
    expressions = tuple(_text(expression) for expression in index.expressions)
    return repr((repr(index.name), index.unique, expressions, _options(index)))


def _type(kind: Any) -> str:
    """A column type's class and attributes (its length, an enum's values and name, a variant's
    types...), read as they are now: SQLAlchemy's own ``repr`` of a type is ten times slower."""
    cls = type(kind)
    attributes = sorted(
        (name, value) for name, value in vars(kind).items() if not _memoized(getattr(cls, name, None))
    )
    return f"{cls.__module__}.{cls.__qualname__}{attributes!r}"


def _memoized(attribute: Any) -> bool:
    """A value the type computed from its own on first use (``_type_affinity``...), which SQLAlchemy
    keeps in the instance under the name of a descriptor of its class (one without ``__set__``)."""
    return hasattr(attribute, "__get__") and not hasattr(attribute, "__set__")


def _options(item: Any) -> str:
    """Dialect options (``postgresql_where=...``), an expression among them written as SQL."""
    return repr(sorted((name, _text(value)) for name, value in item.dialect_kwargs.items()))


def _text(value: Any) -> str | None:
    """A default, condition or expression as text (a server default's argument, an SQL expression)."""
    if value is None:
        return None
    value = getattr(value, "arg", value)
    return value if isinstance(value, str) else str(value)
