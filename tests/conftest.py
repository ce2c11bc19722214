"""Shared fixtures: a private working directory per test, real databases, a real IPython shell.

PostgreSQL and MariaDB tests get a database of their own, created for the test and dropped after it.
Without a reachable server they skip with the reason; under CI (CI=true) that is a failure instead.
"""

from __future__ import annotations

import atexit
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_URL = os.environ.get("SAKYUM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("SAKYUM_TEST_MYSQL_URL", "mysql+pymysql://root:@127.0.0.1:3306/test")
IN_CI = os.environ.get("CI", "").lower() == "true"
# The synchronous PostgreSQL driver the tests use: psycopg 3 by default; SQLAlchemy 1.4 has only psycopg2.
POSTGRES_DRIVER = POSTGRES_URL.split("://", 1)[0]


def _alembic_version() -> str:
    import alembic

    return str(alembic.__version__)


def _alembic_has_pyproject() -> bool:
    from sakyum_magic._core.compat import has_pyproject

    return has_pyproject()


# For tests of what only newer Alembic releases have; each skip names the version it needs.
requires_alembic_pyproject = pytest.mark.skipif(
    not _alembic_has_pyproject(),
    reason=f"pyproject.toml support ([tool.alembic], the pyproject templates) needs alembic>=1.16; "
    f"this is alembic {_alembic_version()}",
)


def _alembic_has_priorities() -> bool:
    from alembic import util

    return hasattr(util, "DispatchPriority")


requires_alembic_priorities = pytest.mark.skipif(
    not _alembic_has_priorities(),
    reason=f"autogenerate reads the kept reflection through comparator priorities, which need "
    f"alembic>=1.18; this is alembic {_alembic_version()} (it reflects afresh)",
)


def with_driver(url: str, drivername: str) -> str:
    """The same database through another driver, e.g. ``postgresql+asyncpg``."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername=drivername).render_as_string(hide_password=False)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory (where alembic/, alembic.ini and default.db go), with no $DATABASE_URL."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


@pytest.fixture
def sqlite_url(workdir: Path) -> str:
    """A SQLite file database of the test's own."""
    return f"sqlite:///{workdir / 'test.db'}"


def _unreachable(name: str, url: str, exc: BaseException) -> None:
    from sqlalchemy.engine import make_url

    where = make_url(url).render_as_string(hide_password=True)
    reason = f"{name} server not reachable at {where}: {str(exc).splitlines()[0]}"
    if IN_CI:
        pytest.fail(f"{reason} (CI=true requires it)")
    pytest.skip(reason)


def _server_database(name: str, base_url: str, create: str, drop: str) -> Iterator[str]:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError

    database = f"sakyum_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(create.format(database))
    except DBAPIError as exc:
        admin.dispose()
        _unreachable(name, base_url, exc)
    try:
        yield make_url(base_url).set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(drop.format(database))
        admin.dispose()


@pytest.fixture
def postgres_url(workdir: Path) -> Iterator[str]:
    """A PostgreSQL database of the test's own (dropped afterwards), used from a fresh working directory."""
    yield from _server_database(
        "PostgreSQL", POSTGRES_URL, 'CREATE DATABASE "{}"', 'DROP DATABASE IF EXISTS "{}" WITH (FORCE)'
    )


@pytest.fixture
def mysql_url(workdir: Path) -> Iterator[str]:
    """A MariaDB/MySQL database of the test's own (dropped afterwards), used from a fresh workdir."""
    yield from _server_database("MariaDB", MYSQL_URL, "CREATE DATABASE `{}`", "DROP DATABASE IF EXISTS `{}`")


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def any_url(request: pytest.FixtureRequest) -> str:
    """Each of the three databases in turn."""
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def shell(workdir: Path) -> Iterator[object]:
    """A real InteractiveShell with the extension loaded; magics raise instead of printing errors."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ip = InteractiveShell(config=config)
    ip.run_line_magic("load_ext", "sakyum_magic")
    yield ip
    ip.run_line_magic("unload_ext", "sakyum_magic")
    ip.cleanup()
    # Each InteractiveShell registers atexit_operations, which resets the shell (a full gc.collect()
    # each): hundreds of shells kept alive to the end made pytest run for minutes after its summary,
    # and their heap slowed every collection in between. The history is in memory: nothing to save.
    atexit.unregister(ip.atexit_operations)


@pytest.fixture(autouse=True)
def logging_as_it_was() -> Iterator[None]:
    """Tests that run a stock env.py through plain Alembic (its fileConfig() reconfigures logging) leave
    logging as they found it for the tests after them."""
    from sakyum_magic._run.environment import kept_logging

    with kept_logging():
        yield


def pytest_unconfigure(config: pytest.Config) -> None:
    """The suite ends when its summary is printed: Python's collection at exit would otherwise walk the
    whole heap the tests leave (shells, kernel clients, revision maps, SQLAlchemy metadata) for
    seconds to minutes, freeing what the process exit frees anyway. Nothing in it needs finalizing:
    temporary directories are pytest's, server databases are dropped by their fixtures, kernels are
    shut down by their tests."""
    import gc

    gc.freeze()
