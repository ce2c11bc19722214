"""Text tables that fit the terminal: revision and message first and never hidden, long text wrapped."""

from __future__ import annotations

import pandas as pd
import pytest

from sakyum_magic._core.records import HistoryEntry, Plan, RevisionInfo, Step
from sakyum_magic._display import render
from sakyum_magic._display.terminal import frame_text

LONG_MESSAGE = "Add the email column to users and backfill it from the legacy contacts table"


def info(rev: str, down: tuple[str, ...] = (), message: str = LONG_MESSAGE) -> RevisionInfo:
    path = f"/home/someone/projects/an-app/alembic/versions/{rev}_add_the_email_column_to_users.py"
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
