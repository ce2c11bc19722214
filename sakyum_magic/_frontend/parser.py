"""The ``%migrate`` command line, derived from the command table (:mod:`sakyum_magic._commands.table`).

Each sub-parser comes from one :class:`~sakyum_magic._commands.table.Command`: its summary and description are
the function's docstring, each argument's help its ``:param:`` line, each default the signature's. A bad line
raises ``UsageError``; ``-h`` raises :class:`HelpRequested` so that nothing runs.
"""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from IPython.core.error import UsageError

from .._commands.table import COMMANDS, OPTIONS, Command
from .._core.binding import mask_text

PROG = "%migrate"
DESCRIPTION = "Alembic migrations for the database bound to this session."

_PARAM = re.compile(r":param\s+(?P<name>\w+):\s*(?P<text>.*)")
_MARKUP = re.compile(r":\w+:`~?\.?(?P<name>[^`]+)`|``(?P<code>[^`]+)``")


class HelpRequested(Exception):
    """``-h`` was given: carries the help text to show instead of running anything."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse quotes the offending argument, which may be a URL with a password in it.
        raise UsageError(
            mask_line(f"{self.prog}: {message}{_did_you_mean(message)} (see {self.prog} -h)")
        ) from None

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(mask_line(message.strip()) if message else f"{self.prog}: stopped") from None

    def print_help(self, file: Any = None) -> NoReturn:
        raise HelpRequested(self.format_help())


def mask_line(text: str) -> str:
    """``mask_text`` word by word, on the words that hold ``://`` only: a URL's credentials never span
    whitespace, and this keeps a long line linear (the pattern backtracks over long words)."""
    if "://" not in text:
        return text
    return "".join(mask_text(word) if "://" in word else word for word in re.split(r"(\s+)", text))


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


# -- help from docstrings ---------------------------------------------------------------------


def plain(text: str, flags: Mapping[str, str] | None = None) -> str:
    """Docstring text without reST markup: ``x`` and :meth:`x` become x; ``name`` of an option in
    ``flags`` becomes its flag, as it is typed (``allow_lint``: --allow-lint)."""
    flags = flags or {}
    return _MARKUP.sub(lambda m: flags.get(m["code"], m["code"]) or m["name"].rsplit(".", 1)[-1], text)


def summary(function: Callable[..., Any], flags: Mapping[str, str] | None = None) -> str:
    """The first line of ``function``'s docstring: the command's one-line help."""
    return plain((inspect.getdoc(function) or "").splitlines()[0] if function.__doc__ else "", flags)


def description(function: Callable[..., Any], flags: Mapping[str, str] | None = None) -> str:
    """The docstring without its ``:param:`` lines (what ``%migrate SUB -h`` shows above the options)."""
    kept = []
    for paragraph in (inspect.getdoc(function) or "").split("\n\n"):
        if not paragraph.lstrip().startswith(":"):
            kept.append(" ".join(paragraph.split()))
    return plain("\n\n".join(kept), flags)


def param_help(function: Callable[..., Any]) -> dict[str, str]:
    """Each parameter's help from the ``:param name: text`` lines of the docstring (text may go on
    over indented lines)."""
    found: dict[str, str] = {}
    name = None
    for line in (inspect.getdoc(function) or "").splitlines():
        match = _PARAM.match(line.strip())
        if match:
            name = match["name"]
            found[name] = match["text"]
        elif name is not None and line.startswith((" ", "\t")) and line.strip():
            found[name] += " " + line.strip()
        else:
            name = None
    return {key: plain(text).rstrip(".") for key, text in found.items()}


# -- the parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The whole ``%migrate`` grammar, one sub-parser per entry of the command table."""
    parser = _Parser(prog=PROG, description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for command in COMMANDS.values():
        typed = typed_flags(command)
        help_text = summary(command.target(), typed)
        child = sub.add_parser(command.name, help=help_text, description=description(command.target(), typed))
        for flags, settings in arguments(command):
            child.add_argument(*flags, **settings)
    return parser


def typed_flags(command: Command) -> dict[str, str]:
    """Each option of ``command`` with its flag as typed, for its help (``allow_lint``: --allow-lint)."""
    return {name: OPTIONS[name].flags[-1] for name in command.option_names()}


def arguments(command: Command) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """``add_argument`` calls for ``command``: positionals, then options, each with its help."""
    helps = param_help(command.target())
    defaults = {p.name: p.default for p in command.parameters()}
    made: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    for name, nargs in command.positionals().items():
        settings: dict[str, Any] = {"help": helps.get(name, "")}
        if nargs is not None:
            settings["nargs"] = nargs
        if nargs in {"?", "*"} and defaults.get(name, inspect.Parameter.empty) is not inspect.Parameter.empty:
            settings["default"] = defaults[name]
        made.append(((name,), _with_default(settings, defaults.get(name))))
    for name in command.option_names():
        option = OPTIONS[name]
        settings = {"dest": name, "help": helps.get(name) or option.help, **option.settings}
        if "default" not in settings and name in defaults and settings.get("action") != "store_true":
            settings["default"] = defaults[name]
        made.append((option.flags, _with_default(settings, settings.get("default"))))
    return made


def _with_default(settings: dict[str, Any], default: Any) -> dict[str, Any]:
    """Say the default in the help when there is one worth saying and the help does not already."""
    worth = isinstance(default, str) and default and "default" not in settings["help"]
    if worth and settings.get("nargs") != "+":
        settings["help"] = f"{settings['help'].rstrip('.')} (default {default})".strip()
    return settings


def parse_line(parser: argparse.ArgumentParser, line: str) -> argparse.Namespace:
    """Split ``line`` like a shell would and parse it; unbalanced quotes are a UsageError."""
    try:
        words = split_line(line)
    except ValueError as exc:
        raise UsageError(f"{PROG}: cannot split the line ({exc}); check the quotes") from None
    if not words:
        raise UsageError(f"{PROG}: which command? Try {PROG} -h for the list")
    args, unknown = parser.parse_known_args(_attach_relative_ranges(words))
    if unknown:  # the subcommand's words: its own help says what it takes
        where = f"{PROG} {args.command}"
        raise UsageError(mask_line(f"{where}: unrecognized arguments: {' '.join(unknown)} (see {where} -h)"))
    return args


# One piece of a line as POSIX shlex reads it: blanks between words, a '...' or "..." string, a
# backslash and the character it escapes, or a run of ordinary characters.
_PIECE = re.compile(  # possessive: nothing to backtrack into, and several times faster on long text
    r"""(?P<blank>[ \t\r\n]++)|'(?P<single>[^']*+)'|"(?P<double>(?:[^"\\]++|\\.)*+)"|\\(?P<escaped>.)"""
    r"""|(?P<plain>[^ \t\r\n'"\\]++)""",
    re.DOTALL,
)
_IN_DOUBLE_QUOTES = re.compile(r'\\([\\"])')
_ENDS_ESCAPING = re.compile(r"(?:[^\\]|\\.)*\\", re.DOTALL)


def split_line(line: str) -> list[str]:
    """``shlex.split(line)``, in linear time (shlex grows each word a character at a time, so a
    200,000-character message took it seconds)."""
    words: list[str] = []
    word: list[str] | None = None
    position = 0
    while position < len(line):
        piece = _PIECE.match(line, position)
        if piece is None:
            raise ValueError(_unsplittable(line[position:]))
        position = piece.end()
        if piece["blank"] is not None:
            if word is not None:
                words.append("".join(word))
            word = None
            continue
        word = [] if word is None else word
        if piece["double"] is not None:
            word.append(_IN_DOUBLE_QUOTES.sub(_escaped, piece["double"]))
        else:
            word.append(next(text for text in piece.groups()[1:] if text is not None))
    if word is not None:
        words.append("".join(word))
    return words


def _escaped(found: re.Match[str]) -> str:
    return found[1]


def _unsplittable(rest: str) -> str:
    """shlex's reason: the line ends right after a backslash, or inside quotes."""
    escaping = rest == "\\" or (rest[0] == '"' and _ENDS_ESCAPING.fullmatch(rest[1:]) is not None)
    return "No escaped character" if escaping else "No closing quotation"


def _attach_relative_ranges(words: list[str]) -> list[str]:
    """``-r -1:`` means the range -1:, but argparse would take ``-1:`` for an option: attach it."""
    attached: list[str] = []
    for word in words:
        if attached and attached[-1] in {"-r", "--rev-range"} and word.startswith("-") and ":" in word:
            attached[-1] = f"--rev-range={word}"
        else:
            attached.append(word)
    return attached
