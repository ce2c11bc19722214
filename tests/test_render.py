"""Rendering: fixed columns, text and HTML forms of the display objects."""

from __future__ import annotations

from IPython.lib.pretty import pretty

from sakyum_magic import render
from sakyum_magic.records import (
    CurrentResult,
    HistoryEntry,
    MigrationResult,
    Operation,
    RevisionInfo,
    RevisionResult,
    Step,
)


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


def test_migration_without_steps_is_a_message() -> None:
    nothing = render.migration(MigrationResult("upgrade", "head", ("a",), ("a",)))
    assert isinstance(nothing, render.Message) and "already at a" in nothing.text
    steps = render.migration(MigrationResult("upgrade", "head", (), ("a",), [Step("a", "m", "up", 0.1)]))
    assert list(steps.columns) == render.STEP_COLUMNS  # type: ignore[union-attr]


def test_offline_sql_shows_as_written() -> None:
    sql = render.migration(MigrationResult("upgrade", "head", (), (), sql="CREATE TABLE t (x int);\n"))
    assert isinstance(sql, render.Preformatted)
    assert pretty(sql) == "CREATE TABLE t (x int);\n"
    assert sql._repr_html_().startswith("<pre>")


def test_unversioned_database_is_a_message() -> None:
    shown = render.current(CurrentResult("sqlite:///x.db", ()))
    assert isinstance(shown, render.Message) and "at base" in shown.text


def test_message_and_report_have_text_and_html() -> None:
    message = render.Message("a < b", level="warning")
    assert pretty(message) == "a < b" and "a &lt; b" in message._repr_html_()
    report = render.new_revisions(
        RevisionResult((info("a"),), (Operation("add_table", None, "t", None, "(id)"),), autogenerate=True)
    )
    assert isinstance(report, render.Report)
    assert "add_table" in pretty(report) and "<table" in report._repr_html_()
    assert list(report["operations"]["op"]) == ["add_table"]


def test_report_marks_operations_that_lose_data() -> None:
    ops = (
        Operation("remove_column", None, "t", "old", "INTEGER NULL", destructive=True),
        Operation("add_column", None, "t", "new", "INTEGER NULL"),
    )
    report = render.new_revisions(RevisionResult((info("a"),), ops, autogenerate=True))
    assert isinstance(report, render.Report)
    text = pretty(report).splitlines()
    assert any(line.lstrip().startswith("! remove_column") for line in text)
    assert not any(line.lstrip().startswith("! add_column") for line in text)
    assert render.DESTRUCTIVE_STYLE.split(";")[0].split(":")[1].strip() in report._repr_html_()
