"""The tutorial notebook (the migration chapter step by step), executed by nbclient in a real kernel."""

from __future__ import annotations

import os
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "notebooks"))

import run as notebook_runner  # noqa: E402

TABLES = ("user", "exam_question", "exam_choice", "site_setting")


def html(outputs: list[Any]) -> str:
    return "".join(str(o.get("data", {}).get("text/html", "")) for o in outputs)


def text(outputs: list[Any]) -> str:
    return "\n".join(notebook_runner.shown(o) for o in outputs)


@pytest.mark.notebook
def test_tutorial_runs_the_chapter_and_the_cli_reads_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The `!alembic` cells need this environment's alembic on the kernel's PATH.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    workdir = tmp_path / "nb"
    notebook = notebook_runner.execute(ROOT / "notebooks" / "tutorial.ipynb", workdir)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    cells = [(c.source, c.outputs, c.metadata.get("tags", [])) for c in code]
    outputs = [o for _, outs, _ in cells for o in outs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"]

    def shown(source: str, index: int = 0) -> list[Any]:
        return [outs for src, outs, _ in cells if src == source][index]

    head, first, _rebuild = _revision_ids(workdir)
    env_py = text(next(outs for _, outs, tags in cells if "env-py" in tags))
    assert "target_metadata" in env_py and "context.configure" in env_py
    assert len(env_py.splitlines()) < 150  # a file a student opens and reads, as Alembic's own is
    listed = text(shown('%migrate config --metadata "[db, site]"'))
    assert "[db, site]" in listed and " 4 " in listed  # the list form binds all four tables
    added = shown('%migrate revision --autogenerate -m "Added tables"')
    created = {t for line in text(added).splitlines() if "add_table" in line for t in line.split()}
    assert "<table" in html(added) and set(TABLES) <= created
    assert first in text(added)
    teaches = "alembic equivalent: `alembic revision --autogenerate -m 'Added tables'`"
    assert text(added).endswith(teaches) and "<code>alembic revision --autogenerate -m" in html(added)
    upgraded = shown("%migrate upgrade head")
    assert "<table" in html(upgraded) and "Added tables" in text(upgraded)
    assert "SQL of each step" not in text(upgraded) and "<details>" not in html(upgraded)
    changed = text(shown('%migrate revision --autogenerate -m "Add explanation to choices"'))
    assert "add_column" in changed and "explanation" in changed and head in changed
    with_sql = shown("%migrate upgrade head --show-sql")
    assert f"SQL of each step:\n  up {head}: Add explanation to choices (2 statements)" in text(with_sql)
    assert "ALTER TABLE exam_choice ADD COLUMN explanation TEXT" in text(with_sql)
    assert html(with_sql).count("<details>") == 1 and "ADD COLUMN explanation" in html(with_sql)
    history = shown("%migrate history --verbose")
    assert "<table" in html(history) and head in text(history) and first in text(history)
    assert text(history).endswith("alembic equivalent: `alembic history --verbose`")
    assert "Add explanation to choices" in text(shown("%migrate downgrade base"))
    assert "has no revision applied" in text(shown("%migrate current", 1))

    graph, frame = (outs for _, outs, tags in cells if "graph" in tags)
    drawing = html(graph)
    assert "<svg" in drawing and "you are here" in drawing and head[:7] in drawing and first[:7] in drawing
    assert "you are here" in text(graph)
    assert "<table" in html(frame)

    cli_upgrade = text(shown("!alembic upgrade head"))
    assert f"Running upgrade  -> {first}" in cli_upgrade
    assert f"Running upgrade {first} -> {head}" in cli_upgrade
    cli_history = text(shown("!alembic history --verbose"))
    assert f"Rev: {head} (head)" in cli_history and f"Parent: {first}" in cli_history
    assert f"Rev: {first}" in cli_history and "Add explanation to choices" in cli_history
    assert f"{head} (head)" in text(shown("!alembic current"))
    assert (workdir / "default.db").is_file()
    _costs_of_a_rebuild(shown, workdir)
    _renders_clean_as_html(notebook)


def _costs_of_a_rebuild(shown: Any, workdir: Path) -> None:
    """The last chapter: a batch rebuild of site_setting (20,000 rows) linted, traced and applied guarded
    while another connection holds the database's write lock for a moment."""
    rebuild = _revision_ids(workdir)[2]
    linted = html(shown("%migrate lint"))
    assert "sqlite-batch-rebuild" in linted and "warning" in linted and ">20000<" in linted
    assert rebuild in linted and "batch mode rebuilds site_setting" in linted
    traced = html(shown("%migrate plan --locks"))
    assert (
        "database RESERVED (journal_mode=delete: other writers wait; readers wait while it commits)" in traced
    )
    assert "rewrote site_setting (20,000 rows)" in traced and "nothing was run" in traced
    applied = text(shown("%migrate upgrade --lock-timeout 500ms --retries 10 --retry-delay 0.5"))
    assert f"the database is now at {rebuild}" in applied
    assert "attempt 1: upgrade: waited 0.5s for the database's write lock" in applied
    assert re.search(r"attempt \d+: applied", applied)
    assert f"{rebuild} (head)" in text(shown("!alembic current", 1))
    with sqlite3.connect(workdir / "default.db") as connection:
        assert connection.execute("SELECT count(*) FROM site_setting").fetchone() == (20_000,)
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == (rebuild,)
        kind = "SELECT type FROM pragma_table_info('site_setting') WHERE name = 'value'"
        assert connection.execute(kind).fetchone() == ("TEXT",)
    connection.close()


def _renders_clean_as_html(notebook: Any) -> None:
    """As an editor that renders saved outputs itself (VS Code) would show them, here through
    nbconvert's HTML: no raw ANSI escape codes and no stderr anywhere in the page."""
    exporters = pytest.importorskip(
        "nbconvert.exporters", reason="nbconvert comes with the browser extra (pip install -e '.[browser]')"
    )
    page, _ = exporters.HTMLExporter().from_notebook_node(notebook)
    page = re.sub(r"<style[^>]*>.*?</style>", "", page, flags=re.S)  # its CSS names every output kind
    assert "\x1b[" not in page and "\u001b[" not in page and "[0;31m" not in page
    assert "output_stderr" not in page and "application/vnd.jupyter.stderr" not in page


def _revision_ids(workdir: Path) -> tuple[str, str, str]:
    """The three revisions the notebook wrote: (the second, the first, the last chapter's), read from
    their files."""
    files = sorted((workdir / "alembic" / "versions").glob("*.py"))
    assert len(files) == 3
    ids = {f.name.split("_", 1)[1]: f.name.split("_", 1)[0] for f in files}
    return ids["add_explanation_to_choices.py"], ids["added_tables.py"], ids["longer_setting_values.py"]
