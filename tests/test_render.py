"""Rendering: fixed columns, text and HTML forms of the display objects."""

from __future__ import annotations

import pandas as pd
from IPython.lib.pretty import pretty

from sakyum_magic import ResultText
from sakyum_magic._core.records import (
    CurrentResult,
    HistoryEntry,
    MigrationResult,
    Operation,
    RevisionInfo,
    RevisionResult,
    Step,
)
from sakyum_magic._display import render


def info(rev: str, down: tuple[str, ...] = ()) -> RevisionInfo:
    return RevisionInfo(
        rev, down, (), (), f"msg {rev}", "2026-01-01", False, False, False, f"/v/{rev}.py", "doc"
    )


def test_empty_tables_keep_their_columns() -> None:
    assert list(render.history([]).columns) == render.HISTORY_COLUMNS
    assert list(render.operations([]).columns) == render.OPERATION_COLUMNS
    assert (
        list(render.revisions([], verbose=True).columns) == render.REVISION_COLUMNS + render.VERBOSE_COLUMNS
    )


def test_history_is_current_is_na_unless_asked() -> None:
    table = render.history([HistoryEntry(info("b", ("a",)), None), HistoryEntry(info("a"), None)])
    assert table["is_current"].isna().all()
    asked = render.history([HistoryEntry(info("a"), True)])
    assert bool(asked.loc[0, "is_current"])
    assert table.loc[0, "down_revision"] == "a"


def test_migration_without_steps_is_an_empty_frame_with_its_note() -> None:
    nothing = render.migration(MigrationResult("upgrade", "head", ("a",), ("a",)))
    assert isinstance(nothing, pd.DataFrame) and nothing.empty
    assert list(nothing.columns) == render.STEP_COLUMNS and "already at a" in pretty(nothing)
    steps = render.migration(MigrationResult("upgrade", "head", (), ("a",), [Step("a", "m", "up", 0.1)]))
    assert list(steps.columns) == render.STEP_COLUMNS  # type: ignore[union-attr]


def test_offline_sql_shows_as_written() -> None:
    sql = render.migration(MigrationResult("upgrade", "head", (), (), sql="CREATE TABLE t (x int);\n"))
    assert isinstance(sql, ResultText) and sql.code
    assert pretty(sql) == "CREATE TABLE t (x int);\n"
    assert sql._repr_html_().startswith("<pre>")


def test_unversioned_database_is_an_empty_frame_with_its_note() -> None:
    shown = render.current(CurrentResult("sqlite:///x.db", ()))
    assert isinstance(shown, pd.DataFrame) and shown.empty and "at base" in pretty(shown)
    missing = render.current(CurrentResult("sqlite:///x.db", (), note="no database file at x.db"))
    assert (
        missing.empty and "no database file at x.db" in pretty(missing) and "at base" not in pretty(missing)
    )


def test_text_and_tables_have_text_and_html() -> None:
    message = render.note("a < b", level="warning")
    assert pretty(message) == "a < b" and "a &lt; b" in message._repr_html_()
    report = render.new_revisions(
        RevisionResult((info("a"),), (Operation("add_table", None, "t", None, "(id)"),), autogenerate=True)
    )
    assert isinstance(report, pd.DataFrame)
    assert "add_table" in pretty(report) and "<table" in report._repr_html_()
    assert list(report["op"]) == ["add_table"]
    assert report.written == (info("a"),) and "Revision a written: /v/a.py" in pretty(report)


def test_report_marks_operations_that_lose_data() -> None:
    ops = (
        Operation("remove_column", None, "t", "old", "INTEGER NULL", destructive=True),
        Operation("add_column", None, "t", "new", "INTEGER NULL"),
    )
    report = render.new_revisions(RevisionResult((info("a"),), ops, autogenerate=True))
    assert isinstance(report, pd.DataFrame)
    text = pretty(report).splitlines()
    assert any(line.lstrip().startswith("! remove_column") for line in text)
    assert not any(line.lstrip().startswith("! add_column") for line in text)
    assert render.DESTRUCTIVE_STYLE.split(";")[0].split(":")[1].strip() in report._repr_html_()


def test_each_steps_sql_is_shown_under_the_table_only_when_asked() -> None:
    steps = [
        Step(
            "a", "first", "up", 0.1, sql=("CREATE TABLE t (\n\tid INTEGER\n)", "INSERT INTO v VALUES ('a')")
        ),
        Step("b", "second", "up", 0.1, sql=(), database="engine2"),
    ]
    result = MigrationResult("upgrade", "head", (), ("b",), steps)
    quiet = render.migration(result)
    assert isinstance(quiet, pd.DataFrame) and quiet.step_sql == ()
    assert "CREATE TABLE t" in quiet.sql and "CREATE TABLE t" not in pretty(quiet)
    shown = render.migration(result, show_sql=True)
    assert isinstance(shown, pd.DataFrame)
    assert shown.step_sql == (
        ("up a: first (2 statements)", "CREATE TABLE t (\n\tid INTEGER\n);\nINSERT INTO v VALUES ('a');"),
        ("up b on engine2: second (0 statements)", "-- no statements"),
    )
    text = pretty(shown)
    under = text[text.index("SQL of each step:") :].splitlines()
    assert under[1:5] == [
        "  up a: first (2 statements)",
        "    CREATE TABLE t (",
        "        id INTEGER",
        "    );",
    ]
    assert under[6:8] == ["  up b on engine2: second (0 statements)", "    -- no statements"]
    page = shown._repr_html_()
    assert page.count("<details>") == 2 and page.index("</table>") < page.index("<details>")
    assert (
        "<summary>up a: first (2 statements)</summary>" in page
        and "INSERT INTO v VALUES (&#x27;a&#x27;);" in page
    )


def test_an_empty_log_says_where_a_log_is_kept() -> None:
    """A directory another tool made is never logged unless asked: "nothing yet" alone would mislead."""
    empty = render.log([])
    assert empty.empty and "%migrate init" in empty.empty_note and "audit = True" in empty.empty_note
