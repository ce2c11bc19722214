"""Interrupting a run in a real kernel stops it at a revision boundary, on sync and async drivers.

After the interrupt nothing keeps running, the lock is released, the error names how far the run
got, and the next command in the same kernel works at once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import start_new_kernel

from sakyum_magic import Migrator
from tests.conftest import with_driver
from tests.revisions import version, write

REVISIONS = 40


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
        time.sleep(2.5)
        manager.interrupt_kernel()
        _status, texts = _finish(client, msg_id)  # IPython reports a UsageError on stderr
        error = next((text for text in texts if "UsageError" in text), texts[-3:])
        assert "upgrade interrupted: " in error and f"of {REVISIONS} revision(s) applied" in error
        assert "Traceback" not in "".join(texts)
        reached = version(url)
        applied = int(error.split("interrupted: ")[1].split(" ")[0])
        assert 0 < applied < REVISIONS
        assert reached == (f"r{applied}",)
        time.sleep(1)  # nothing runs on in the background
        assert version(url) == reached
        started = time.perf_counter()
        status, texts = execute(client, "%migrate current", timeout=20)
        assert status == "ok" and f"r{applied}" in texts[0], texts
        assert time.perf_counter() - started < 10  # the lock was released
        status, texts = execute(client, "%migrate upgrade head", timeout=60)
        assert status == "ok" and version(url) == (f"r{REVISIONS}",)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


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
