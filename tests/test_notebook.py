"""The quickstart notebook, executed by nbclient in a real Jupyter kernel."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "notebooks"))

import run as notebook_runner  # noqa: E402


@pytest.mark.notebook
def test_quickstart_runs_and_shows_tables(tmp_path: Path) -> None:
    notebook = notebook_runner.execute(ROOT / "notebooks" / "quickstart.ipynb", tmp_path / "nb")
    by_source = {
        cell.source.splitlines()[0]: [notebook_runner.shown(o) for o in cell.outputs]
        for cell in notebook.cells
        if cell.cell_type == "code"
    }
    assert not any("Error" in text for outputs in by_source.values() for text in outputs)
    first = by_source['%migrate revision --autogenerate -m "Added tables"'][0]
    assert "add_table" in first and "users" in first and "posts" in first
    second = by_source['%migrate revision --autogenerate -m "Add email to users"'][0]
    assert "add_column" in second and "email" in second
    html = [
        o
        for c in notebook.cells
        if c.cell_type == "code" and c.source == "%migrate upgrade head"
        for o in c.outputs
        if "text/html" in o.get("data", {})
    ]
    assert html and "<table" in html[0]["data"]["text/html"]
    assert by_source["%%migrate models"][0].startswith("Replaced Post, User.")  # the edited model cell
    diff = by_source["%migrate diff"][0]
    assert "1 difference" in diff and "add_column" in diff and "email" in diff
    seed = by_source['%%migrate revision -m "Seed users"'][0]
    assert "Written with the upgrade() and downgrade() given" in seed
    rows = by_source['with sa.create_engine("sqlite:///default.db").connect() as connection:'][0]
    assert rows == "[('ada', 'ada@example.com'), ('grace', 'grace@example.com')]"  # the data migration ran
    history = by_source["history = %migrate history --verbose --indicate-current"][0]
    assert "Add email to users" in history and "Seed users" in history and "True" in history
    assert "has no revision applied" in by_source["%migrate current"][0]  # the last one, after downgrade
    assert (tmp_path / "nb" / "default.db").is_file()
    assert len(list((tmp_path / "nb" / "alembic" / "versions").glob("*.py"))) == 3


@pytest.mark.notebook
def test_the_demo_writes_nothing_to_stderr(tmp_path: Path) -> None:
    """`make demo` is a newcomer's first sight of the package: the cells' output, and no warnings."""
    runner, quickstart = ROOT / "notebooks" / "run.py", ROOT / "notebooks" / "quickstart.ipynb"
    ran = subprocess.run(
        [sys.executable, str(runner), str(quickstart), "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stderr == ""
    assert ran.stdout.rstrip().endswith("against sqlite:///default.db")
