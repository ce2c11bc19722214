"""Text tables that fit the terminal: revision and message first and never hidden, long text wrapped."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sakyum_magic._core.records import HistoryEntry, Plan, RevisionInfo, Step
from sakyum_magic._display import render
from sakyum_magic._display.terminal import frame_text

LONG_MESSAGE = "Add the email column to users and backfill it from the legacy contacts table"


def info(rev: str, down: tuple[str, ...] = (), message: str = LONG_MESSAGE, path: str = "") -> RevisionInfo:
    path = path or f"/home/someone/projects/an-app/alembic/versions/{rev}_add_the_email_column_to_users.py"
    doc = f"{message}\n\nRevision ID: {rev}\nRevises: {', '.join(down)}"
    return RevisionInfo(
        rev, down, (), (), message, "2026-01-01 10:00:00.123456", True, False, False, path, doc
    )


def history() -> pd.DataFrame:
    entries = [
        HistoryEntry(info("9a8b7c6d5e4f", ("1f2e3d4c5b6a",)), True),
        HistoryEntry(info("1f2e3d4c5b6a"), False),
    ]
    return render.history(entries, verbose=True)


@pytest.mark.parametrize("width", [150, 100, 80, 60])
def test_history_fits_and_never_hides_revision_or_message(width: int) -> None:
    text = frame_text(history(), width)
    lines = text.splitlines()
    assert all(len(line) <= width for line in lines), text
    assert lines[0].split()[:2] == ["revision", "message"]  # the important columns first
    assert "..." not in text and "9a8b7c6d5e4f" in text and "1f2e3d4c5b6a" in text
    assert " ".join(LONG_MESSAGE.split()) in " ".join(_column_text(text, "message").split())


def _column_text(text: str, name: str) -> str:
    """The text under one column's header (the table's lines cut at that column's start)."""
    lines = text.splitlines()
    start = lines[0].index(name)
    following = [lines[0].find(h, start + len(name)) for h in lines[0][start + len(name) :].split()]
    end = min([f for f in following if f > 0], default=None)
    return " ".join(line[start:end].strip() for line in lines[1:] if not line.startswith("("))


def test_at_150_columns_history_shows_the_message_whole() -> None:
    text = frame_text(history(), 150)
    assert LONG_MESSAGE in text
    assert "not shown at this width" in text  # path and doc go before the message is cut


def test_a_wide_terminal_shows_every_column() -> None:
    text = frame_text(history(), 400)
    assert "not shown" not in text and "depends_on" in text and "/home/someone" in text


def test_missing_values_show_one_way() -> None:
    table = history()
    assert table["is_current"].dtype == "boolean"
    table.loc[1, "is_current"] = pd.NA
    text = frame_text(table, 400)
    for shown in ("None", "NaN", "<NA>", "nan"):
        assert shown not in text


def test_sql_and_docs_show_as_lines() -> None:
    statement = "CREATE TABLE users (\n\tid INTEGER NOT NULL,\n\tPRIMARY KEY (id)\n)"
    plan = Plan(
        "sqlite://",
        "upgrade",
        "head",
        (),
        (Step("a1", "users", "up", 0.0, (statement,), (False,)),),
        "scratch copy",
    )
    text = repr(render.plan(plan))
    assert "\\n" not in text and "\\t" not in text
    assert any(line.strip() == "id INTEGER NOT NULL," for line in text.splitlines())
    doc = frame_text(history(), 400)
    assert "\\n" not in doc and any(
        line.strip().endswith("Revision ID: 9a8b7c6d5e4f") for line in doc.splitlines()
    )


def test_wrapped_rows_are_set_apart() -> None:
    text = frame_text(history(), 60)
    assert "" in text.splitlines()  # a blank line between two rows that take several lines


def test_many_rows_are_cut_like_pandas_does() -> None:
    entries = [HistoryEntry(info(f"r{i:04d}", message="m"), None) for i in range(500)]
    text = repr(render.history(entries))
    assert "r0000" in text and "r0499" in text and "r0250" not in text and "more rows" in text
    assert len(text.splitlines()) < 30


def test_a_very_narrow_terminal_overflows_rather_than_hiding_the_essentials() -> None:
    text = frame_text(history(), 20)
    assert "9a8b7c6d5e4f" in text and "message" in text


def plan_frame() -> pd.DataFrame:
    sql = (
        "CREATE TABLE users (id INTEGER NOT NULL, email VARCHAR(200) NOT NULL, PRIMARY KEY (id))",
        "INSERT INTO alembic_version (version_num) VALUES ('9a8b7c6d5e4f')",
    )
    step = Step("9a8b7c6d5e4f", LONG_MESSAGE, "up", 0.0, sql, (False, False))
    return render.plan(Plan("sqlite://", "upgrade", "head", (), (step,), "a rolled-back transaction"))


@pytest.mark.parametrize("width", [80, 60])
def test_plan_keeps_its_statements_wrapped(width: int) -> None:
    """The column plan exists for is never left out: without it the rows would look identical."""
    text = frame_text(plan_frame(), width)
    assert all(len(line) <= width for line in text.splitlines()), text
    assert "statement" in text.splitlines()[0]
    assert "INSERT INTO alembic_version" in " ".join(_column_text(text, "statement").split())
    assert "statement" not in text.split("not shown at this width", 1)[-1]


def test_plan_locks_keeps_the_locks_at_80_columns() -> None:
    """plan --locks exists for its locks: they are kept, as its statements are."""
    from dataclasses import replace

    locks = (("users ACCESS EXCLUSIVE", ""), ("", ""))
    text = frame_text(render.plan(replace(render_plan_source(), locks=locks)), 80)
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert "users ACCESS EXCLUSIVE" in " ".join(_column_text(text, "locks").split()), text
    assert "locks" not in text.split("not shown at this width", 1)[-1], text


def test_lint_keeps_its_verdict_at_80_columns() -> None:
    """A lint table exists for its verdicts, which come first: the statement and detail go before them."""
    from sakyum_magic._display.lint import lint
    from sakyum_magic._lint.findings import Finding, LintResult

    finding = Finding(
        "fb0621b0dc72",
        "CREATE INDEX ix_orders_placed ON orders (placed_at)",
        "orders",
        2_300_000,
        "SHARE",
        "writes",
        "table scan",
        "require-concurrent-index-creation",
        "squawk",
        "error",
        "CREATE INDEX CONCURRENTLY",
        False,
        "During normal index creation, table updates are blocked, but reads are still allowed.",
        "https://squawkhq.com/docs/require-concurrent-index-creation",
    )
    found = LintResult("postgresql://", "postgresql", "15.20", ("fb0621b0dc72",), (finding,), 1_000_000)
    text = frame_text(lint(found), 80)
    assert all(len(line) <= 80 for line in text.splitlines()), text
    header = text.splitlines()[0].split()
    assert header[:5] == ["revision", "severity", "rule", "table", "rows"], text
    assert "require-concurrent-index-creation" in text


def test_a_failed_target_keeps_its_error_at_80_columns() -> None:
    """fleet's error column is kept once a row has one: "failed" alone does not say what to do."""
    columns = ["target", "status", "drift", "before", "after", "steps", "seconds", "lock_wait", "error"]
    rows = [
        ["postgresql+psycopg://app:***@db1:5432/shop", "done", "at head", "r2", "r2", 0, 0.01, 0.0, ""],
        ["postgresql+psycopg://app:***@db2:5/shop", "failed", "", "", "", 0, 0.02, 0.0, "cannot connect"],
    ]
    text = frame_text(pd.DataFrame(rows, columns=columns), 80)
    assert "cannot connect" in text and "error" in text.splitlines()[0], text
    done = frame_text(pd.DataFrame(rows[:1], columns=columns), 80)
    assert "error" not in done.splitlines()[0], done  # empty: left out as before


def render_plan_source() -> Plan:
    sql = (
        "CREATE TABLE users (id INTEGER NOT NULL, email VARCHAR(200) NOT NULL, PRIMARY KEY (id))",
        "INSERT INTO alembic_version (version_num) VALUES ('9a8b7c6d5e4f')",
    )
    step = Step("9a8b7c6d5e4f", "Add users", "up", 0.0, sql, (False, False))
    return Plan("postgresql://", "upgrade", "head", (), (step,), "a rolled-back transaction")


def test_timestamps_never_wrap() -> None:
    from sakyum_magic._guards.audit import LogEntry

    entries = [
        LogEntry("2026-12-07T04:32:08.214+00:00", "b2", "a1", "b2", "up", 0.01, True, "root", "sakyum-magic")
    ]
    text = frame_text(render.log(entries), 60)
    assert "2026-12-07T04:32:08.214+00:00" in text


def test_titles_and_footers_wrap_at_word_boundaries() -> None:
    frame = plan_frame()
    for width in (80, 50):
        lines = frame.to_text(width).splitlines()
        assert all(len(line) <= width for line in lines), lines
        words = " ".join(lines).split()
        assert all(word in words for word in frame.equivalent.split())  # no word cut in two


def test_paths_are_shown_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    full = str(tmp_path / "alembic" / "versions" / "9a8b_add_email.py")
    frame = render.history([HistoryEntry(info("9a8b7c6d5e4f", path=full), True)], verbose=True)
    assert frame["path"].iloc[0] == full  # the data keeps the full path
    text = frame_text(frame, 400)
    assert "alembic/versions/9a8b_add_email.py" in text and str(tmp_path) not in text
    page = frame._repr_html_()
    assert f'title="{full}"' in page and ">alembic/<wbr>versions/<wbr>9a8b_<wbr>add_<wbr>email.py<" in page


TERMINAL_SESSION = [
    "%load_ext sakyum_magic",
    "%migrate init",
    "%migrate revision -m start --rev-id r0",
    "%migrate upgrade",
    'body = \'def upgrade():\\n    op.create_table("a_table_with_a_long_name", '
    'sa.Column("id", sa.Integer, primary_key=True), sa.Column("a_long_column_name", sa.Text))\\n\'',
    "get_ipython().run_cell_magic('migrate', 'revision -m \"Add the table the nightly reports read "
    "their figures from, with its long column\" --rev-id r1 --head r0', body)",
    "%migrate plan",
]


@pytest.mark.slow
@pytest.mark.parametrize("columns", [80, 150])
def test_terminal_ipython_fits_its_width(columns: int, workdir: Path) -> None:
    """A real terminal IPython on a pseudo-terminal of that width (no $COLUMNS: the size comes from
    the terminal): plan keeps its statement, no line is wider than the terminal, none cut mid-word."""
    import os
    import re
    import sys

    pexpect = pytest.importorskip("pexpect", reason="pexpect comes with IPython on POSIX")
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES", "DATABASE_URL"}}
    env["TERM"] = "dumb"
    child = pexpect.spawn(
        sys.executable,
        [
            "-m",
            "IPython",
            "--simple-prompt",
            "--no-banner",
            "--colors=NoColor",
            "--HistoryManager.enabled=False",
        ],
        cwd=str(workdir),
        env=env,
        dimensions=(40, columns),
        encoding="utf-8",
        timeout=120,
    )
    try:
        for line in TERMINAL_SESSION:
            child.expect(r"In \[\d+\]: ")
            child.sendline(line)
        child.expect(r"In \[\d+\]: ")
        shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before).replace("\r", "")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    lines = shown.splitlines()
    assert any(line.lstrip().startswith("revision") and "statement" in line for line in lines), shown
    assert all(len(line) <= columns for line in lines), [line for line in lines if len(line) > columns]
    words = " ".join(lines).split()
    assert {"CREATE", "a_table_with_a_long_name", "a_long_column_name"} <= set(words)  # the statement
    assert "(offline" in words and "rolls" in words  # the footer wrapped between words, not inside one
