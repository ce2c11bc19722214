"""A recognisable password goes through the whole workflow and must never come back out.

Everything a user could see is collected and scanned: stdout and stderr, display outputs (every MIME
type), return values (their text and HTML forms, and every cell of every DataFrame), error messages
(with their exception chains), every file left in the working directory (alembic.ini, env.py,
revision files, compiled caches, the SQLite database) and every log record at DEBUG level, plus the
output of the plain ``alembic`` CLI. The password contains ``%``, ``@``, ``:``, ``/`` and ``!``, so it
also proves such passwords reach the database intact.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
import sqlalchemy as sa
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from sqlalchemy.engine import URL, make_url

from sakyum_magic import Migrator, SakyumError
from sakyum_magic._core.binding import mask_text, mask_url

from .conftest import MYSQL_URL, POSTGRES_DRIVER, POSTGRES_URL
from .models import USERS, USERS_AND_POSTS

PASSWORD = "S3cr%t@pa:ss/wd!Qx7v"
# Any of these in any text means (part of) the password got out: raw, percent-encoded, or doubled
# for configparser. The first and last fragments are in every encoding of the whole password.
FRAGMENTS = ("S3cr", "Qx7v", "pa:ss", "pa%3Ass", "pa%3ass", "pa%253A", "t%40pa", "t@pa")


class Scan:
    """Everything the user could see, as (where, text) pairs, and the password fragments in them."""

    def __init__(self, fragments: tuple[str, ...] = FRAGMENTS) -> None:
        self.items: list[tuple[str, str]] = []
        self.fragments = fragments

    def text(self, where: str, text: object) -> None:
        self.items.append((where, str(text)))

    def value(self, where: str, value: Any, shell: Any) -> None:
        """A return value: every MIME form IPython would display, and the full text of its tables."""
        import pandas as pd

        bundle, _metadata = shell.display_formatter.format(value)
        for mime, data in bundle.items():
            self.text(f"{where} {mime}", str(data))
        self.text(f"{where} repr", repr(value))
        tables = getattr(value, "tables", {}) if not isinstance(value, pd.DataFrame) else {"": value}
        for name, table in tables.items():
            self.text(f"{where} table {name} csv", table.to_csv())
            self.text(f"{where} table {name} html", table.to_html())
            for cell in table.to_numpy().ravel():
                self.text(f"{where} table {name} cell", cell)

    def error(self, where: str, exc: BaseException) -> None:
        """An error's message, and those of the exceptions chained to it that a traceback would show."""
        seen: BaseException | None = exc
        while seen is not None:
            self.text(f"{where} {type(seen).__name__}", f"{seen!s} {seen!r}")
            seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)

    def files(self, root: Path) -> int:
        """Every file under ``root``, bytes decoded leniently (databases and .pyc files included)."""
        count = 0
        for path in sorted(root.rglob("*")):
            if path.is_file():
                self.text(f"file {path.relative_to(root)}", path.read_bytes().decode("utf-8", "replace"))
                self.text(f"file name {path.relative_to(root)}", str(path))
                count += 1
        return count

    def logs(self, caplog: pytest.LogCaptureFixture) -> None:
        for record in caplog.records:
            self.text(f"log {record.name}", record.getMessage())
        self.text("log text", caplog.text)

    def occurrences(self) -> int:
        return sum(text.count(fragment) for _, text in self.items for fragment in self.fragments)

    def leaks(self) -> list[str]:
        return [
            f"{where}: {scrub_for_report(text[:300], self.fragments)}"
            for where, text in self.items
            if any(f in text for f in self.fragments)
        ]


def run(shell: Any, scan: Scan, line: str, *, fails: bool = False) -> Any:
    """Run ``%migrate line``, collecting its result, display outputs, printed text and error."""
    first = line.split()[0]
    where = f"%migrate {first if first.isidentifier() else '<url>'}"
    result = None
    with capture_output() as captured:
        try:
            result = shell.run_line_magic("migrate", line)
        except UsageError as exc:
            scan.error(where, exc)
            assert fails, f"{where} failed: {exc}"
        else:
            assert not fails, f"{where} should have failed"
    scan.text(f"{where} stdout", captured.stdout)
    scan.text(f"{where} stderr", captured.stderr)
    for output in captured.outputs:
        for mime, data in output.data.items():
            scan.text(f"{where} display {mime}", str(data))
    if result is not None:
        scan.value(where, result, shell)
    return result


def alembic_cli(scan: Scan, cwd: Path, url: str, *args: str) -> str:
    """Run the plain ``alembic`` CLI with the URL in $DATABASE_URL; its output is scanned too."""
    env = {**os.environ, "DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    scan.text(f"alembic {args[0]} stdout", done.stdout)
    scan.text(f"alembic {args[0]} stderr", done.stderr)
    assert done.returncode == 0, scrub_for_report(done.stderr, scan.fragments)
    return done.stdout + done.stderr


def scrub_for_report(text: str, fragments: tuple[str, ...] = FRAGMENTS) -> str:
    for fragment in fragments:
        text = text.replace(fragment, "<leak>")
    return text


def closed_port() -> int:
    """A local TCP port nothing listens on (connections to it are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def secret_url(drivername: str, database: str, port: int, username: str = "sakyum") -> str:
    """A URL carrying PASSWORD, percent-encoded the way SQLAlchemy renders it."""
    url = URL.create(drivername, username, PASSWORD, "127.0.0.1", port, database)
    return url.render_as_string(hide_password=False)


def magics_of(shell: Any) -> Any:
    return shell.magics_manager.registry["MigrateMagics"]


@pytest.fixture
def secret_postgres_url(postgres_url: str) -> Iterator[str]:
    """The test's own PostgreSQL database, owned by a new role whose password is PASSWORD."""
    role = f"sakyum_role_{uuid.uuid4().hex[:10]}"
    base = make_url(postgres_url)
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    quoted = PASSWORD.replace("'", "''")
    with admin.connect() as connection:
        # no_parameters: a driver with client-side %-formatting (psycopg2) must leave the % in it alone.
        literal = connection.execution_options(no_parameters=True)
        literal.exec_driver_sql(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{quoted}'")
        connection.exec_driver_sql(f'ALTER DATABASE "{base.database}" OWNER TO "{role}"')
    try:
        yield URL.create(
            base.drivername, role, PASSWORD, base.host, base.port, base.database
        ).render_as_string(hide_password=False)
    finally:
        drop_role(admin, base, role)


def drop_role(admin: Any, base: Any, role: str) -> None:
    """Give the test database back to its owner and drop ``role`` (``admin`` is then disposed)."""
    owner = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with owner.connect() as connection:
        connection.exec_driver_sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
        )
        connection.exec_driver_sql(f'REASSIGN OWNED BY "{role}" TO CURRENT_USER')
        connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
    owner.dispose()
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
    admin.dispose()


def bad_url_lines(port: int) -> list[str]:
    """Lines whose errors quote, or could quote, a URL carrying the password."""
    raw = f"{POSTGRES_DRIVER}://sakyum:{PASSWORD}@127.0.0.1:{port}/db"  # not percent-encoded
    return [
        f"config --url '{raw}'",
        f"config --uri '{secret_url(POSTGRES_DRIVER, 'db', port)}'",
        f"'{secret_url(POSTGRES_DRIVER, 'db', port)}'",
        f"config --url '{secret_url(POSTGRES_DRIVER, 'db', port)}' --metadata 'no_such_name'",
        f"config --url '{POSTGRES_DRIVER}://sakyum:{PASSWORD.replace('@', '%40')}@127.0.0.1:x/db'",
        f"config --url '{secret_url('nosuchdialect', 'db', port)}'",  # an unknown dialect, named when set
    ]


def unreachable_url_lines(port: int) -> list[str]:
    """URLs that parse but cannot be used: a closed port, a missing driver."""
    return [
        secret_url(POSTGRES_DRIVER, "db", port),
        secret_url("mysql+pymysql", "db", port),
        secret_url("postgresql+psycopg2", "db", port),
    ]


@pytest.mark.postgres
def test_postgres_workflow_never_shows_the_password(
    shell: Any, workdir: Path, secret_postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    capture_all_logs(caplog)
    scan = Scan()
    url = secret_postgres_url
    shell.run_cell(USERS)
    run(shell, scan, f"config --url '{url}' --metadata Base")
    migrator = magics_of(shell).migrator
    with migrator.engine().connect() as connection:  # trust auth: prove libpq got the exact password
        assert connection.connection.dbapi_connection.info.password == PASSWORD
    assert make_url(migrator.config().get_main_option("sqlalchemy.url")).password == PASSWORD

    for line in ("config", "init", "revision --autogenerate -m 'create users'", "upgrade head"):
        run(shell, scan, line)
    for line in ("current --verbose", "history --verbose -i", "heads -v", "branches", "show head", "check"):
        run(shell, scan, line)
    shell.run_cell(USERS_AND_POSTS)
    run(shell, scan, "check", fails=True)  # displays the pending operations, then fails
    run(shell, scan, "revision --autogenerate -m posts")
    run(shell, scan, "upgrade head --sql")
    run(shell, scan, "upgrade +1")
    run(shell, scan, "downgrade -1")
    run(shell, scan, "downgrade base")
    run(shell, scan, "stamp head")
    run(shell, scan, "stamp base --purge")
    run(shell, scan, "upgrade head")
    run(shell, scan, "upgrade nosuchrevision", fails=True)
    _failing_revision(shell, scan)
    port = closed_port()
    for line in bad_url_lines(port):
        run(shell, scan, line, fails=True)
    run(shell, scan, f"config --url '{make_url(url).set(database='nope').render_as_string(False)}'")
    run(shell, scan, "current", fails=True)
    run(shell, scan, f"config --url '{url}'")

    output = alembic_cli(scan, workdir, url, "current", "--verbose")
    assert "(head)" in output
    alembic_cli(scan, workdir, url, "history", "--verbose")
    alembic_cli(scan, workdir, url, "downgrade", "base")
    alembic_cli(scan, workdir, url, "upgrade", "head")

    assert "sqlalchemy.url" in (workdir / "alembic.ini").read_text()
    _scan_everything(scan, workdir, caplog)


def _failing_revision(shell: Any, scan: Scan) -> None:
    """A revision whose SQL fails: the error names the statement and the database's reason."""
    made = run(shell, scan, "revision -m broken")
    path = Path(made.written[0].path)
    text = path.read_text().replace(
        "def upgrade() -> None:\n", "def upgrade() -> None:\n    op.execute('SELECT * FROM no_such_table')\n"
    )
    path.write_text(text)
    run(shell, scan, "upgrade head", fails=True)
    path.unlink()


def capture_all_logs(caplog: pytest.LogCaptureFixture) -> None:
    """DEBUG for everything; SQLAlchemy's and Alembic's loggers have levels of their own to override."""
    for name in (None, "sqlalchemy", "alembic", "sakyum_magic"):
        caplog.set_level(logging.DEBUG, logger=name)


def _scan_everything(
    scan: Scan, workdir: Path, caplog: pytest.LogCaptureFixture, min_logs: int = 100, min_files: int = 5
) -> None:
    files = scan.files(workdir)
    scan.logs(caplog)
    assert files >= min_files
    assert len(caplog.records) >= min_logs
    assert scan.occurrences() == 0, f"password found in: {scan.leaks()}"


@pytest.mark.postgres
def test_stock_alembic_env_gets_the_password_through_the_config(
    shell: Any, workdir: Path, secret_postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A directory from ``alembic init``, whose env.py reads sqlalchemy.url, still gets the password."""
    from alembic import command
    from alembic.config import Config

    capture_all_logs(caplog)
    command.init(Config("alembic.ini"), "migrations")
    scan = Scan()
    run(shell, scan, f"config --url '{secret_postgres_url}' --dir migrations")
    config = magics_of(shell).migrator.config()
    section = config.get_section(config.config_ini_section, {})
    assert make_url(section["sqlalchemy.url"]).password == PASSWORD  # %-interpolation survived
    run(shell, scan, "revision -m one")
    run(shell, scan, "upgrade head")
    assert run(shell, scan, "current")["is_head"].tolist() == [True]
    run(shell, scan, "downgrade base")
    assert "driver://user:pass@localhost/dbname" in (workdir / "alembic.ini").read_text()
    # The magic puts logging back after the stock env.py's fileConfig(), so capturing goes on
    # (a shorter workflow than the others, so fewer records).
    _scan_everything(scan, workdir, caplog, min_logs=50)


def test_sqlite_workflow_with_password_urls_in_config_and_errors(
    shell: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    capture_all_logs(caplog)
    scan = Scan()
    port = closed_port()
    monkeypatch.setenv("DATABASE_URL", secret_url(POSTGRES_DRIVER, "app", port))
    shell.run_cell(USERS)
    binding = run(shell, scan, "config")
    assert binding["url"].iloc[0] == f"{POSTGRES_DRIVER}://sakyum:***@127.0.0.1:{port}/app"
    run(shell, scan, "init")
    ini = (workdir / "alembic.ini").read_text()
    assert f"sqlalchemy.url = {POSTGRES_DRIVER}://sakyum@127.0.0.1:{port}/app" in ini
    run(shell, scan, "current", fails=True)
    run(shell, scan, "revision --autogenerate -m nope --metadata Base", fails=True)
    run(shell, scan, "revision -m offline")
    run(shell, scan, "upgrade head --sql")
    alembic_cli(scan, workdir, secret_url(POSTGRES_DRIVER, "app", port), "upgrade", "head", "--sql")
    for url in unreachable_url_lines(port):
        run(shell, scan, f"config --url '{url}'")
        for line in ("current", "upgrade head", "downgrade base", "check", "history -i"):
            run(shell, scan, line, fails=True)
    for line in bad_url_lines(port):
        run(shell, scan, line, fails=True)

    run(shell, scan, f"config --url 'sqlite:///{workdir / 'app.db'}' --metadata Base")
    for line in ("upgrade head", "revision --autogenerate -m users", "upgrade head", "current -v"):
        run(shell, scan, line)
    for line in ("history --verbose -i", "downgrade -1", "downgrade base", "upgrade head", "check"):
        run(shell, scan, line)
    run(shell, scan, "upgrade nosuchrevision", fails=True)
    _scan_everything(scan, workdir, caplog)


# -- every URL form: a password in the query string, unencoded characters, unparsable URLs ------------

# Each password is made of these pieces, joined by spaces and URL delimiters, so that any part of it
# that gets out (raw or percent-encoded, whole or cut at a delimiter) contains one of them.
PIECES = ("Qy7v", "Bn4k", "Tz8p", "Hd2m", "Lw5r", "Xc9s")
QUERY_PASSWORD = "Qy7v Bn4k%Tz8p@Hd2m:Lw5r/Xc9s&Jf6g"  # given percent-encoded: ?password=Qy7v+Bn4k%25...
RAW_QUERY_PASSWORD = "Qy7v Bn4k:Tz8p/Hd2m Lw5r"  # given as typed, spaces and all: ?password=Qy7v Bn4k...
SPACED_PASSWORD = "Qy7v Bn4k Tz8p:Hd2m/Lw5r"  # given as typed in user:password@, spaces and all
OTHER_QUERY = {POSTGRES_DRIVER: "application_name=scan", "mysql+pymysql": "charset=utf8mb4"}


def url_form(form: str, driver: str, user: str, where: str) -> tuple[str, str]:
    """A URL of ``form`` for ``user`` at ``where`` (host:port/database), and the password it carries."""
    other = OTHER_QUERY[driver]
    if form == "query":
        return f"{driver}://{user}@{where}?password={quote_plus(QUERY_PASSWORD)}&{other}", QUERY_PASSWORD
    if form == "raw query":
        return f"{driver}://{user}@{where}?{other}&password={RAW_QUERY_PASSWORD}", RAW_QUERY_PASSWORD
    return f"{driver}://{user}:{SPACED_PASSWORD}@{where}", SPACED_PASSWORD


@pytest.fixture
def postgres_role(postgres_url: str) -> Iterator[tuple[str, str]]:
    """A role owning the test's own PostgreSQL database: (role, host:port/database)."""
    role = f"sakyum_role_{uuid.uuid4().hex[:10]}"
    base = make_url(postgres_url)
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        connection.exec_driver_sql(f'ALTER DATABASE "{base.database}" OWNER TO "{role}"')
    try:
        yield role, f"{base.host}:{base.port}/{base.database}"
    finally:
        drop_role(admin, base, role)


def mysql_user(mysql_url: str, password: str) -> tuple[str, Any]:
    """A MariaDB user that logs in with ``password`` only, with every right on the test's database;
    returns its name and a function that drops it."""
    user = f"sakyum_{uuid.uuid4().hex[:10]}"
    database = make_url(mysql_url).database
    # hide_parameters: the test's own statements are logged too, and must not show the password.
    admin = sa.create_engine(MYSQL_URL, isolation_level="AUTOCOMMIT", hide_parameters=True)
    with admin.connect() as connection:
        # PyMySQL quotes the parameters into the statement, so they work in DDL too.
        connection.execute(sa.text("CREATE USER :user@'%' IDENTIFIED BY :password"), locals())
        connection.execute(sa.text(f"GRANT ALL ON `{database}`.* TO :user@'%'"), {"user": user})

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(sa.text("DROP USER IF EXISTS :user@'%'"), {"user": user})
        admin.dispose()

    return user, drop


def the_driver_got(shell: Any, database: str, password: str) -> None:
    """The password reached the driver intact (MariaDB checks it; PostgreSQL trusts, so ask libpq)."""
    with magics_of(shell).migrator.engine().connect() as connection:
        if database == "postgres":
            assert connection.connection.dbapi_connection.info.password == password
        else:
            assert connection.exec_driver_sql("SELECT CURRENT_USER()").scalar()


def form_workflow(shell: Any, scan: Scan, url: str, database: str) -> None:
    """config, init, revision, plan, upgrade, current, history, downgrade, offline SQL, and errors."""
    no_plan = database == "mysql"  # refused there: MySQL commits DDL, so a dry run cannot roll back
    for line in ("config", "init", "revision --autogenerate -m users"):
        run(shell, scan, line)
    run(shell, scan, "plan", fails=no_plan)
    run(shell, scan, "upgrade head")
    for line in ("current --verbose", "history --verbose -i"):
        run(shell, scan, line)
    run(shell, scan, "plan base", fails=no_plan)
    run(shell, scan, "downgrade base")
    run(shell, scan, "upgrade head --sql")
    run(shell, scan, "upgrade head")
    run(shell, scan, "upgrade nosuchrevision", fails=True)
    _failing_revision(shell, scan)
    elsewhere = make_url(url).set(database="nope_no_such_db").render_as_string(hide_password=False)
    run(shell, scan, f"config --url '{elsewhere}'")
    run(shell, scan, "current", fails=True)
    run(shell, scan, "upgrade head", fails=True)
    run(shell, scan, f"config --url '{url}'")


def core_workflow(scan: Scan, shell: Any, url: str) -> None:
    """The same through the core API: its results' text, and its errors."""
    migrator = Migrator(url=url, metadata=shell.user_ns["Base"])
    for name, call in (
        ("binding", migrator.binding),
        ("current", migrator.current),
        ("history", migrator.history),
        ("plan", lambda: migrator.plan("base")),
        ("upgrade", migrator.upgrade),
    ):
        try:
            scan.text(f"core {name}", repr(call()))
        except SakyumError as exc:  # plan, on MySQL
            scan.error(f"core {name}", exc)
    elsewhere = Migrator(url=make_url(url).set(database="nope_no_such_db"))
    with pytest.raises(SakyumError) as caught:
        elsewhere.current()
    scan.error("core current elsewhere", caught.value)
    scan.text("core mask_url", mask_url(url))
    migrator.dispose()
    elsewhere.dispose()


@pytest.mark.parametrize("form", ["query", "raw query", "spaces"])
@pytest.mark.parametrize("database", ["postgres", "mysql"])
def test_every_url_form_never_shows_the_password(
    request: pytest.FixtureRequest,
    shell: Any,
    workdir: Path,
    caplog: pytest.LogCaptureFixture,
    database: str,
    form: str,
) -> None:
    capture_all_logs(caplog)
    scan = Scan(PIECES)
    if database == "postgres":
        user, where = request.getfixturevalue("postgres_role")
        url, password = url_form(form, POSTGRES_DRIVER, user, where)
    else:
        base = make_url(request.getfixturevalue("mysql_url"))
        where = f"{base.host}:{base.port}/{base.database}"
        password = url_form(form, "mysql+pymysql", "x", where)[1]
        user, drop = mysql_user(str(base.render_as_string(hide_password=False)), password)
        request.addfinalizer(drop)
        url = url_form(form, "mysql+pymysql", user, where)[0]
    shell.run_cell(USERS)
    run(shell, scan, f"config --url '{url}' --metadata Base")
    the_driver_got(shell, database, password)
    config_magics(shell, scan)
    form_workflow(shell, scan, url, database)
    core_workflow(scan, shell, url)
    alembic_cli(scan, workdir, url, "current", "--verbose")
    alembic_cli(scan, workdir, url, "downgrade", "base")
    alembic_cli(scan, workdir, url, "upgrade", "head")
    ini_url = next(
        line for line in (workdir / "alembic.ini").read_text().splitlines() if "sqlalchemy.url" in line
    )
    assert f"{user}@{where}" in ini_url and "password" not in ini_url
    _scan_everything(scan, workdir, caplog, min_logs=50)


def config_magics(shell: Any, scan: Scan) -> str:
    """What ``%config MigrateMagics`` prints: every setting of the magic, the URL among them."""
    with capture_output() as captured:
        shell.run_line_magic("config", "MigrateMagics")
    scan.text("%config MigrateMagics", captured.stdout)
    return captured.stdout


def test_config_magics_never_shows_another_secret_query_key(shell: Any, workdir: Path) -> None:
    scan = Scan(PIECES)
    url = f"{POSTGRES_DRIVER}://sakyum@127.0.0.1:{closed_port()}/app?sslpassword={quote_plus(QUERY_PASSWORD)}"
    run(shell, scan, f"config --url '{url}'")
    shown = config_magics(shell, scan)
    assert "sslpassword=***" in shown
    assert scan.occurrences() == 0, f"password found in: {scan.leaks()}"


SECRET_QUERIES = (
    f"password={quote_plus(QUERY_PASSWORD)}",
    f"password={RAW_QUERY_PASSWORD}",
    f"passwd={quote_plus(QUERY_PASSWORD)}",
    f"sslpassword={quote_plus(QUERY_PASSWORD)}",
    f"api_token={quote_plus(QUERY_PASSWORD)}",
    f"client_secret={quote_plus(QUERY_PASSWORD)}",
    f"sslmode=disable&PWD={quote_plus(QUERY_PASSWORD)}",
)


def test_secret_query_keys_and_unparsable_urls_never_show_the_password(
    shell: Any, workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """URLs that parse but cannot connect (closed port, unknown option, missing driver), each with a
    secret in its query string, and URLs that cannot be parsed at all."""
    capture_all_logs(caplog)
    scan = Scan(PIECES)
    port = closed_port()
    urls = [f"{POSTGRES_DRIVER}://sakyum@127.0.0.1:{port}/db?{query}" for query in SECRET_QUERIES]
    urls += [
        f"mysql+pymysql://sakyum@127.0.0.1:{port}/db?password={quote_plus(QUERY_PASSWORD)}",
        f"{POSTGRES_DRIVER}://sakyum:{SPACED_PASSWORD}@127.0.0.1:{port}/db",
        "mssql+pyodbc:///?odbc_connect=" + quote_plus(f"DRIVER={{X}};SERVER=h;PWD={QUERY_PASSWORD};"),
    ]
    run(shell, scan, "init")
    for k, url in enumerate(urls[:-1]):  # an alembic.ini for each (pyodbc, the last, is not installed)
        Migrator(url=url, directory=workdir / f"m{k}", ini=workdir / f"m{k}.ini").init()
    for url in urls:
        table = run(shell, scan, f"config --url '{url}'")
        assert "***" in table["url"].iloc[0]
        for line in ("current", "upgrade head", "plan", "downgrade base"):
            run(shell, scan, line, fails=True)
    unparsable = [
        f"postgresql+psycopg://role:{SPACED_PASSWORD.replace(':', '@')}@127.0.0.1/db",  # the form
        f"postgresql+psycopg://role:{SPACED_PASSWORD}@127.0.0.1:notaport/db",
        f"postgresql+psycopg://role@127.0.0.1:5432/db?password={RAW_QUERY_PASSWORD}@Xc9s",
        f"mysql+pymysql://role@127.0.0.1:x/db?password={RAW_QUERY_PASSWORD}",
        f"role:{SPACED_PASSWORD}@127.0.0.1/db",
    ]
    for url in unparsable:
        run(shell, scan, f"config --url '{url}'", fails=True)
        with pytest.raises(SakyumError) as caught:
            Migrator(url=url).current()
        scan.error("core", caught.value)
    run(shell, scan, f"'{urls[0]}'", fails=True)  # a URL where a sub-command belongs: the parser's error
    _scan_everything(scan, workdir, caplog, min_logs=1, min_files=4)  # the directory init wrote


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"postgresql://u@h/db?password={RAW_QUERY_PASSWORD}", "postgresql://u@h/db?password=***"),
        (f"could not use postgresql://u:{SPACED_PASSWORD}@h/db here", "postgresql://u:***@h/db here"),
        (f"dsn host=h password={PIECES[0]} user=u", "dsn host=h password=*** user=u"),
        (f"dsn password='{RAW_QUERY_PASSWORD}' user=u", "dsn password=*** user=u"),
        (f"x;PWD={PIECES[0]};y=1", "x;PWD=***;y=1"),
        (f"see https://example.com/a and postgresql://u:{PIECES[1]}@h/db", "see https://example.com/a and"),
    ],
)
def test_mask_text_hides_every_form_and_keeps_the_rest(text: str, kept: str) -> None:
    masked = mask_text(text)
    assert kept in masked
    assert not any(piece in masked for piece in PIECES)


def test_mask_text_is_linear_in_the_length_of_its_text() -> None:
    """Error messages can quote a 200,000-character line; masking must not be quadratic."""
    import time

    texts = ["a" * 200_000, "a://" * 50_000, "?a=b&" * 40_000, " password=x" * 18_000, "u:p@" * 50_000]
    started = time.perf_counter()
    for text in texts:
        mask_text(text)
    assert time.perf_counter() - started < 5
