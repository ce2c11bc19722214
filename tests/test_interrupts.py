"""Interrupting a run in a real kernel stops it at a revision boundary, on sync and async drivers.

After the interrupt nothing keeps running, the lock is released, the error names how far the run
got, and the next command in the same kernel works at once. On MariaDB, whose DDL commits at once,
a revision interrupted after its DDL is reported partly applied, by the interrupt and by the next
command, with the way out; an interrupt that lands while the server runs a statement leaves no
server thread running it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from jupyter_client.manager import start_new_kernel

from sakyum_magic import Migrator
from sakyum_magic._core.compat import engine_options
from sakyum_magic._guards.locking import database_lock
from tests.conftest import with_driver
from tests.revisions import body, counts, one_value, sync_url, table_with_rows, version, write
from tests.test_kills import Gate, gated_chain, logged, rows_of
from tests.test_locking import wait_for

REVISIONS = 40
PSYCOPG2_RUNS_ON = (
    "psycopg2 (the driver SQLAlchemy 1.4 reaches PostgreSQL through) lets an interrupt take effect only "
    "once the statement it waits on ends; psycopg 3 cancels the statement"
)


def slow_chain(directory: Path) -> None:
    """r1..r40: each creates a table, then sleeps 0.15 s, so an interrupt lands mid-chain."""
    for k in range(1, REVISIONS + 1):
        upgrade = f"op.create_table('t{k}', sa.Column('id', sa.Integer))\nimport time\ntime.sleep(0.15)"
        write(directory, f"r{k}", f"r{k - 1}" if k > 1 else None, upgrade, f"op.drop_table('t{k}')")


def execute(client: Any, code: str, timeout: float = 60) -> tuple[str, list[str]]:
    """Run ``code``; its status and the text of its outputs (errors as 'ename: evalue')."""
    msg_id = client.execute(code)
    texts = []
    while True:
        message = client.get_iopub_msg(timeout=timeout)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            texts.append(content["text"])
        elif kind in {"execute_result", "display_data"}:
            texts.append(content["data"].get("text/plain", ""))
        elif kind == "error":
            texts.append(f"{content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            break
    reply = _reply(client, msg_id, timeout)
    if reply["content"]["status"] == "error":
        texts.append(f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}")
    return reply["content"]["status"], texts


@pytest.fixture(params=["sqlite", "aiosqlite", "postgres", "asyncpg"])
def url(request: pytest.FixtureRequest, workdir: Path) -> str:
    if request.param in {"sqlite", "aiosqlite"}:
        scheme = "sqlite+aiosqlite" if request.param == "aiosqlite" else "sqlite"
        return f"{scheme}:///{workdir / 'test.db'}"
    found = str(request.getfixturevalue("postgres_url"))
    return with_driver(found, "postgresql+asyncpg") if request.param == "asyncpg" else found


@pytest.mark.notebook
@pytest.mark.slow
def test_an_interrupt_stops_at_a_revision_boundary(workdir: Path, url: str) -> None:
    migrator = Migrator(url=url, directory=workdir / "alembic", ini=workdir / "alembic.ini")
    migrator.init()
    slow_chain(migrator.directory)
    manager, client = start_new_kernel(cwd=str(workdir))
    try:
        execute(client, f"%load_ext sakyum_magic\n%migrate config --url {url}")
        msg_id = client.execute("%migrate upgrade head")
        wait_for(lambda: version(url) not in {(), ("r1",), ("r2",)}, "r3 to be applied", 60)
        manager.interrupt_kernel()
        _status, texts = _finish(client, msg_id)  # IPython reports a UsageError on stderr
        error = next((text for text in texts if "UsageError" in text), texts[-3:])
        assert "upgrade interrupted: " in error and f"of {REVISIONS} revision(s) applied" in error
        assert "Traceback" not in "".join(texts)
        reached = version(url)
        applied = int(error.split("interrupted: ")[1].split(" ")[0])
        assert 0 < applied < REVISIONS
        assert reached == (f"r{applied}",)
        assert_lock_free(url)  # so nothing runs on in the background
        status, texts = execute(client, "%migrate current", timeout=20)
        assert status == "ok" and f"r{applied}" in texts[0], texts
        assert version(url) == reached
        status, texts = execute(client, "%migrate upgrade head", timeout=60)
        assert status == "ok" and version(url) == (f"r{REVISIONS}",)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def assert_lock_free(url: str) -> None:
    """No migration holds the database's lock: taking it without waiting succeeds."""
    engine = sa.create_engine(sync_url(url), **engine_options())
    try:
        with database_lock(engine, timeout=0, on_wait=lambda _message: None):
            pass
    finally:
        engine.dispose()


def _finish(client: Any, msg_id: str) -> tuple[str, list[str]]:
    texts = []
    while True:
        message = client.get_iopub_msg(timeout=60)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "error":
            texts.append(f"{content['ename']}: {content['evalue']}")
        elif kind == "stream":
            texts.append(content["text"])
        elif kind == "status" and content["execution_state"] == "idle":
            break
    return _reply(client, msg_id, 60)["content"]["status"], texts


def _reply(client: Any, msg_id: str, timeout: float) -> Any:
    while True:
        reply = client.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


# -- MariaDB: DDL commits at once -------------------------------------------------------------------

CHAIN = 12
STOPPED_IN = 6
# Where r6 waits for the test: (in a statement the server runs, or in Python), (before its DDL, after).
LANDINGS = {
    "statement-before-ddl": ("statement", False),
    "statement-after-ddl": ("statement", True),
    "python-after-ddl": ("python", True),
}


def gate_name(url: str) -> str:
    """A GET_LOCK name of the test's own (those names are server-wide; the database's name is not)."""
    return f"gate_{sa.engine.make_url(url).database}"


def at_gate(url: str) -> bool:
    """Whether a session of the test's database waits in GET_LOCK for the test's gate."""
    query = (
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() "
        "AND STATE = 'User lock' AND INFO LIKE :fragment"
    )
    return bool(one_value(url, query, fragment=f"%{gate_name(url)}%"))


def mariadb_chain(directory: Path, workdir: Path, gate: str, after_ddl: bool, url: str) -> None:
    """r1..r12: each creates t<k> with 10*k rows and takes a moment; r6 also waits at a gate."""
    if gate == "statement":
        wait = f"op.execute(\"SELECT GET_LOCK('{gate_name(url)}', 120)\")"
    else:
        wait = f"""
        import pathlib
        here = pathlib.Path({str(workdir)!r})
        (here / "inside").touch()
        for _ in range(12000):
            if (here / "gate").exists():
                break
            time.sleep(0.01)
        """
    for k in range(1, CHAIN + 1):
        parts = [table_with_rows(k), "import time\ntime.sleep(0.05)"]
        if k == STOPPED_IN:
            parts = [*parts, wait] if after_ddl else [wait, *parts]
        write(directory, f"r{k}", f"r{k - 1}" if k > 1 else None, body(*parts), f"op.drop_table('t{k}')")


@pytest.mark.mysql
@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("landing", list(LANDINGS))
def test_an_interrupt_on_mariadb(workdir: Path, mysql_url: str, landing: str) -> None:
    gate, after_ddl = LANDINGS[landing]
    migrator = Migrator(url=mysql_url)
    migrator.init()
    migrator.dispose()
    mariadb_chain(migrator.directory, workdir, gate, after_ddl, mysql_url)
    holder = sa.create_engine(mysql_url, poolclass=sa.pool.NullPool, **engine_options()).connect()
    assert holder.execute(sa.text(f"SELECT GET_LOCK('{gate_name(mysql_url)}', 0)")).scalar_one() == 1
    waiting = (lambda: at_gate(mysql_url)) if gate == "statement" else (workdir / "inside").exists
    manager, client = start_new_kernel(cwd=str(workdir))
    try:
        execute(client, f"%load_ext sakyum_magic\n%migrate config --url {mysql_url}")
        msg_id = client.execute("%migrate upgrade head")
        wait_for(waiting, "r6 to reach the gate", 60)
        manager.interrupt_kernel()
        status, texts = _finish(client, msg_id)
        error = next(text for text in texts if "UsageError" in text)
        assert status == "error" and "Traceback" not in "".join(texts)
        assert f"upgrade interrupted: 5 of {CHAIN} revision(s) applied, database at r5" in error
        assert not at_gate(mysql_url)  # no server thread runs r6's statement on
        assert_lock_free(mysql_url)
        assert version(mysql_url) == ("r5",)
        assert counts(mysql_url) == rows_of(1, 5) | ({"t6": 0} if after_ddl else {})
        status, texts = execute(client, "%migrate current", timeout=30)
        assert status == "ok" and texts[0].splitlines()[1].startswith("r5"), texts
        if after_ddl:
            assert "revision r6 is partly applied (created table t6): undo that by hand and run " in error
            assert "%migrate stamp r5" in error
            status, texts = execute(client, "%migrate upgrade head", timeout=30)
            refused = next(text for text in texts if "UsageError" in text)
            assert status == "error" and "revision r6 did not finish (upgrade begun" in refused
            assert "left: created table t6" in refused and "%migrate stamp r6" in refused
            assert "Fix the revision file" not in refused
            assert version(mysql_url) == ("r5",)
            holder.execute(sa.text("DROP TABLE t6"))  # the way out: undo by hand, then stamp
            assert execute(client, "%migrate stamp r5", timeout=30)[0] == "ok"
        else:
            assert "(the revision in progress was rolled back, or not begun)" in error
        holder.execute(sa.text(f"SELECT RELEASE_LOCK('{gate_name(mysql_url)}')"))
        (workdir / "gate").touch()
        status, texts = execute(client, "%migrate upgrade head", timeout=60)
        assert status == "ok", texts
        assert version(mysql_url) == (f"r{CHAIN}",)
        assert counts(mysql_url) == rows_of(1, CHAIN)
        assert logged(mysql_url) == {f"r{k}": 1 for k in range(1, CHAIN + 1)}
    finally:
        holder.close()
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.mark.notebook
@pytest.mark.slow
def test_an_interrupt_inside_a_statement_on_postgres(workdir: Path, postgres_url: str) -> None:
    """psycopg cancels the statement on the server: r6 rolls back whole and nothing waits on."""
    if sa.engine.make_url(postgres_url).get_driver_name() == "psycopg2":
        pytest.skip(PSYCOPG2_RUNS_ON)
    migrator = Migrator(url=postgres_url)
    migrator.init()
    migrator.dispose()
    gate = Gate("statement", workdir, postgres_url)
    gated_chain(migrator.directory, gate)
    manager, client = start_new_kernel(cwd=str(workdir))
    try:
        execute(client, f"%load_ext sakyum_magic\n%migrate config --url {postgres_url}")
        msg_id = client.execute("%migrate upgrade head")
        wait_for(gate.reached, "r6 to reach the gate", 60)
        manager.interrupt_kernel()
        status, texts = _finish(client, msg_id)
        error = next(text for text in texts if "UsageError" in text)
        assert status == "error" and "Traceback" not in "".join(texts)
        assert "upgrade interrupted: 5 of 12 revision(s) applied, database at r5 (the revision in " in error
        assert not gate.reached()
        assert_lock_free(postgres_url)
        assert version(postgres_url) == ("r5",)
        assert counts(postgres_url) == rows_of(1, 5)
        gate.open()
        status, texts = execute(client, "%migrate upgrade head", timeout=60)
        assert status == "ok", texts
        assert counts(postgres_url) == rows_of(1, 12)
        assert logged(postgres_url) == {f"r{k}": 1 for k in range(1, 13)}
    finally:
        gate.open()
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.mark.mysql
@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("after_ddl", [False, True], ids=["before its DDL", "after its DDL"])
def test_an_interrupt_for_a_user_limited_to_two_connections(
    workdir: Path, mysql_url: str, after_ddl: bool
) -> None:
    """A MariaDB user with MAX_USER_CONNECTIONS 2 (the run's and the lock's): the statement left
    running is stopped on the lock's connection, not on a third one the user may not open, and the
    error says how far the run got and what the revision left."""
    import uuid

    from tests.conftest import MYSQL_URL

    user = f"sakyum_{uuid.uuid4().hex[:8]}"
    database = sa.engine.make_url(mysql_url).database
    admin = sa.create_engine(MYSQL_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE USER '{user}'@'%%' WITH MAX_USER_CONNECTIONS 2")
        connection.exec_driver_sql(f"GRANT ALL ON `{database}`.* TO '{user}'@'%%'")
    limited = sa.engine.make_url(mysql_url).set(username=user, password=None).render_as_string(False)
    migrator = Migrator(url=limited)
    migrator.init()
    migrator.dispose()
    mariadb_chain(migrator.directory, workdir, "statement", after_ddl, mysql_url)
    holder = sa.create_engine(mysql_url, poolclass=sa.pool.NullPool, **engine_options()).connect()
    assert holder.execute(sa.text(f"SELECT GET_LOCK('{gate_name(mysql_url)}', 0)")).scalar_one() == 1
    manager, client = start_new_kernel(cwd=str(workdir))
    try:
        execute(client, f"%load_ext sakyum_magic\n%migrate config --url {limited}")
        msg_id = client.execute("%migrate upgrade head")
        wait_for(lambda: at_gate(mysql_url), "r6 to reach the gate", 60)
        manager.interrupt_kernel()
        status, texts = _finish(client, msg_id)
        error = next(text for text in texts if "UsageError" in text)
        assert status == "error" and "Traceback" not in "".join(texts)
        assert "cannot connect" not in error and "connection limit" not in error
        assert f"upgrade interrupted: 5 of {CHAIN} revision(s) applied, database at r5" in error
        if after_ddl:
            assert "revision r6 is partly applied (created table t6)" in error
        assert not at_gate(mysql_url)  # no server thread runs r6's statement on
        assert version(mysql_url) == ("r5",)
        status, texts = execute(client, "%migrate current", timeout=30)
        assert status == "ok" and texts[0].splitlines()[1].startswith("r5"), texts
    finally:
        holder.execute(sa.text(f"SELECT RELEASE_LOCK('{gate_name(mysql_url)}')"))
        holder.close()
        client.stop_channels()
        manager.shutdown_kernel(now=True)
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP USER '{user}'@'%%'")
        admin.dispose()
