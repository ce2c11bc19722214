"""Random and garbled ``%migrate`` lines: each either works or raises exactly ``UsageError``, and a
line that fails changes no file and no database.

The lines run through a real ``InteractiveShell`` against a real SQLite project (three revisions, the
database at the second). Before every line the whole working directory is fingerprinted (every path
and a hash of every file, the database included) together with the session's binding; a failing line
must leave both as they were. After a line that worked, the project is restored from a template.

Sub-commands and options are read from the live parser, so new options get fuzzed too. Lines are
guarded so that nothing can reach outside the test's directory: paths stay relative, server URLs
point at a closed local port, and metadata expressions cannot call anything.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import socket
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from sakyum_magic._frontend.parser import HelpRequested, build_parser, parse_line

from .models import USERS

REVISIONS = ("1a2b3c4d5e6f", "1a2b99887766", "ffee00112233")  # "1a2b" is an ambiguous prefix


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


PORT = _closed_port()

REVS = [
    "head", "heads", "base", "current", "+1", "+2", "-1", "-2", "+0", "-0", "+99999999999999999999",
    "1a2b", "1a2b3c4d5e6f", "ffee", "ffee00112233", "1a2b99887766", "ffee00112233+1", "1a2b3c4d5e6f-1",
    "main@head", "heads@head", "head@head", "x@", "@", "@head", "base+1", "head-1", "head+1",
    "1a2b:ffee", ":", "::", "base:heads", "current:", ":current", "1a2b3c4d5e6f:ffee00112233",
    "a" * 300, "f" * 5000, "0" * 40, "1a2b3c4d5e6f" * 50, "-", "--", "+", "%", "€", "ревизия", "\u202e",
    "\x00", "None", "null", ",", "1a2b3c4d5e6f,ffee00112233",
]  # fmt: skip
URLS = [
    "sqlite:///test.db", "sqlite:///other.db", "sqlite://", "sqlite:///:memory:", "sqlite:///",
    "sqlite:///missing/dir/x.db", "sqlite:///.", "sqlite:///alembic", "sqlite:///test.db?timeout=abc",
    "sqlite:///test.db?foo=bar", "sqlite:///test.db?mode=ro", "sqlite+pysqlite:///other.db",
    "sqlite+nosuchdriver:///x.db", f"postgresql+psycopg://u:p%40ss@127.0.0.1:{PORT}/db",
    f"postgresql+psycopg://127.0.0.1:{PORT}/db?connect_timeout=abc", f"mysql+pymysql://root:@127.0.0.1:{PORT}/db",
    f"postgresql+psycopg2://u:pw@127.0.0.1:{PORT}/db", f"nosuchdialect://u:pw@127.0.0.1:{PORT}/db",
    "postgresql://127.0.0.1:notaport/db", "postgresql://u:p@ss@127.0.0.1:1/db", "://", "", " ", "sqlite",
    "sqlite:", "sqlite:/x.db", "http://127.0.0.1:1/", "sqlite:///\x00.db", "sqlite:///é.db", "%", "%(here)s",
]  # fmt: skip
DIRS = [
    "alembic", "other", "", " ", "new dir", "sub/dir", "x\x00y", "alembic/versions", "é", ".", "test.db",
    "alembic.ini", "alembic/env.py", "d" * 300, "%(here)s", "~", "-", "--", "a\nb",
]  # fmt: skip
METADATA = [
    "Base", "Base.metadata", "[Base, Base]", "(Base,)", "[]", "()", "None", "1", "'x'", "nope",
    "Base.", "Base.nope", "Base[0]", "[Base, 1]", "lambda: Base", "lambda: 1/0", "lambda: nope",
    "{}", "{Base}", "Base,", ")", "'", "1/0", "-Base", "Base.metadata.tables", "User", "[User]",
]  # fmt: skip
WORDS = ["-m", "--sql", "--url", "--dir", "--metadata", "-h", "--help", "-v", "--", "-", "=", "--x", "-mm"]
NOISE = ["'", '"', "\\", " ", "-", "=", "\x00", "é", "\u202e", "\n", "\t", "#", "%", "@", ":", "/", "*"]

SAFE_EXPRESSION = re.compile(r"[\w\s.\[\],'\"+\-/:{}]*")


def _choices() -> dict[str, list[argparse.Action]]:
    """Every sub-command of the live parser with its actions (argparse keeps these private)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: [a for a in p._actions if a.dest != "help"] for name, p in sub.choices.items()}


COMMANDS = _choices()


def _values(dest: str) -> st.SearchStrategy[str]:
    pools = {
        "url": URLS,
        "metadata": METADATA,
        "directory": DIRS,
        "version_path": DIRS,
        "message": [
            "first",
            "",
            "x" * 2000,
            "ünïcode ✓",
            "a/b",
            "..",
            "%(here)s",
            "'",
            "-m",
            'a"""b',
            "\\N",
            "\x00",
        ],
    }
    anything = st.sampled_from(REVS + DIRS + ["first", "users", "users.name:full_name"])
    pool = pools.get(dest)
    listed = st.sampled_from(pool) if pool else st.sampled_from(REVS)
    return st.one_of(listed, listed, anything, st.text(max_size=30))


def _quote(word: str) -> str:
    """Usually quote a word shell-style, sometimes leave it bare (so spaces and quotes break it)."""
    return "'" + word.replace("'", "'\"'\"'") + "'"


@st.composite
def structured_lines(draw: st.DrawFn) -> str:
    """A sub-command with a random selection of its own options (and sometimes others') and values."""
    command = draw(st.sampled_from([*COMMANDS, "upgarde", "UPGRADE", "", "-h", "help"]))
    actions = COMMANDS.get(command, [])
    words = [command]
    for action in draw(st.lists(st.sampled_from(actions), max_size=5)) if actions else []:
        if action.option_strings:
            words.append(draw(st.sampled_from(action.option_strings)))
        if action.nargs != 0:
            for _ in range(draw(st.integers(1, 2)) if action.nargs in ("+", "*") else 1):
                value = draw(_values(action.dest))
                words.append(_quote(value) if draw(st.integers(0, 4)) else value)
    if draw(st.integers(0, 6)) == 0:
        words.insert(draw(st.integers(1, len(words))), draw(st.sampled_from(WORDS)))
    return " ".join(words)


@st.composite
def garbled_lines(draw: st.DrawFn) -> str:
    """A structured line with characters inserted, deleted, or the line cut short."""
    line = draw(structured_lines())
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(line)))
        kind = draw(st.integers(0, 3))
        if kind == 0:
            line = line[:where] + draw(st.sampled_from(NOISE)) + line[where:]
        elif kind == 1:
            line = line[:where] + line[where + 1 :]
        elif kind == 2:
            line = line[:where]
        else:
            line = line[:where] + draw(st.text(max_size=5)) + line[where:]
    return line


any_line = st.one_of(structured_lines(), structured_lines(), garbled_lines(), st.text(max_size=60))


@st.composite
def rebound_sequences(draw: st.DrawFn) -> list[str]:
    """``config`` with another URL, directory or metadata, then commands against that binding."""
    words = ["config"]
    for option, pool in (("--url", URLS), ("--dir", DIRS), ("--metadata", METADATA)):
        if draw(st.booleans()):
            words += [option, _quote(draw(st.sampled_from(pool)))]
    return [" ".join(words), *draw(st.lists(structured_lines(), min_size=1, max_size=2))]


sequences = st.one_of(st.lists(any_line, min_size=1, max_size=3), rebound_sequences())


# -- guards: keep every line inside the test directory -----------------------------------------


def _inside(root: Path, *parts: str) -> bool:
    target = os.path.normpath(os.path.join(root, *parts))
    return target == str(root) or target.startswith(str(root) + os.sep)


def _url_is_local(value: str, root: Path) -> bool:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except (ArgumentError, ValueError, TypeError):
        return True  # the binding refuses it: nothing connects
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        return database in ("", ":memory:") or (not os.path.isabs(database) and _inside(root, database))
    return url.host == "127.0.0.1" and url.port == PORT


def is_safe(line: str, root: Path) -> bool:
    """Whether running ``line`` can only touch the test directory, a closed port and the namespace."""
    try:
        args = parse_line(build_parser(), line)
    except (UsageError, HelpRequested):
        return True  # the parser stops it: nothing runs
    values = vars(args)
    for dest in ("directory", "version_path"):
        path = values.get(dest)
        if isinstance(path, str) and (os.path.isabs(path) or not _inside(root, path)):
            return False
    rev_id = values.get("rev_id")
    if isinstance(rev_id, str) and not _inside(root, "alembic", "versions", rev_id):
        return False
    url = values.get("url")
    if isinstance(url, str) and not _url_is_local(url, root):
        return False
    metadata = values.get("metadata")
    expression = " ".join(metadata) if isinstance(metadata, list) else metadata
    return expression is None or expression in METADATA or bool(SAFE_EXPRESSION.fullmatch(expression))


# -- the project, its fingerprint, and resetting it --------------------------------------------


def fingerprint(root: Path) -> dict[str, str]:
    """Every path under ``root`` with the SHA-256 of its content ("dir" for directories)."""
    found = {}
    for path in root.rglob("*"):
        name = str(path.relative_to(root))
        found[name] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


class Project:
    """The shell and its magic, a template copy of the project, and tallies of what happened."""

    def __init__(self, shell: Any, root: Path, template: Path) -> None:
        self.shell, self.root, self.template = shell, root, template
        self.magics = shell.magics_manager.registry["MigrateMagics"]
        self.tally: Counter[str] = Counter()

    def binding(self) -> tuple[Any, ...]:
        return (self.magics.url, self.magics.metadata, self.magics.directory)

    def build(self) -> None:
        self.shell.run_cell(USERS)
        run = self.shell.run_line_magic
        run("migrate", "config --url sqlite:///test.db --metadata Base")
        run("migrate", "init")
        run("migrate", f"revision --autogenerate -m users --rev-id {REVISIONS[0]}")
        run("migrate", f"revision -m second --rev-id {REVISIONS[1]}")
        run("migrate", f"revision -m third --rev-id {REVISIONS[2]} --branch-label main")
        run("migrate", f"upgrade {REVISIONS[1]}")
        self.magics.close()
        shutil.copytree(self.root, self.template, dirs_exist_ok=True)

    def reset(self) -> None:
        """Put the files, the database and the binding back as the template has them."""
        self.magics.close()
        for path in self.root.iterdir():
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        shutil.copytree(self.template, self.root, dirs_exist_ok=True)
        self.magics.url, self.magics.metadata, self.magics.directory = "sqlite:///test.db", "Base", "alembic"
        self.magics.ini = "alembic.ini"

    def run(self, lines: list[str]) -> None:
        """Run the lines in order; a failing one must be a plain UsageError and change nothing."""
        changed = False
        try:
            for line in lines:
                if not is_safe(line, self.root):
                    self.tally["skipped (unsafe)"] += 1
                    continue
                before, binding = fingerprint(self.root), self.binding()
                self.tally["tried"] += 1
                try:
                    self.shell.run_line_magic("migrate", line)
                except UsageError as exc:
                    assert type(exc) is UsageError, f"{type(exc).__name__} from {line!r}"
                    assert fingerprint(self.root) == before, f"{line!r} failed ({exc}) but changed files"
                    assert self.binding() == binding, f"{line!r} failed ({exc}) but changed the binding"
                    self.tally["usage error"] += 1
                else:
                    self.tally["worked"] += 1
                    changed = True
        finally:
            if changed:
                self.reset()


@pytest.fixture
def project(
    shell: Any, workdir: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Project]:
    """The template project; compiled revision files are not written (they are not the user's files).

    The tallies (lines tried, worked, failed with UsageError) go into the test report's properties.
    """
    old = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    made = Project(shell, workdir, tmp_path_factory.mktemp("template"))
    made.build()
    yield made
    sys.dont_write_bytecode = old
    request.node.user_properties.extend(sorted(made.tally.items()))


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,  # the example database would be written into the directory under test
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@pytest.mark.slow
@fuzz(4000)
@given(line=st.one_of(garbled_lines(), st.text(max_size=80)))
def test_garbled_lines_work_or_raise_usage_error(project: Project, line: str) -> None:
    project.run([line])


@pytest.mark.slow
@fuzz(1200)
@given(lines=sequences)
def test_random_command_sequences_work_or_change_nothing(project: Project, lines: list[str]) -> None:
    project.run(lines)


# Lines the fuzzer found (each once crashed with another exception, or failed after changing files),
# kept as fixed cases. The last line of each must fail with a plain UsageError and change nothing.
FOUND = [
    ["stamp nope --purge"],  # the purge was committed before the bad revision was noticed
    ["stamp main@head m --purge"],  # an assertion inside Alembic, after the purge
    ["revision --splice --branch-label main"],  # the file was written, then the map refused it
    ['revision -m \'a"""b\''],  # the message breaks the new file's docstring
    ["revision -m '\\N'"],
    ["revision -m 'a\x00b'"],
    ["revision -m x --rev-id 'a\x00b'"],
    ["merge --rev-id " + "f" * 300 + " heads"],  # file name too long
    ["init " + "d" * 300],
    ["init 'x\x00y'"],
    ["config --dir " + "d" * 300],
    ["merge --rev-id base heads"],  # a reserved name: the file was written, then unreadable
    ["revision -m x --rev-id 1a2b3c4d5e6f"],  # an id in use: a second file made a cycle
    ["merge '' 1a2b3c4d5e6f"],  # Alembic's own assert on an empty id
    ["upgrade ffee00112233+1"],
    ["upgrade --sql ffee00112233+1"],
    ["downgrade --sql '::'"],
    ["stamp '::' --sql"],
    ["config --url 'sqlite:///test.db?timeout=abc'", "current"],
    ["config --url 'sqlite:///missing/dir/x.db'", "upgrade head"],
    ["config --url sqlite:///other.db", "upgrade nope"],  # left an empty other.db behind
    [f"config --url 'nosuchdialect://u:pw@127.0.0.1:{PORT}/db'"],  # named when set (was: upgrade --sql)
    ["config --url 'sqlite:///\x00.db'"],
    [f"config --url 'postgresql://u:p@ss@127.0.0.1:{PORT}/db'"],  # an unencoded @ in the password
    ["config --url sqlite:///other.db --metadata 'lambda: nope'"],  # the binding changed anyway
]


@pytest.mark.parametrize("lines", FOUND, ids=lambda lines: repr(lines[-1])[:40])
def test_lines_found_by_fuzzing_fail_cleanly(project: Project, lines: list[str]) -> None:
    *setup, last = lines
    for line in setup:
        project.shell.run_line_magic("migrate", line)
    before, binding = fingerprint(project.root), project.binding()
    with pytest.raises(UsageError) as caught:
        project.shell.run_line_magic("migrate", last)
    assert type(caught.value) is UsageError
    assert fingerprint(project.root) == before
    assert project.binding() == binding
