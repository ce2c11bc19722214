"""ResultFrame and ResultText: one type for tables, one for text, both shown as HTML and as text."""

from __future__ import annotations

import pickle

import pandas as pd
from IPython.lib.pretty import pretty

from sakyum_magic import Operation, ResultFrame, ResultText
from sakyum_magic._display import render

OPS = [
    Operation("remove_table", None, "notes", None, "(id)", destructive=True),
    Operation("add_column", None, "users", "about", "TEXT NOT NULL"),
    Operation("modify_type", None, "users", "username", "VARCHAR(80) → VARCHAR(40)", destructive=True),
    Operation("remove_column", None, "users", "bio", "TEXT NOT NULL", destructive=True),
]


def diff() -> ResultFrame:
    return render.diff(OPS).describe_with(command="%migrate diff", sql="DROP TABLE notes;")


def test_a_diff_is_a_dataframe_whose_destructive_rows_can_be_selected() -> None:
    d = diff()
    assert isinstance(d, pd.DataFrame)
    lossy = d[d.destructive]
    assert isinstance(lossy, ResultFrame) and list(lossy["op"]) == [
        "remove_table",
        "modify_type",
        "remove_column",
    ]
    assert lossy.command == "%migrate diff" and lossy.sql == "DROP TABLE notes;"


def test_the_title_and_notes_stay_only_with_the_same_rows() -> None:
    d = diff()
    assert d.title == "4 differences between the models and the database"
    assert d.notes == ("3 of them lose data (marked !).",)
    for same in (d.copy(), d[["op", "table"]], d.sort_values("table"), d.head()):
        assert isinstance(same, ResultFrame) and same.title == d.title and same.notes == d.notes
    subset = d[d.destructive]
    assert (subset.title, subset.notes, subset.empty_note) == ("", (), "")
    assert "4 differences" not in repr(subset) and "4 differences" not in subset._repr_html_()
    assert "%migrate diff" in repr(subset)


def test_an_empty_diff_has_the_columns_the_dtypes_and_a_note() -> None:
    empty = render.diff([])
    full = render.diff(OPS)
    assert isinstance(empty, ResultFrame) and empty.empty
    assert list(empty.columns) == list(full.columns) and dict(empty.dtypes) == dict(full.dtypes)
    assert empty[empty.destructive].empty  # a boolean column even with no rows
    assert "No differences" in repr(empty) and "No differences" in empty._repr_html_()
    assert "<table" not in empty._repr_html_()


def test_counts_are_counted() -> None:
    assert render.diff(OPS[:1]).title.startswith("1 difference between")
    assert render.diff(OPS[:1]).notes == ("1 of them loses data (marked !).",)
    refused = render.refused(OPS)
    assert refused.title.startswith("4 differences")
    assert refused.notes == (
        "2 of them drop tables or columns, so no file was written.",
        "3 of them lose data (marked !).",
    )
    drops = render.refused([OPS[0], OPS[3]])
    assert drops.notes == ("2 of them drop tables or columns, so no file was written.",)


NEAREST = "nearest alembic command: `alembic check` (which fails <instead>)"


def test_html_and_text_show_everything_that_travels() -> None:
    d = diff().describe_with(
        log_lines=["INFO  [alembic] Running <x>"],
        step_sql=[("up a1: first (1 statement)", "CREATE TABLE a (\n\tid INTEGER\n);")],
        equivalent=NEAREST,
    )
    page = d._repr_html_()
    assert "4 differences" in page and "3 of them lose data" in page
    assert render.DESTRUCTIVE_STYLE in page and page.count(render.DESTRUCTIVE_STYLE) == 3
    assert "Running &lt;x&gt;" in page and "%migrate diff" in page
    assert "<details><summary>up a1: first (1 statement)</summary><pre>CREATE TABLE a (" in page
    assert "nearest alembic command: <code>alembic check</code> (which fails &lt;instead&gt;)" in page
    text = pretty(d)
    assert text == repr(d) == d.to_text()
    assert "4 differences" in text and "Running <x>" in text
    assert (
        "SQL of each step:\n  up a1: first (1 statement)\n    CREATE TABLE a (\n        id INTEGER\n    );"
        in text
    )
    assert text.endswith(f"(%migrate diff)\n{NEAREST}")
    assert sum(line.startswith("! ") for line in text.splitlines()) == 3


def test_the_sql_is_data_unless_shown_step_by_step() -> None:
    d = diff()
    assert d.sql == "DROP TABLE notes;" and d.step_sql == ()
    assert "DROP TABLE" not in repr(d) and "DROP TABLE" not in d._repr_html_()


def test_the_alembic_line_is_data_when_it_is_not_shown() -> None:
    d = diff().describe_with(equivalent=NEAREST, alembic="", show_cli=False)
    assert "alembic check" not in repr(d) and "alembic check" not in d._repr_html_()
    assert d.equivalent == NEAREST and "%migrate diff" in repr(d)
    kept = d[d.destructive]
    assert (kept.equivalent, kept.show_cli) == (NEAREST, False)
    shown = diff().describe_with(equivalent=NEAREST)
    assert shown[shown.destructive].equivalent == NEAREST and "alembic check" in repr(
        shown[shown.destructive]
    )


def test_step_sql_describes_the_rows() -> None:
    d = diff().describe_with(step_sql=[("up a1: first (1 statement)", "CREATE TABLE a;")])
    assert d.copy().step_sql == d.step_sql
    assert d[d.destructive].step_sql == () and d[d.destructive].sql == "DROP TABLE notes;"


def test_a_result_survives_pickling() -> None:
    d = diff()
    back = pickle.loads(pickle.dumps(d))
    assert isinstance(back, ResultFrame) and back.title == d.title and back.equals(d)


def test_describe_with_refuses_unknown_names() -> None:
    try:
        render.diff(OPS).describe_with(titel="x")
    except TypeError as exc:
        assert "titel" in str(exc)
    else:
        raise AssertionError("an unknown attribute was accepted")


def test_text_results() -> None:
    sql = ResultText("CREATE TABLE t (x int);\n", code=True)
    assert isinstance(sql, str) and pretty(sql) == "CREATE TABLE t (x int);\n"
    assert sql._repr_html_() == "<pre>CREATE TABLE t (x int);\n</pre>"
    note = ResultText("a < b", level="warning")
    assert repr(note) == "a < b" and "a &lt; b" in note._repr_html_() and "<pre>" not in note._repr_html_()
    back = pickle.loads(pickle.dumps(sql))
    assert back == sql and back.code


def test_a_text_a_command_made_shows_its_alembic_line() -> None:
    line = "alembic equivalent: `alembic upgrade --sql head`"
    sql = ResultText("CREATE TABLE t (x int);\n", code=True).describe_with(
        command="%migrate upgrade head --sql", alembic="alembic upgrade --sql head", equivalent=line
    )
    assert str(sql) == "CREATE TABLE t (x int);\n" and sql == "CREATE TABLE t (x int);\n"
    assert pretty(sql) == repr(sql) == f"CREATE TABLE t (x int);\n{line}"
    assert sql._repr_html_() == (
        "<pre>CREATE TABLE t (x int);\n</pre>\n"
        '<p style="color: #777; font-size: smaller">'
        "alembic equivalent: <code>alembic upgrade --sql head</code></p>"
    )
    back = pickle.loads(pickle.dumps(sql))
    assert (back.command, back.alembic, back.equivalent, back.show_cli) == (
        sql.command,
        sql.alembic,
        line,
        True,
    )
    quiet = back.describe_with(show_cli=False)
    assert repr(quiet) == str(quiet) and "alembic" not in quiet._repr_html_() and quiet.equivalent == line
    try:
        sql.describe_with(title="x")
    except TypeError as exc:
        assert "title" in str(exc)
    else:
        raise AssertionError("an unknown attribute was accepted")


def test_html_tables_are_laid_out_for_reading() -> None:
    """Text left-aligned and numbers right-aligned whatever the front end's default; long text
    wrapped inside a bounded column; timestamps never wrapped."""
    import re

    frame = render.frame(
        [["a" * 30 + " " + "b" * 30, 12.5, "2026-12-07T04:32:08.214+00:00", "short"]],
        ["message", "seconds", "applied_at", "tool"],
    )
    page = frame._repr_html_()
    headers = re.findall(r'<th style="text-align: (\w+);', page)
    assert headers == ["left", "right", "left", "left"]
    cells = re.findall(r'<td style="([^"]*)"', page)
    assert [re.search(r"text-align: (\w+)", c).group(1) for c in cells] == headers  # type: ignore[union-attr]
    assert "white-space: nowrap" in cells[2] and "white-space: nowrap" not in cells[0]
    assert "max-width: 36em" in page and "overflow-wrap: anywhere" in page
