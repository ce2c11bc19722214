"""Pieces every command uses: the Config, checks on paths and ids, step recording, Alembic's errors.

How a migration runs against the database (lock, session, env.py attributes) is in
:mod:`sakyum_magic.execution`.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .binding import scrub
from .errors import (
    ConfigurationError,
    MigrationError,
    MultipleHeadsError,
    NotInitializedError,
    RevisionError,
    SakyumError,
)
from .records import MigrationResult, Step

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import URL

AMBIGUOUS_WALK = (
    "a relative step (+N/-N) is ambiguous where the history branches or merges: "
    "name the target revision instead (see %migrate history)"
)
REVISION_HINT = "see %migrate history for the revision ids"


def build_config(ini: Path, directory: Path, url: URL, **buffers: Any) -> Config:
    """An Alembic Config for ``directory``; alembic.ini is read if present, never written."""
    from alembic.config import Config

    quiet = argparse.Namespace(quiet=True)  # no "Generating ... done" lines: results are returned
    config = Config(str(ini) if ini.is_file() else None, cmd_opts=quiet, **buffers)
    # Alembic reads a relative "name:path" location as a package resource, so such a path goes absolute.
    location = directory.absolute() if ":" in str(directory) else directory
    config.set_main_option("script_location", _escape(str(location)))
    # Kept in memory only, so an env.py written by `alembic init` (which reads sqlalchemy.url)
    # also works; escaping % here is what lets passwords with % or @ survive configparser.
    config.set_main_option("sqlalchemy.url", _escape(url.render_as_string(hide_password=False)))
    return config


def _escape(value: str) -> str:
    return value.replace("%", "%%")


def check_path(path: Path, what: str = "directory") -> None:
    """ConfigurationError for a path the system cannot use at all (a NUL byte, a name too long)."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigurationError(
            f"cannot use the {what} {str(path)[:80]!r}: {reason}; "
            "choose another with %migrate config --dir DIR"
        ) from exc


_REV_ID = re.compile(r"[\w.]{1,100}")


def check_rev_id(rev_id: str | None) -> None:
    """A --rev-id becomes part of a file name: letters, digits, ``_`` and ``.`` only, 100 at most."""
    if rev_id in {"base", "head", "heads", "current"}:
        raise RevisionError(f"--rev-id {rev_id!r} is a reserved revision name: choose another id")
    if rev_id is not None and not _REV_ID.fullmatch(rev_id):
        raise RevisionError(
            f"--rev-id {rev_id[:40]!r} cannot name a revision file: use letters, digits, _ and . "
            "(at most 100), or leave it out for a generated id"
        )


@contextmanager
def undo_new_files(folder: Path) -> Iterator[None]:
    """Take back the files a failing command wrote under ``folder``.

    Alembic writes a revision file before it loads it into the revision map, so a file that breaks
    the map (a branch label already in use, say) would otherwise stay behind after the error.
    """
    before = set(folder.rglob("*"))
    try:
        yield
    except SakyumError:
        for path in sorted(set(folder.rglob("*")) - before, reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        raise


def require_initialized(directory: Path) -> None:
    """Raise NotInitializedError unless ``directory`` holds an env.py."""
    check_path(directory)
    if not (directory / "env.py").is_file():
        where = "" if directory.is_absolute() else f" (looked in {Path.cwd()})"
        raise NotInitializedError(
            f"{directory}{where} is not an Alembic directory yet: run %migrate init "
            "(or %migrate config --dir DIR to point at an existing one; relative paths follow os.chdir)"
        )


@dataclass
class StepRecorder:
    """Receives Alembic's ``on_version_apply`` calls and times each step; drives the progress bar."""

    direction: str
    total: int | None = None
    progress: bool = False
    classify: Callable[[Any, str], bool] | None = None
    steps: list[Step] = field(default_factory=list)
    _last: float = field(default_factory=time.perf_counter)
    _bar: Any = None
    _sql: list[str] = field(default_factory=list)
    _flags: list[bool] = field(default_factory=list)
    _watched: Any = None

    def __enter__(self) -> StepRecorder:
        if self.progress:
            from .compat import progress_bar_class

            self._bar = progress_bar_class()(total=self.total, desc=self.direction, unit="rev", leave=False)
        self._last = time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._watched is not None:
            from sqlalchemy import event

            event.remove(self._watched, "before_cursor_execute", self._statement)
            self._watched = None

    def watch(self, connection: Any) -> None:
        """Record the statements that write to the database on ``connection``, step by step."""
        from sqlalchemy import event

        event.listen(connection, "before_cursor_execute", self._statement)
        self._watched = connection

    def _statement(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        from .safety import writes

        if not writes(statement):
            return
        text = statement.strip()
        if parameters:
            text += f"  -- parameters: {_short(repr(parameters), 200)}"
        if self.classify is not None:
            self._flags.append(self.classify(conn, statement))
        self._sql.append(text)

    def __call__(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        now = time.perf_counter()
        direction = self.direction if self.direction == "stamp" else ("up" if step.is_upgrade else "down")
        revision = getattr(step, "up_revision_id", None) or step.up_revision_ids
        script = getattr(step, "up_revision", None)
        message = script.doc if script is not None else ""
        seconds = round(now - self._last, 4)
        sql, flags = tuple(self._sql), tuple(self._flags)
        self.steps.append(Step(_one(revision), message or "", direction, seconds, sql, flags))
        self._sql.clear()
        self._flags.clear()
        self._last = now
        if self._bar is not None:
            self._bar.update(1)


def _one(revision: Any) -> str:
    if isinstance(revision, tuple | list):
        return ", ".join(revision) if revision else "base"
    return str(revision)


@contextmanager
def alembic_errors(url: URL | None) -> Iterator[None]:
    """Turn Alembic's command and revision errors into the core's one-line errors."""
    from alembic.script.revision import MultipleHeads, ResolutionError
    from alembic.script.revision import RevisionError as AlembicRevisionError
    from alembic.util import CommandError

    try:
        yield
    except MultipleHeads as exc:
        raise multiple_heads(tuple(exc.heads), exc.argument or "head") from exc
    except (ResolutionError, AlembicRevisionError) as exc:
        message = scrub(_plain(exc), url)
        if "Ambiguous walk" in message:
            raise RevisionError(AMBIGUOUS_WALK) from exc
        raise RevisionError(f"{message}; {REVISION_HINT}") from exc
    except CommandError as exc:
        raise _command_error(scrub(_plain(exc), url)) from exc
    except SyntaxError as exc:  # a revision file Python cannot load, perhaps the one just written
        where = Path(exc.filename).name if exc.filename and exc.filename != "<string>" else "a revision file"
        line = f" (line {exc.lineno})" if exc.lineno else ""
        raise RevisionError(
            f"cannot load {where}: {exc.msg}{line}; fix or remove it "
            "(a -m message with NUL characters, triple quotes or backslashes breaks the new file's docstring)"
        ) from exc
    except AssertionError as exc:
        if not raised_by_alembic(exc):
            raise
        raise RevisionError(
            "Alembic cannot resolve these revision arguments (an empty id, a relative step past a head, "
            f"or a revision named twice?); {REVISION_HINT}"
        ) from exc


def raised_by_alembic(exc: BaseException) -> bool:
    """Whether ``exc`` comes from an assertion inside Alembic's own code (its revision-map checks).

    Alembic validates some revision arguments with ``assert``; those are bad input, not bugs here.
    An assertion in a revision file or in this package is left alone.
    """
    import traceback

    import alembic

    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and Path(frames[-1].filename).is_relative_to(Path(alembic.__file__).parent)


def _plain(exc: BaseException) -> str:
    return " ".join(str(exc).split()).rstrip(".")


def _command_error(message: str) -> ConfigurationError | RevisionError:
    heads = re.search(r"Multiple head revisions are present", message)
    if heads:
        return RevisionError(
            "several heads exist: name one (see %migrate heads), use 'heads' for all of them, "
            "or join them with %migrate merge heads -m MESSAGE"
        )
    if "Ambiguous walk" in message:
        return RevisionError(AMBIGUOUS_WALK)
    if "does not provide a MetaData object" in message:
        return ConfigurationError(
            "this env.py does not take the models from the magic (its target_metadata is None): set "
            "target_metadata in env.py, or start a directory with %migrate init, whose env.py does"
        )
    if "not up to date" in message:
        return RevisionError(f"{message}: run %migrate upgrade head first, then autogenerate")
    if re.search(r"revision|Revision|head|ancestor|branch", message):
        return RevisionError(f"{message}; {REVISION_HINT}")
    return ConfigurationError(message)


def multiple_heads(heads: tuple[str, ...], argument: str = "head") -> MultipleHeadsError:
    """The error for 'head' asked of a graph with several heads, naming the ways out."""
    listed = ", ".join(heads)
    return MultipleHeadsError(
        f"{argument!r} is ambiguous: there are {len(heads)} heads ({listed}); "
        "run %migrate upgrade heads to apply them all, or %migrate merge heads -m MESSAGE to join them",
        heads,
    )


def failed_step(exc: BaseException, result: MigrationResult, pending: list[str], url: URL) -> MigrationError:
    """A MigrationError naming the revision that failed and the statement it was running."""
    done = {step.revision for step in result.steps}
    failing = next((rev for rev in pending if rev not in done), None)
    statement = getattr(exc, "statement", None)
    reason = scrub(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0], url)
    where = f"revision {failing}" if failing else "the migration"
    applied = f"{len(result.steps)} step(s) applied before it" if result.steps else "nothing applied"
    sql = f" while running {_short(statement)!r}" if statement else ""
    todo = ". Fix the revision file and run it again"
    if result.left_behind:
        todo = (
            f". This database commits DDL at once, so {where} is partly applied "
            f"({', '.join(result.left_behind)}): undo that by hand, then fix the revision file "
            "and run it again"
        )
    return MigrationError(
        f"{result.command} failed in {where}{sql}: {reason}; {applied}, database now at "
        f"{', '.join(result.after) or 'base'}{todo}",
        result,
    )


def _short(statement: str, limit: int = 160) -> str:
    text = " ".join(str(statement).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
