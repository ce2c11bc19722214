"""A fleet's targets: one database, or one tenant schema of a database, per row.

Targets come as a list (URLs; schema names, which mean schemas of the bound database; ``(url,
schema)`` pairs; mappings with ``url`` and/or ``schema``), a pandas DataFrame with those columns, or
the rows of a SQL query. A schema follows Alembic's cookbook schema-level recipe: on PostgreSQL it
is every connection's ``search_path`` (so the version table lives in the tenant's schema); on
MySQL/MariaDB a schema is a database, so the URL's database is replaced (``USE``).

A :class:`FleetTarget` keeps its URL with the password, to hand to a worker as a task argument; its
``repr`` and ``label`` show it masked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._core.binding import mask_url, parse_url
from .._core.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

SCHEMA_NAME = re.compile(r"^[\w$-]{1,63}$")
"""Schema names a fleet accepts: no quotes, blanks or backslashes (they would need escaping in libpq's
connection options), at most PostgreSQL's 63 characters."""


@dataclass(frozen=True)
class FleetTarget:
    """One target: a database URL (with its password, never shown), and a PostgreSQL schema or None."""

    url: str = field(repr=False)
    schema: str | None = None
    label: str = field(default="", compare=False)
    """The target as shown: the masked URL, and the schema after ``/`` when there is one."""

    def __post_init__(self) -> None:
        if not self.label:
            shown = mask_url(self.url) + (f" / {self.schema}" if self.schema else "")
            object.__setattr__(self, "label", shown)

    def __repr__(self) -> str:
        return f"FleetTarget({self.label!r})"


def fleet_targets(source: Any, default_url: str | URL | None) -> list[FleetTarget]:
    """The targets in ``source`` (see the module docstring); ``default_url`` is for schema-only rows.

    ConfigurationError for an empty fleet, a row that names no target, a bad schema name, a schema on
    SQLite, or the same target twice.
    """
    rows = list(_rows(source))
    if not rows:
        raise ConfigurationError("the fleet has no targets: pass a list, a DataFrame or a query with rows")
    targets = [_target(position, row, default_url) for position, row in enumerate(rows, start=1)]
    seen: dict[tuple[str, str | None], int] = {}
    for position, target in enumerate(targets, start=1):
        key = (_identity(target.url), target.schema)
        if key in seen:
            raise ConfigurationError(
                f"targets {seen[key]} and {position} are both {target.label}: list each target once"
            )
        seen[key] = position
    return targets


def query_rows(engine: Engine, query: str) -> list[Mapping[str, Any]]:
    """The rows of ``query`` (columns ``url`` and/or ``schema``), run on ``engine``'s database."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from .._run.database import connect, first_line

    with connect(engine) as connection:
        try:
            return [dict(row._mapping) for row in connection.execute(text(query))]
        except DBAPIError as exc:
            raise ConfigurationError(
                f"the targets query failed on {mask_url(engine.url)}: {first_line(exc.orig, engine.url)}; "
                "it should return a url and/or a schema column"
            ) from exc


def _rows(source: Any) -> Iterable[Any]:
    """Each row of a DataFrame (as a mapping), of a SQLAlchemy result, or of a plain iterable."""
    if hasattr(source, "to_dict") and hasattr(source, "columns"):  # a pandas DataFrame
        return list(source.to_dict(orient="records"))
    if isinstance(source, str | bytes) or not isinstance(source, Iterable):
        raise ConfigurationError(
            f"targets must be a list, a DataFrame or a query's rows, not {type(source).__name__}"
        )
    return (getattr(row, "_mapping", row) for row in source)


def _target(position: int, row: Any, default_url: str | URL | None) -> FleetTarget:
    if isinstance(row, FleetTarget):
        return row
    url, schema = _url_and_schema(position, row)
    if url is None:
        if default_url is None:
            raise ConfigurationError(f"target {position} names a schema but no URL, and no URL is bound")
        url = default_url
    return _resolved(position, url, schema)


def _url_and_schema(position: int, row: Any) -> tuple[Any, str | None]:
    if isinstance(row, Mapping):
        url, schema = row.get("url"), row.get("schema")
        if url is None and schema is None:
            raise ConfigurationError(f"target {position} has neither a url nor a schema column")
        return _present(url), _schema_text(schema)
    if isinstance(row, str):
        return (row, None) if "://" in row else (None, row)
    if isinstance(row, Sequence) and len(row) in (1, 2):
        return _present(row[0]), _schema_text(row[1]) if len(row) == 2 else None
    if hasattr(row, "drivername"):  # a sqlalchemy URL
        return row, None
    raise ConfigurationError(
        f"target {position} is a {type(row).__name__}: give a URL, a schema name, (url, schema), "
        "or a mapping with url and/or schema"
    )


def _present(value: Any) -> Any:
    """None for a missing cell (None, NaN, pandas NA)."""
    return None if value is None or value != value or str(value) in ("", "<NA>") else value


def _schema_text(value: Any) -> str | None:
    value = _present(value)
    return None if value is None else str(value)


def _resolved(position: int, url: Any, schema: str | None) -> FleetTarget:
    parsed = parse_url(url)
    rendered = parsed.render_as_string(hide_password=False)
    if schema is None:
        return FleetTarget(rendered)
    if not SCHEMA_NAME.match(schema):
        raise ConfigurationError(
            f"target {position}: schema {schema!r} is not a plain name (letters, digits, _, $ and -, "
            "63 at most)"
        )
    backend = parsed.get_backend_name()
    if backend in ("mysql", "mariadb"):  # a MySQL schema is a database: USE it
        moved = parsed.set(database=schema).render_as_string(hide_password=False)
        return FleetTarget(moved, None, mask_url(moved))
    if backend != "postgresql":
        raise ConfigurationError(
            f"target {position}: a schema ({schema}) needs PostgreSQL, MySQL or MariaDB; "
            f"{mask_url(parsed)} is {backend}: list its URL alone"
        )
    return FleetTarget(rendered, schema)


def _identity(url: str) -> str:
    """The URL without its password, so one database listed with two spellings of it is one target."""
    return parse_url(url).set(password=None).render_as_string(hide_password=False)
