"""The ``%migrate`` command line: one parser with a sub-parser per command, Alembic's option names.

Help for each sub-command is the first line of the core method's docstring, so it is written once.
A bad line raises ``UsageError``; ``-h`` raises :class:`HelpRequested` so that nothing runs.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable
from typing import Any, NoReturn

from IPython.core.error import UsageError

from .binding import mask_text
from .commands import Migrator
from .errors import ConfigurationError
from .safety import Rename, parse_rename

PROG = "%migrate"


class HelpRequested(Exception):
    """``-h`` was given: carries the help text to show instead of running anything."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse quotes the offending argument, which may be a URL with a password in it.
        raise UsageError(
            mask_text(f"{self.prog}: {message}{_did_you_mean(message)} (see {self.prog} -h)")
        ) from None

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(mask_text(message.strip()) if message else f"{self.prog}: stopped") from None

    def print_help(self, file: Any = None) -> NoReturn:
        raise HelpRequested(self.format_help())


def _did_you_mean(message: str) -> str:
    """For argparse's "invalid choice: 'histroy' (choose from ...)", the closest choice, if any is close."""
    import difflib

    found = re.match(
        r"argument \S+: invalid choice: '(?P<given>[^']*)' \(choose from (?P<choices>.*)\)", message
    )
    if found is None:
        return ""
    choices = re.findall(r"'?([\w-]+)'?", found["choices"])
    close = difflib.get_close_matches(found["given"], choices, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _help(method: Callable[..., Any]) -> str:
    return (method.__doc__ or "").strip().splitlines()[0].replace("``", "")


def _sql_and_tag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sql", action="store_true", help="write the SQL instead of running it (offline mode)"
    )
    parser.add_argument("--tag", help="an arbitrary tag handed to env.py (as in alembic --tag)")


def _rename(value: str) -> Rename:
    try:
        return parse_rename(value)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="add more columns")


def _add(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The whole ``%migrate`` grammar."""
    parser = _Parser(prog=PROG, description="Alembic migrations for the database bound to this session.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    config = _add(sub, "config", "Show the binding, or set its URL, metadata expression and directory.")
    config.add_argument("--url", help="database URL (default $DATABASE_URL, else sqlite:///default.db)")
    config.add_argument(
        "--metadata",
        nargs="+",
        type=str,
        help="Python expression giving MetaData, a Base, a db, or a list (spaces allowed; '' unsets it)",
    )
    config.add_argument("--dir", dest="directory", help="migration directory (default alembic)")

    init = _add(sub, "init", _help(Migrator.init))
    init.add_argument("directory", nargs="?", help="directory to create (default: the bound one)")

    revision = _add(sub, "revision", _help(Migrator.revision))
    revision.add_argument("-m", "--message", help="the revision's message")
    revision.add_argument("--autogenerate", action="store_true", help="fill it from the models' differences")
    revision.add_argument("--sql", action="store_true", help="write SQL instead (needs revision_environment)")
    revision.add_argument("--head", default="head", help="the head to build on (default head)")
    revision.add_argument("--splice", action="store_true", help="allow --head to name a non-head")
    revision.add_argument("--branch-label", help="a label for a new branch")
    revision.add_argument("--version-path", help="which version location to write into")
    revision.add_argument("--rev-id", help="use this revision id instead of a generated one")
    revision.add_argument("--depends-on", help="revision(s) this one depends on")
    revision.add_argument(
        "--allow-drop",
        action="store_true",
        help="let autogenerate drop tables and columns (refused otherwise)",
    )
    revision.add_argument(
        "--rename",
        action="append",
        default=[],
        type=_rename,
        metavar="TABLE.OLD:NEW",
        help="rename a column instead of dropping and re-adding it (repeatable)",
    )

    upgrade = _add(sub, "upgrade", _help(Migrator.upgrade))
    upgrade.add_argument("revision", nargs="?", default="head", help="target (default head)")
    _sql_and_tag(upgrade)

    downgrade = _add(sub, "downgrade", _help(Migrator.downgrade))
    downgrade.add_argument("revision", help="target: base, -1, an id or prefix")
    _sql_and_tag(downgrade)

    _verbose(_add(sub, "current", _help(Migrator.current)))

    history = _add(sub, "history", _help(Migrator.history))
    history.add_argument("-r", "--rev-range", help="START:END, START: or :END (current allowed)")
    _verbose(history)
    history.add_argument("-i", "--indicate-current", action="store_true", help="fill the is_current column")

    heads = _add(sub, "heads", _help(Migrator.heads))
    _verbose(heads)
    heads.add_argument(
        "--resolve-dependencies", action="store_true", help="treat dependencies as down revisions"
    )

    _verbose(_add(sub, "branches", _help(Migrator.branches)))

    show = _add(sub, "show", _help(Migrator.show))
    show.add_argument("rev", help="an id, prefix, head, heads, or current")

    stamp = _add(sub, "stamp", _help(Migrator.stamp))
    stamp.add_argument("revisions", nargs="+", help="revision(s) to stamp, e.g. head or base")
    _sql_and_tag(stamp)
    stamp.add_argument("--purge", action="store_true", help="empty the version table first")

    merge = _add(sub, "merge", _help(Migrator.merge))
    merge.add_argument("revisions", nargs="+", help="revisions to merge, or heads")
    merge.add_argument("-m", "--message", help="the merge revision's message")
    merge.add_argument("--branch-label", help="a label for the merged branch")
    merge.add_argument("--rev-id", help="use this revision id instead of a generated one")

    _add(sub, "check", _help(Migrator.check))

    diff = _add(sub, "diff", _help(Migrator.diff))
    diff.add_argument("tables", nargs="*", metavar="TABLE", help="only these tables (schema.table allowed)")
    diff.add_argument("--schema", help="only this schema")
    diff.add_argument("--include-schemas", action="store_true", help="every schema, not only the default")

    plan = _add(sub, "plan", _help(Migrator.plan))
    plan.add_argument("revision", nargs="?", default="head", help="target: head (default), -1, base, an id")
    return parser


def parse_line(parser: argparse.ArgumentParser, line: str) -> argparse.Namespace:
    """Split ``line`` like a shell would and parse it; unbalanced quotes are a UsageError."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"{PROG}: cannot split the line ({exc}); check the quotes") from None
    if not words:
        raise UsageError(f"{PROG}: which command? Try {PROG} -h for the list")
    return parser.parse_args(_attach_relative_ranges(words))


def _attach_relative_ranges(words: list[str]) -> list[str]:
    """``-r -1:`` means the range -1:, but argparse would take ``-1:`` for an option: attach it."""
    attached: list[str] = []
    for word in words:
        if attached and attached[-1] in {"-r", "--rev-range"} and word.startswith("-") and ":" in word:
            attached[-1] = f"--rev-range={word}"
        else:
            attached.append(word)
    return attached
