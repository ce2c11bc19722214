"""Async URLs (sqlite+aiosqlite://, postgresql+asyncpg://) migrating inside a real Jupyter kernel.

The kernel already runs an event loop on its main thread, where ``asyncio.run`` fails; the notebook
proves that first, then runs the whole workflow through ``%migrate`` on the async URL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from sakyum_magic import MigrationError, Migrator
from tests.conftest import with_driver
from tests.models import USERS, USERS_AND_POSTS
from tests.revisions import chain, counts, version, write

ROWS = 30

INSERT = f"""
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

engine = create_async_engine(URL)
async with engine.begin() as connection:
    await connection.execute(
        sa.text("INSERT INTO users (id, name) VALUES (:id, :name)"),
        [{{"id": i, "name": f"user {{i}}"}} for i in range(1, {ROWS} + 1)],
    )
await engine.dispose()
"""

CELLS = [
    "import asyncio\nrunning = asyncio.get_running_loop().is_running()\nrunning",
    "try:\n    asyncio.run(asyncio.sleep(0))\nexcept RuntimeError as exc:\n    print('asyncio.run:', exc)",
    "%load_ext sakyum_magic",
    USERS,
    "%migrate config --url $URL --metadata Base",
    "%migrate init",
    '%migrate revision --autogenerate -m "users"',
    "%migrate upgrade head",
    INSERT,
    USERS_AND_POSTS,
    "%migrate diff",
    '%migrate revision --autogenerate -m "posts"',
    "%migrate upgrade head",
    "%migrate current",
    "%migrate history --verbose",
    "%migrate downgrade -1",
    "%migrate current",
]


@pytest.fixture(params=["aiosqlite", "asyncpg"])
def async_url(request: pytest.FixtureRequest, workdir: Path) -> str:
    if request.param == "aiosqlite":
        return f"sqlite+aiosqlite:///{workdir / 'test.db'}"
    return with_driver(str(request.getfixturevalue("postgres_url")), "postgresql+asyncpg")


def run_notebook(workdir: Path, url: str) -> list[list[str]]:
    """Execute CELLS in a fresh kernel; each code cell's outputs as text, errors included."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(f"URL = {url!r}")]
    # %migrate lines are taken literally (no $name expansion): the URL goes into the line itself.
    notebook.cells += [nbformat.v4.new_code_cell(source.replace("$URL", url)) for source in CELLS]
    client = NotebookClient(notebook, timeout=120, resources={"metadata": {"path": str(workdir)}})
    client.execute()
    return [[shown(output) for output in cell.outputs] for cell in notebook.cells[1:]]


def shown(output: Any) -> str:
    if output.output_type == "stream":
        return str(output.text)
    if output.output_type == "error":
        return f"{output.ename}: {output.evalue}"
    return str(output.get("data", {}).get("text/plain", ""))


@pytest.mark.notebook
def test_async_url_migrates_inside_a_running_kernel(workdir: Path, async_url: str) -> None:
    outputs = dict(zip(CELLS, run_notebook(workdir, async_url), strict=True))
    assert outputs[CELLS[0]] == ["True"]
    assert "cannot be called from a running event loop" in outputs[CELLS[1]][0]
    assert "add_table" in outputs['%migrate revision --autogenerate -m "users"'][0]
    assert "add_table" in outputs["%migrate diff"][0] and "posts" in outputs["%migrate diff"][0]
    posts = outputs['%migrate revision --autogenerate -m "posts"'][0]
    assert "posts" in posts
    history = outputs["%migrate history --verbose"][0]
    assert "users" in history and "posts" in history
    assert "down" in outputs["%migrate downgrade -1"][0]
    assert all("Error" not in text for texts in outputs.values() for text in texts)
    assert counts(async_url) == {"users": ROWS}
    assert len(version(async_url)) == 1


@pytest.mark.parametrize("scheme", ["aiosqlite", "asyncpg"])
def test_async_failure_mid_chain_rolls_back(
    request: pytest.FixtureRequest, workdir: Path, scheme: str
) -> None:
    """Inside a running loop, as in a kernel: the worker thread still gives one transaction per revision."""
    if scheme == "aiosqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'test.db'}"
    else:
        url = with_driver(str(request.getfixturevalue("postgres_url")), "postgresql+asyncpg")

    async def in_a_running_loop() -> None:
        m = Migrator(url=url)
        m.init()
        chain(m.directory, 3)
        write(
            m.directory, "r3", "r2", 'op.create_table("t3", sa.Column("id", sa.Integer))\nop.execute("BOGUS")'
        )
        with pytest.raises(MigrationError, match=r"revision r3 while running 'BOGUS'"):
            m.upgrade()
        assert [i.revision for i in m.current().revisions] == ["r2"]
        m.dispose()

    asyncio.run(in_a_running_loop())
    assert version(url) == ("r2",)
    assert counts(url) == {"t1": 10, "t2": 20}
