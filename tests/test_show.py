"""What a result teaches: the ``alembic`` command under it (``show_cli``) and each step's SQL
(``--show-sql``), as a real IPython shell displays them, in text and in HTML."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest

from sakyum_magic import ResultFrame, ResultText
from sakyum_magic._display.terminal import terminal_width, wrap_prose
from tests.models import USERS, USERS_AND_POSTS
from tests.revisions import write
from tests.shells import migrate, one_line_error


def displayed(shell: Any, value: Any) -> tuple[str, str]:
    """(text/plain, text/html) as IPython would display ``value``."""
    bundle, _ = shell.display_formatter.format(value)
    return str(bundle["text/plain"]), str(bundle.get("text/html", ""))


def shows(shell: Any, value: Any, alembic: str) -> bool:
    """Whether both forms show ``alembic`` as the command under the result."""
    text, page = displayed(shell, value)
    last = text.split("\n(%migrate ")[-1]  # the lines under the result (wrapped to the terminal)
    return f"`{alembic}`" in " ".join(last.splitlines()) and f"<code>{html.escape(alembic)}</code>" in page


def test_every_result_shows_its_alembic_command(shell: Any, workdir: Path) -> None:
    shell.run_cell(USERS)
    migrate(shell, "config --metadata Base")
    made = migrate(shell, "init")
    assert isinstance(made, ResultText) and made.alembic == "alembic init alembic"
    assert shows(shell, made, "alembic init alembic")
    added = migrate(shell, 'revision --autogenerate -m "Added tables"')
    assert added.alembic == "alembic revision --autogenerate -m 'Added tables'"
    assert shows(shell, added, "alembic revision --autogenerate -m 'Added tables'")
    text, _ = displayed(shell, added)
    assert text.endswith(
        "(%migrate revision --message 'Added tables' --autogenerate)\n"
        "alembic equivalent: `alembic revision --autogenerate -m 'Added tables'`"
    )
    sql = migrate(shell, "upgrade --sql")
    assert (
        isinstance(sql, ResultText)
        and str(sql).startswith("CREATE TABLE")
        and "alembic" not in str(sql)[-40:]
    )
    assert shows(shell, sql, "alembic upgrade --sql head")
    assert shows(shell, migrate(shell, "upgrade head"), "alembic upgrade head")
    assert shows(shell, migrate(shell, "history --verbose"), "alembic history --verbose")
    assert shows(shell, migrate(shell, "current"), "alembic current")


def test_commands_alembic_lacks_name_the_nearest_or_say_there_is_none(shell: Any, workdir: Path) -> None:
    shell.run_cell(USERS)
    migrate(shell, "config --metadata Base")
    migrate(shell, "init")
    migrate(shell, "revision --autogenerate -m users --rev-id r1")
    shell.run_cell(USERS_AND_POSTS)
    diff = migrate(shell, "diff")
    assert diff.alembic == "" and diff.equivalent.startswith("nearest alembic command: `alembic check`")
    assert shows(shell, diff, "alembic check")
    plan = migrate(shell, "plan r1")
    assert plan.equivalent.startswith("nearest alembic command: `alembic upgrade r1 --sql`")
    assert shows(shell, plan, "alembic upgrade r1 --sql")
    migrate(shell, "upgrade")
    # A downgrade in Alembic's offline form needs where it starts: the database's revision.
    assert shows(shell, migrate(shell, "plan -1"), "alembic downgrade r1:-1 --sql")
    assert shows(shell, migrate(shell, "plan base"), "alembic downgrade r1:base --sql")
    for line in ("log", "config", "test single_head_revision"):
        result = migrate(shell, line)
        text, page = displayed(shell, result)
        assert result.alembic == "" and "no alembic equivalent" in text.splitlines()[-1], line
        assert "no alembic equivalent" in page, line
    assert "pytest-alembic" in migrate(shell, "test single_head_revision").equivalent
    graph = migrate(shell, "graph")
    text, page = displayed(shell, graph)
    assert graph.alembic == "" and graph.command == "%migrate graph"
    assert text.split("\n(%migrate graph)\n")[1] == "\n".join(wrap_prose(graph.equivalent, terminal_width()))
    assert graph.equivalent.startswith("nearest alembic command: `alembic history` (which lists")
    assert "<code>%migrate graph</code>" in page and "<code>alembic history</code>" in page
    shell.run_line_magic("config", "MigrateMagics.show_cli = False")
    assert "alembic" not in repr(migrate(shell, "graph")).splitlines()[-1]


def test_show_cli_false_hides_the_line_and_keeps_the_data(shell: Any, workdir: Path) -> None:
    shell.run_cell(USERS)
    migrate(shell, "config --metadata Base")
    shell.run_line_magic("config", "MigrateMagics.show_cli = False")
    made = migrate(shell, "init")
    added = migrate(shell, 'revision --autogenerate -m "Added tables"')
    history = migrate(shell, "history --verbose")
    for result in (made, added, history):
        text, page = displayed(shell, result)
        assert "alembic equivalent" not in text and "alembic equivalent" not in page
        assert result.equivalent.startswith("alembic equivalent: `alembic ")
    assert history.alembic == "alembic history --verbose" and "(%migrate history --verbose)" in repr(history)
    shell.run_line_magic("config", "MigrateMagics.show_cli = True")
    assert shows(shell, migrate(shell, "history --verbose"), "alembic history --verbose")
    assert "alembic equivalent" not in repr(history)  # a result keeps the setting it was made with


# -- --show-sql, on each database ------------------------------------------------------------------


def step_sections(text: str) -> list[tuple[str, str]]:
    """The text form's "SQL of each step" part, as (step heading, its indented statements)."""
    part = text[text.index("SQL of each step:\n") :].splitlines()[1:]
    sections: list[tuple[str, str]] = []
    for line in part:
        if line.startswith("    "):
            heading, body = sections[-1]
            sections[-1] = (heading, f"{body}\n{line.strip()}".strip())
        elif line.startswith("  "):
            sections.append((line.strip(), ""))
        else:
            break
    return sections


def html_sections(page: str) -> list[tuple[str, str]]:
    """The HTML form's per-step ``<details>``, after the table: (summary, SQL)."""
    after = page[page.index("</table>") :]
    found = re.findall(r"<details><summary>(.*?)</summary><pre>(.*?)</pre></details>", after, re.DOTALL)
    return [(html.unescape(summary), html.unescape(sql)) for summary, sql in found]


def shown_steps(shell: Any, line: str) -> list[tuple[str, str]]:
    """Run ``line`` with --show-sql; each step's (heading, SQL), checked equal in text and HTML."""
    result = migrate(shell, f"{line} --show-sql")
    assert isinstance(result, ResultFrame)
    text, page = displayed(shell, result)
    in_text, in_html = step_sections(text), html_sections(page)
    assert [h for h, _ in in_text] == [h for h, _ in in_html] == [h for h, _ in result.step_sql]
    assert len(in_text) == len(result)
    for (_, written), (_, raw) in zip(in_text, in_html, strict=True):
        assert " ".join(written.split()) == " ".join(raw.split())
    return in_text


def quiet(shell: Any, line: str, statement: str) -> None:
    """Without --show-sql the SQL is the result's data only."""
    result = migrate(shell, line)
    text, page = displayed(shell, result)
    assert statement in result.sql and statement not in text and statement not in page
    assert result.step_sql == () and "<details>" not in page


@pytest.mark.parametrize("database", ["sqlite", "postgres", "mysql"])
def test_show_sql_puts_each_steps_statements_under_it(
    shell: Any, workdir: Path, request: pytest.FixtureRequest, database: str
) -> None:
    url = str(request.getfixturevalue(f"{database}_url"))
    migrate(shell, f"config --url '{url}'")
    migrate(shell, "init")
    write(
        workdir / "alembic",
        "r1",
        None,
        "op.create_table('t1', sa.Column('id', sa.Integer))",
        "op.drop_table('t1')",
    )
    write(
        workdir / "alembic",
        "r2",
        "r1",
        "op.create_table('t2', sa.Column('id', sa.Integer))",
        "op.drop_table('t2')",
    )

    up = shown_steps(shell, "upgrade")
    assert [h.split(":")[0] for h, _ in up] == ["up r1", "up r2"]
    assert "CREATE TABLE t1" in up[0][1] and "t2" not in up[0][1]
    assert "CREATE TABLE t2" in up[1][1] and "t1" not in up[1][1]
    quiet(shell, "downgrade base", "DROP TABLE t2")
    quiet(shell, "upgrade", "CREATE TABLE t1")

    down = shown_steps(shell, "downgrade base")
    assert [h.split(":")[0] for h, _ in down] == ["down r2", "down r1"]
    assert "DROP TABLE t2" in down[0][1] and "DROP TABLE t1" in down[1][1]
    assert "t1" not in down[0][1] and "t2" not in down[1][1]

    stamped = shown_steps(shell, "stamp r2")
    assert [h.split(":")[0] for h, _ in stamped] == ["stamp r2"]
    assert re.search(r"INSERT INTO alembic_version .*'r2'", stamped[0][1])
    moved = shown_steps(shell, "stamp r1")  # a step down is labelled with the revision it leaves
    assert [h.split(":")[0] for h, _ in moved] == ["stamp r2"]
    assert re.search(r"UPDATE alembic_version SET version_num='r1'", moved[0][1])


def test_a_failed_run_shows_the_sql_of_the_steps_applied_before_it(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    write(workdir / "alembic", "r1", None, "op.create_table('t1', sa.Column('id', sa.Integer))")
    write(workdir / "alembic", "r2", "r1", "op.execute('CREATE TABLE t1 (id INTEGER)')")
    shown: list[dict[str, Any]] = []
    original = shell.display_pub.publish
    shell.display_pub.publish = lambda data, **_: shown.append(data)
    try:
        assert "r2" in one_line_error(shell, "upgrade --show-sql")
    finally:
        shell.display_pub.publish = original
    (before,) = [data for data in shown if "SQL of each step" in data["text/plain"]]
    assert step_sections(before["text/plain"])[0][0] == "up r1: step r1 (3 statements)"
    assert "CREATE TABLE t1" in before["text/plain"] and "<details>" in before["text/html"]


def _default_line(name: str) -> str:
    import argparse
    import inspect

    from sakyum_magic._commands.lines import equivalent
    from sakyum_magic._commands.table import COMMANDS

    command = COMMANDS[name]
    given = {
        p.name: None if p.default is inspect.Parameter.empty else p.default for p in command.parameters()
    }
    return equivalent(command, argparse.Namespace(**given, x=None))


def test_each_footer_line_says_what_the_command_table_says() -> None:
    """Every command's line under its result agrees with its entry in the table, and the README
    names the same nearest commands and the same commands without one."""
    from sakyum_magic._commands.table import COMMANDS

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    intro = " ".join(
        readme.split("for a command\nAlembic lacks it names the nearest one", 1)[1].split("\n\n")[0].split()
    )
    none = set(re.findall(r"`(\w+)`", intro.split("says there is none", 1)[1].split(")")[0]))
    nearest = dict(re.findall(r"`(\w+)`: `alembic (\w+)", intro))
    for name, command in COMMANDS.items():
        line = _default_line(name)
        if command.alembic is not None:
            assert line.startswith(f"alembic equivalent: `alembic {command.alembic[0]}"), line
        elif command.nearest is not None:
            shape = command.nearest(None) if callable(command.nearest) else command.nearest
            assert line.startswith(f"nearest alembic command: `alembic {shape[0]}"), line
            assert nearest.get(name) == shape[0], f"README: name `{name}`'s nearest, `alembic {shape[0]}`"
            assert command.unlike and line.endswith(f"({command.unlike})")  # says how it differs
        else:
            assert line.startswith("no alembic equivalent"), line
            assert name in none, f"README: add `{name}` to the commands where it 'says there is none'"
    assert set(nearest) | none == {n for n, c in COMMANDS.items() if c.alembic is None}


def test_an_option_alembic_lacks_makes_its_line_the_nearest(shell: Any, workdir: Path) -> None:
    shell.run_cell(USERS)
    migrate(shell, "config --metadata Base")
    migrate(shell, "init")
    migrate(shell, "revision --autogenerate -m users --rev-id r1")
    migrate(shell, "upgrade")
    shell.run_cell(USERS.replace("    name = ", "    full_name = "))
    renamed = migrate(shell, "revision --autogenerate -m rename --rev-id r2 --rename users.name:full_name")
    assert renamed.equivalent == (
        "nearest alembic command: `alembic revision --autogenerate -m rename --rev-id r2` "
        "(which writes a drop and an add where --rename writes a rename keeping the data)"
    )
