"""What a server refuses that no revision file is to blame for: a connection limit, a missing
privilege, a table of this package's name that belongs to someone else.

Each becomes one line naming the limit, role or table and the way out, recognised by the driver's
error code (SQLSTATE on PostgreSQL, the error number on MySQL/MariaDB), never by its wording.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .binding import mask_url, scrub
from .errors import ConfigurationError, DatabaseError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

# PostgreSQL: too_many_connections (a role's CONNECTION LIMIT, max_connections, reserved slots).
PG_CONNECTION_LIMIT = frozenset({"53300"})
# MySQL/MariaDB: ER_CON_COUNT_ERROR, ER_TOO_MANY_USER_CONNECTIONS, ER_USER_LIMIT_REACHED.
MYSQL_CONNECTION_LIMIT = frozenset({1040, 1203, 1226})
# PostgreSQL: insufficient_privilege, read_only_sql_transaction.
PG_PRIVILEGE = frozenset({"42501", "25006"})
# MySQL/MariaDB: access denied to a database, to a table or column, a privilege needed (SUPER...),
# and --read-only / a read-only transaction.
MYSQL_PRIVILEGE = frozenset({1044, 1142, 1143, 1227, 1290, 1792})


def sqlstate(error: object) -> str | None:
    """The PostgreSQL SQLSTATE of a driver error (psycopg, psycopg2, asyncpg through SQLAlchemy)."""
    code = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    return code if isinstance(code, str) else None


def mysql_code(error: object) -> int | None:
    """The MySQL/MariaDB error number of a driver error (PyMySQL, mysqlclient, aiomysql)."""
    args = getattr(error, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def driver_error(exc: BaseException) -> object:
    """The DBAPI's own error behind SQLAlchemy's wrapper (or ``exc`` itself)."""
    return getattr(exc, "orig", None) or exc


def connection_limit(exc: BaseException) -> bool:
    """Whether the server refused a connection because a connection limit is reached."""
    error = driver_error(exc)
    return sqlstate(error) in PG_CONNECTION_LIMIT or mysql_code(error) in MYSQL_CONNECTION_LIMIT


def privilege(exc: BaseException) -> bool:
    """Whether the server refused a statement because the role may not do it (or is read-only)."""
    error = driver_error(exc)
    return sqlstate(error) in PG_PRIVILEGE or mysql_code(error) in MYSQL_PRIVILEGE


def reason(exc: BaseException, url: URL | None) -> str:
    """The driver's first line, without any password it might quote."""
    text = str(driver_error(exc)).strip()
    return scrub(text.splitlines()[0], url) if text else "error"


def who(url: URL) -> str:
    """The role or user a URL connects as, for a message."""
    return repr(url.username) if url.username else "the URL's user"


def connect_error(url: URL, exc: BaseException) -> DatabaseError:
    """The error for a connection that failed: a connection limit named as such, else the usual."""
    if connection_limit(exc):
        return DatabaseError(
            f"cannot connect to {mask_url(url)}: {who(url)} has reached a connection limit "
            f"({reason(exc, url)}); close that user's other sessions (another notebook or console), "
            "or raise the limit (MariaDB: ALTER USER ... WITH MAX_USER_CONNECTIONS n; PostgreSQL: "
            "ALTER ROLE ... CONNECTION LIMIT n), then run the command again"
        )
    return DatabaseError(
        f"cannot connect to {mask_url(url)}: {reason(exc, url)}; "
        "check that the server is running and the URL is right (%migrate config --url URL)"
    )


def privilege_error(exc: BaseException, url: URL, command: str, where: str) -> DatabaseError | None:
    """The error for a run stopped by a missing privilege (a read-only role), else None.

    :param where: what the run had done and where the database is, for the message.
    """
    if not privilege(exc):
        return None
    return DatabaseError(
        f"{command} stopped: {who(url)} may not change {mask_url(url)} ({reason(exc, url)}); {where}. "
        "No revision file is at fault: connect as a role that owns the schema (%migrate config --url "
        "URL), or grant this one the privilege"
    )


def describe_table(columns: Any) -> str:
    """A few column names of a table, for a message."""
    names = sorted(str(column) for column in columns)
    shown = ", ".join(names[:6])
    return shown + (", ..." if len(names) > 6 else "")


def foreign_table(name: str, columns: Any, way_out: str) -> ConfigurationError:
    """The error for a table of this package's name that is someone else's (other columns)."""
    return ConfigurationError(
        f"the database already has a table named {name} that is not this package's (its columns: "
        f"{describe_table(columns)}), so nothing is written to it: rename that table, or {way_out}"
    )
