"""The %migrate grammar: Alembic's option names, help written once, errors as UsageError."""

from __future__ import annotations

import shlex
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from IPython.core.error import UsageError

from sakyum_magic._core.migrator import Migrator
from sakyum_magic._frontend.parser import HelpRequested, build_parser, parse_line, split_line


@pytest.fixture(scope="module")
def parser():  # type: ignore[no-untyped-def]
    return build_parser()


def test_alembic_option_names(parser) -> None:  # type: ignore[no-untyped-def]
    args = parse_line(
        parser,
        "revision -m 'two words' --autogenerate --rev-id abc --head base --splice "
        "--branch-label feature --depends-on x --version-path v",
    )
    assert (args.message, args.autogenerate, args.rev_id, args.head, args.splice) == (
        "two words",
        True,
        "abc",
        "base",
        True,
    )
    assert (args.branch_label, args.depends_on, args.version_path) == ("feature", "x", "v")
    assert parse_line(parser, "upgrade").revision == "head"
    assert parse_line(parser, "downgrade -1").revision == "-1"
    assert parse_line(parser, "history -r base:head -v -i").rev_range == "base:head"


def test_help_comes_from_the_core_docstrings(parser) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(HelpRequested) as shown:
        parse_line(parser, "upgrade -h")
    first_line = (Migrator.upgrade.__doc__ or "").splitlines()[0]
    assert " ".join(first_line.split()[:4]) in " ".join(shown.value.text.split())


def help_of(parser, line: str) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(HelpRequested) as shown:
        parse_line(parser, line)
    return " ".join(shown.value.text.split())


def test_help_names_options_as_they_are_typed(parser) -> None:  # type: ignore[no-untyped-def]
    """A docstring's ``allow_lint`` is --allow-lint in %migrate's help (the API's name is not typed there)."""
    upgrade = help_of(parser, "upgrade -h")
    assert "unless --allow-lint" in upgrade and "--lock-timeout is the database's own" in upgrade, upgrade
    assert "allow_lint" not in upgrade and " lock_timeout" not in upgrade
    assert "--rev-range is START:END" in help_of(parser, "history -h")
    assert "--rev-range is START:END" in help_of(parser, "-h")  # the summary line of history


@pytest.mark.parametrize("line", ["", "nope", "upgrade --what", "downgrade", "stamp", "show", "'"])
def test_bad_lines_raise_usage_error(parser, line: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError) as caught:
        parse_line(parser, line)
    assert type(caught.value) is UsageError


def test_a_mistyped_command_gets_a_suggestion(parser) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="did you mean 'history'"):
        parse_line(parser, "histroy")
    with pytest.raises(UsageError) as caught:
        parse_line(parser, "frobnicate")
    assert "did you mean" not in str(caught.value)


def test_relative_history_ranges(parser) -> None:  # type: ignore[no-untyped-def]
    assert parse_line(parser, "history -r -1:").rev_range == "-1:"
    assert parse_line(parser, "history --rev-range -3:current").rev_range == "-3:current"
    assert parse_line(parser, "history -r base:head").rev_range == "base:head"


@given(st.text(alphabet=" \t\n'\"\\ab$={}é-", max_size=40))
def test_lines_split_as_shlex_splits_them(line: str) -> None:
    try:
        expected: list[str] | str = shlex.split(line)
    except ValueError as exc:
        expected = str(exc)
    try:
        found: list[str] | str = split_line(line)
    except ValueError as exc:
        found = str(exc)
    assert found == expected


def test_splitting_takes_linear_time() -> None:
    def seconds(length: int) -> float:
        words = 'a word \\" $x {y} ' * (length // 16)
        line = f"revision -m \"{words}\" --rev-id 'x y'"
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            split_line(line)
            best = min(best, time.perf_counter() - started)
        return best

    assert seconds(200_000) / seconds(20_000) < 40  # ten times the text: quadratic would be 100 times
