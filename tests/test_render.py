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
from tests.conftest import marks_lost_data


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
    assert marks_lost_data(report._repr_html_())


def test_styler_detection_agrees_with_pandas() -> None:
    """Styler highlighting is used exactly where pandas can render it (its Jinja2 is new enough)."""
    import pandas as pd

    from sakyum_magic.compat import styler_available

    try:
        pd.DataFrame({"a": [1]}).style.to_html()
    except (ImportError, AttributeError):  # pandas: "The '.style' accessor requires jinja2"
        works = False
    else:
        works = True
    assert styler_available() is works


def test_flagged_html_marks_lost_data_with_any_jinja2() -> None:
    """Highlighted tables render with whatever Jinja2 is installed: the Styler, else the ! column."""
    ops = (
        Operation("remove_column", None, "t", "old", "INTEGER NULL", destructive=True),
        Operation("add_column", None, "t", "new", "INTEGER NULL"),
    )
    shown = render.diff(ops)
    assert isinstance(shown, render.Flagged)
    html = shown._repr_html_()
    assert marks_lost_data(html)
    assert "remove_column" in html and "add_column" in html
