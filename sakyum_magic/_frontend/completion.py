"""Tab completion in ``%migrate`` lines, derived from the command table (:mod:`sakyum_magic._commands.table`).

``%load_ext`` registers one IPython matcher (:class:`~sakyum_magic._frontend.magic.MigrateCompleter`) that
imports this module on the first completion inside a ``%migrate`` line. What is offered depends on where the
cursor is: the subcommands; a subcommand's options (its entry in the table); a revision argument's ids (a
unique prefix completes to its id), ``head``, ``heads``, ``base``, relative steps and ``label@head``; a path
for ``--dir``, ``--ini`` and ``init DIR``; the metadata candidates of the namespace for ``--metadata``; the
check names of ``test``.

Revisions come from the migrator's cached revision map
(:meth:`~sakyum_magic._core.migrator.Migrator.snapshot`), read on a worker thread
(:mod:`.completion_index`), never from the database. Whatever goes wrong while completing (no
directory yet, a revision file that does not load or raises even SystemExit) means no completions:
a traceback in the middle of typing helps nobody.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._commands.table import COMMANDS, OPTIONS, Command
from .parser import split_line

if TYPE_CHECKING:
    from .._authoring.scripts import Snapshot
    from .magic import MigrateMagics

# The line up to the cursor: `%migrate ...`, or `name = %migrate ...`.
_MAGIC_LINE = re.compile(r"^\s*(?:[\w.\[\]'\"]+\s*=\s*)?%migrate\s(?P<rest>.*)$", re.DOTALL)
HELP_FLAGS = ("-h", "--help")

REVISION_ARGUMENTS = frozenset({"revision", "revisions", "rev", "head", "depends_on"})
DIRECTORY_ARGUMENTS = frozenset({"directory", "version_path"})
FILE_ARGUMENTS = frozenset({"ini"})

# The words besides revision ids that each command's revision argument takes, and the forms of a
# branch label (``label@head``); anything not listed takes DEFAULT_KEYWORDS and ``label@head``.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "upgrade": ("head", "heads", "base", "+1", "+2"),
    "downgrade": ("base", "head", "-1", "-2"),
    "plan": ("head", "heads", "base", "+1", "-1"),
    "stamp": ("head", "heads", "base"),
    "show": ("head", "heads", "base", "current"),
    "merge": ("heads",),
}
DEFAULT_KEYWORDS = ("head", "heads", "base")
LABEL_FORMS: dict[str, tuple[str, ...]] = {
    "upgrade": ("head", "+1"),
    "downgrade": ("base", "-1"),
    "plan": ("head", "base"),
    "stamp": ("head", "base"),
    "merge": (),
}
STEP = {"upgrade": "+1", "downgrade": "-1"}
"""The step relative to a revision id typed in full (``ae10+1``)."""


@dataclass(frozen=True)
class Found:
    """What to offer: the candidates (already filtered by the fragment) and their IPython type."""

    fragment: str
    texts: tuple[str, ...] = ()
    kind: str = "param"


def matcher_result(magics: MigrateMagics, before_cursor: str, limit: int | None = None) -> dict[str, Any]:
    """IPython's matcher result (API v2) for the text of the line up to the cursor, at most ``limit``
    completions (IPython would drop the rest after building them)."""
    from IPython.core.completer import SimpleCompletion

    found = complete(magics, before_cursor)
    return {
        "completions": [SimpleCompletion(text, type=found.kind) for text in found.texts[:limit]],
        "matched_fragment": found.fragment,
        "suppress": bool(found.texts),
        "ordered": True,
    }


def complete(magics: MigrateMagics, before_cursor: str) -> Found:
    """The word being typed and what may replace it; nothing outside a ``%migrate`` line."""
    line = before_cursor.rsplit("\n", 1)[-1]
    match = _MAGIC_LINE.match(line)
    if match is None:
        return Found("")
    rest = match["rest"]
    try:
        words = split_line(rest)
    except ValueError:  # inside an unclosed quote (a message): nothing to offer there
        return Found("")
    if not rest or rest[-1].isspace():
        words.append("")
    *before, fragment = words
    if not line.endswith(fragment):  # quoted or escaped: IPython replaces only text as typed
        return Found("")
    if not before:
        names = [*COMMANDS, *HELP_FLAGS] if fragment.startswith("-") else list(COMMANDS)
        return Found(fragment, _starting(names, fragment), "command")
    command = COMMANDS.get(before[0])
    if command is None:
        return Found(fragment)
    return _in_command(magics, command, before[1:], fragment)


# -- where the cursor is within a command --------------------------------------------------------


def _flags(command: Command) -> dict[str, str]:
    """Each flag of the command with the name of the option it sets."""
    return {flag: name for name in command.option_names() for flag in OPTIONS[name].flags}


def _takes_value(name: str) -> bool:
    return OPTIONS[name].settings.get("action") not in {"store_true", "store_false", "count"}


@dataclass
class _Position:
    """What the words before the fragment have used up: options given, positional slots filled."""

    given: set[str]
    positionals: int
    expecting: str | None  # the option whose value comes next
    many: str | None  # an nargs="+" option still taking values


def _position(command: Command, words: list[str]) -> _Position:
    flags = _flags(command)
    position = _Position(set(), 0, None, None)
    for word in words:
        if position.expecting is not None:
            position.expecting = None
            continue
        name = flags.get(word.split("=", 1)[0]) if word.startswith("-") else None
        if name is None:
            if position.many is None:
                position.positionals += 1
            continue
        position.given.add(name)
        position.many = None
        if _takes_value(name) and "=" not in word:
            position.expecting = name
            if OPTIONS[name].settings.get("nargs") == "+":
                position.many = name
    return position


def _slot(command: Command, filled: int) -> str | None:
    """The positional parameter the next positional word goes to, if any is left."""
    for index, (name, nargs) in enumerate(command.positionals().items()):
        if index == filled or nargs in {"+", "*"}:
            return name
    return None


def _in_command(magics: MigrateMagics, command: Command, words: list[str], fragment: str) -> Found:
    position = _position(command, words)
    wanted = position.expecting or position.many
    if wanted is not None and not (position.many and fragment.startswith("-")):
        return _value(magics, command, wanted, fragment)
    flags = _flags(command)
    if fragment.startswith("-") and "=" in fragment:
        flag, value = fragment.split("=", 1)
        name = flags.get(flag)
        if name is None or not _takes_value(name):
            return Found(fragment)
        inner = _value(magics, command, name, value)
        return Found(fragment, tuple(f"{flag}={text}" for text in inner.texts), inner.kind)
    slot = _slot(command, position.positionals)
    wants_value = slot is not None and not fragment.startswith("--")  # a value never starts with --
    values = _value(magics, command, slot, fragment) if wants_value and slot else Found(fragment)
    if fragment.startswith("-") or (slot is None and not fragment):
        repeatable = {n for n in position.given if OPTIONS[n].settings.get("action") == "append"}
        open_flags = [f for f, n in flags.items() if n not in position.given or n in repeatable]
        options = _starting([*open_flags, *HELP_FLAGS], fragment)
        return Found(fragment, (*values.texts, *options), "option" if not values.texts else values.kind)
    return values


# -- the values of one argument -------------------------------------------------------------


def _value(magics: MigrateMagics, command: Command, name: str, fragment: str) -> Found:
    """Candidates for the argument ``name`` of ``command``, starting with ``fragment``."""
    if name in REVISION_ARGUMENTS:
        return Found(fragment, _revisions(magics, command.name, fragment), "revision")
    if name == "rev_range":
        return Found(fragment, _revision_range(magics, fragment), "revision")
    if name in DIRECTORY_ARGUMENTS or (name == "directory" and command.name == "init"):
        return Found(fragment, paths(fragment, directories_only=True), "path")
    if name in FILE_ARGUMENTS:
        return Found(fragment, paths(fragment, directories_only=False), "path")
    if name == "metadata":
        return Found(fragment, _starting(_metadata_names(magics), fragment), "instance")
    if name == "checks":
        from .._features.checks import CHECKS

        return Found(fragment, _starting(CHECKS, fragment), "param")
    return Found(fragment)


def _revisions(magics: MigrateMagics, command: str, fragment: str) -> tuple[str, ...]:
    names = revision_names(magics)
    if names is None:
        return ()
    keywords = KEYWORDS.get(command, DEFAULT_KEYWORDS)
    forms = LABEL_FORMS.get(command, ("head",))
    labelled = [f"{label}@{form}" for label in names.labels for form in forms]
    found = [*_starting(keywords, fragment), *_starting(labelled, fragment), *_starting(names.ids, fragment)]
    step = STEP.get(command)
    if step is not None and fragment in names.known:
        found.append(fragment + step)
    return tuple(found)


def _revision_range(magics: MigrateMagics, fragment: str) -> tuple[str, ...]:
    """``history -r START:END``: the side being typed, either side of the colon."""
    start, colon, end = fragment.partition(":")
    names = revision_names(magics)
    if names is None:
        return ()
    words = ["base", "current", *names.ids] if not colon else ["heads", "head", "current", *names.ids]
    if colon:
        return tuple(f"{start}:{word}" for word in _starting(words, end))
    return tuple(f"{word}:" for word in _starting(words, start))


@dataclass(frozen=True)
class RevisionNames:
    """What completion needs from one revision map: ids newest first, and the branch labels."""

    ids: tuple[str, ...]
    labels: tuple[str, ...]
    known: frozenset[str]


NOT_READY = RevisionNames((), (), frozenset())
"""While the map is still being read: the keywords (head, base, ...) are offered, no ids yet."""


def revision_names(magics: MigrateMagics) -> RevisionNames | None:
    """The revision map's names as far as they are ready (see :mod:`.completion_index`): NOT_READY
    while it is read the first time; None when there is no usable map."""
    from .completion_index import BackgroundValue

    if magics.completion_names is None:
        magics.completion_names = BackgroundValue(lambda: read_names(magics))
    count = magics.shell.execution_count if magics.shell is not None else 0
    names: RevisionNames | None = magics.completion_names.get((count, magics.lines_run))
    return NOT_READY if names is None and not magics.completion_names.known else names


def read_names(magics: MigrateMagics) -> RevisionNames:
    """The names, read from the migrator's cached map (loading it if need be; on a worker thread)."""
    from .._core.translation import alembic_errors

    snapshot = magics.migrator.snapshot(light=True)
    with alembic_errors(None):  # the map loads its files when first walked
        return snapshot.memo(("completion",), lambda: _names(snapshot))


def _names(snapshot: Snapshot) -> RevisionNames:
    scripts = [s for s in snapshot.light.walk_revisions() if s is not None]
    ids = tuple(s.revision for s in scripts)
    labels = tuple(sorted({label for s in scripts for label in s.branch_labels}))
    return RevisionNames(ids, labels, frozenset(ids))


def _metadata_names(magics: MigrateMagics) -> list[str]:
    from .._core.binding import find_candidates
    from .completion_index import contained
    from .session import namespace

    # Looking into the namespace's objects runs their properties: user code, kept off the completer.
    found = contained(lambda: sorted(find_candidates(namespace(magics))))
    return found or []


def paths(fragment: str, directories_only: bool) -> tuple[str, ...]:
    """Entries of the folder ``fragment`` points into whose names start as its last part does;
    folders end in ``/``; hidden entries only when the part starts with a dot."""
    folder, _, start = fragment.rpartition("/")
    prefix = f"{folder}/" if "/" in fragment else ""
    where = os.path.expanduser(prefix or ".")
    try:
        entries = sorted(os.scandir(where), key=lambda entry: entry.name)
    except (OSError, ValueError):
        return ()
    found = []
    for entry in entries:
        if not entry.name.startswith(start) or (entry.name.startswith(".") and not start.startswith(".")):
            continue
        is_dir = _is_dir(entry)
        if is_dir or not directories_only:
            found.append(_quoted(prefix + entry.name) + ("/" if is_dir else ""))
    return tuple(found)


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _quoted(path: str) -> str:
    return path if shlex.quote(path) == path else shlex.quote(path)


def _starting(candidates: Iterable[str], fragment: str) -> tuple[str, ...]:
    return tuple(c for c in candidates if c.startswith(fragment))
