"""Fuzzed credentials through every way a URL can be set, and through ``-m`` text.

Random passwords (any printable character, ``%``, ``@``, ``:``, ``/`` and spaces among them) in the
URL forms of five drivers (sqlite, psycopg, psycopg2, pymysql, asyncpg) are set with
``%config MigrateMagics.url = ...`` and ``%config MigrateMagics.*`` assignments, and typed into the
``-m`` message of ``revision`` and ``merge``; then everything a user could see is scanned: what
``%config`` prints, ``Out``, every display output and error, the files written (revision files, their
bytecode), the step tables, the offline ``.sql`` and the history. The password never comes back.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.utils.capture import capture_output

from .test_secrets import Scan, closed_port, magics_of, run

HEAD, TAIL = "Kq7Zv", "Wj4Xn"  # every password starts and ends with these, so any leak of it shows one
DRIVERS = ("sqlite", "postgresql+psycopg", "postgresql+psycopg2", "mysql+pymysql", "postgresql+asyncpg")
PORT = closed_port()
LATER = ("upgrade head", "history --verbose -i", "show head", "downgrade base", "upgrade head --sql")

middles = st.text(alphabet=st.sampled_from("abcXYZ0189 %@:/!?&=#;'+~-_.*()[]$^|,<>"), min_size=0, max_size=16)


def password_of(middle: str) -> str:
    return f"{HEAD}{middle}{TAIL}"


def url_form(driver: str, password: str, form: str) -> str:
    """A URL of ``driver`` carrying ``password``: in its credentials (percent-encoded, as SQLAlchemy
    renders it) or in its query string."""
    if driver == "sqlite":  # SQLCipher's form: the passphrase is the URL's password
        head = "sqlite+pysqlcipher"
        return (
            f"{head}://:{quote_plus(password)}@/secret.db"
            if form == "credentials"
            else (f"sqlite:///secret.db?password={quote_plus(password)}")
        )
    where = f"127.0.0.1:{PORT}/app"
    if form == "credentials":
        return f"{driver}://sakyum:{quote_plus(password)}@{where}"
    other = "charset=utf8mb4" if driver.startswith("mysql") else "application_name=fuzz"
    return f"{driver}://sakyum@{where}?{other}&password={quote_plus(password)}"


def fragments(password: str) -> tuple[str, ...]:
    """What a leak of ``password`` contains: its ends (as typed, or lowered in a file name), and its
    whole (raw and percent-encoded)."""
    return (HEAD, TAIL, HEAD.lower(), TAIL.lower(), password, quote_plus(password))


def config_line(shell: Any, scan: Scan, line: str) -> None:
    """Run ``%config line``; its printed text, its value (what ``Out`` would hold) and any error."""
    with capture_output() as captured:
        value = shell.run_line_magic("config", line)
    scan.text(f"%config {line.split('=')[0]} stdout", captured.stdout)
    scan.text(f"%config {line.split('=')[0]} value", repr(value))


@pytest.fixture
def project(shell: Any, workdir: Path) -> Path:
    """An initialized directory on a SQLite database, with one revision."""
    shell.run_line_magic("migrate", f"config --url sqlite:///{workdir / 'app.db'}")
    shell.run_line_magic("migrate", "init")
    shell.run_line_magic("migrate", "revision -m first --rev-id r1")
    return workdir


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    middle=middles,
    driver=st.sampled_from(DRIVERS),
    form=st.sampled_from(("credentials", "query")),
    setting=st.sampled_from(("url", "url-twice", "config-magic")),
)
def test_a_url_set_with_config_never_shows_its_password(
    shell: Any, project: Path, middle: str, driver: str, form: str, setting: str
) -> None:
    password = password_of(middle)
    scan = Scan(fragments(password))
    url = url_form(driver, password, form)
    config_line(shell, scan, f"MigrateMagics.url = {url!r}")
    if setting == "url-twice":  # the masked form set again keeps the secret behind it
        config_line(shell, scan, f"MigrateMagics.url = {magics_of(shell).url!r}")
    if setting == "config-magic":
        config_line(shell, scan, "MigrateMagics.progress = False")
        config_line(shell, scan, "MigrateMagics.audit = True")
    config_line(shell, scan, "MigrateMagics")
    config_line(shell, scan, "MigrateMagics.url")
    scan.text("traitlet", repr(magics_of(shell).url))
    scan.text("Out", repr(shell.user_ns.get("Out")))
    run(shell, scan, "config")
    # The driver gets the password: the session's migrator holds it (never shown).
    migrator_url = magics_of(shell).migrator.url
    assert password in migrator_url or quote_plus(password) in migrator_url
    for line in ("current", "upgrade head"):
        attempt(shell, scan, line)  # nothing listens, or no such driver: each error is scanned
    assert scan.occurrences() == 0, f"password found in: {scan.leaks()}"
    shell.run_line_magic("migrate", f"config --url sqlite:///{project / 'app.db'}")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(middle=middles, driver=st.sampled_from(DRIVERS), form=st.sampled_from(("credentials", "query")))
def test_a_message_with_a_url_never_writes_or_shows_its_password(
    shell: Any, project: Path, middle: str, driver: str, form: str
) -> None:
    password = password_of(middle)
    scan = Scan(fragments(password))
    versions = project / "alembic" / "versions"
    before = set(versions.iterdir())
    message = f"move to {url_form(driver, password, form)} now"
    try:
        run(shell, scan, f"revision -m {shell_quote(message)}")
        run(shell, scan, f"revision -m {shell_quote(message)} --head r1 --splice --rev-id r3")
        run(shell, scan, f"merge heads --message={shell_quote(message)} --rev-id r4")
        for line in LATER:
            run(shell, scan, line)
        scan.files(project)
        assert scan.occurrences() == 0, f"password found in: {scan.leaks()}"
    finally:
        shell.run_line_magic("migrate", "stamp base --purge")
        for path in set(versions.iterdir()) - before:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        shutil.rmtree(versions / "__pycache__", ignore_errors=True)


def attempt(shell: Any, scan: Scan, line: str) -> None:
    """Run ``%migrate line``, which may work or fail; its output and any error are scanned."""
    try:
        run(shell, scan, line)
    except AssertionError:  # it failed: run() scanned the error before saying so
        return


def shell_quote(text: str) -> str:
    """``text`` as one word of a %migrate line."""
    import shlex

    return shlex.quote(text)
