"""Alembic's errors turned into the core's one-line errors, by exception type and ``__cause__``."""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from .binding import scrub
from .errors import (
    ConfigurationError,
    MigrationError,
    MultipleHeadsError,
    RevisionError,
)
from .records import MigrationResult

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

AMBIGUOUS_WALK = (
    "a relative step (+N/-N) is ambiguous where the history branches or merges: "
    "name the target revision instead (see %migrate history)"
)
REVISION_HINT = "see %migrate history for the revision ids"
PACKAGE = Path(__file__).resolve().parents[1]

# What a revision's own Python code may raise while it runs (a typo, a missing key, a downgrade that
# refuses with NotImplementedError): recognised by type, and taken as the revision's own only when
# its traceback passes through a file of the migration directory (see user_frames).
CODE_ERRORS: tuple[type[BaseException], ...] = (
    ArithmeticError,
    AssertionError,
    AttributeError,
    ImportError,
    LookupError,
    NameError,
    OSError,
    RuntimeError,
    TypeError,
    ValueError,
)


@contextmanager
def alembic_errors(url: URL | None) -> Iterator[None]:
    """Turn Alembic's command and revision errors into the core's one-line errors.

    ``ScriptDirectory`` wraps its revision errors in ``CommandError(...) from cause``; the cause's
    type (MultipleHeads, ResolutionError, CycleDetected, ...) decides the message.
    """
    from alembic.script.revision import RevisionError as AlembicRevisionError
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        cause = exc.__cause__
        if isinstance(cause, AlembicRevisionError):
            raise revision_error(cause, url) from exc
        raise _command_error(scrub(_plain(exc), url)) from exc
    except AlembicRevisionError as exc:
        raise revision_error(exc, url) from exc
    except SyntaxError as exc:  # a revision file Python cannot load, perhaps the one just written
        where = Path(exc.filename).name if exc.filename and exc.filename != "<string>" else "a revision file"
        line = f" (line {exc.lineno})" if exc.lineno else ""
        raise RevisionError(
            f"cannot load {where}: {exc.msg}{line}; fix or remove it "
            "(a -m message with NUL characters, triple quotes or backslashes breaks the new file's docstring)"
        ) from exc
    except KeyError as exc:  # the revision map meets a down_revision that no file defines
        if not raised_by_alembic(exc):
            raise
        raise RevisionError(
            f"a revision names {exc.args[0]!r} as its down_revision (or depends_on), and no file defines "
            f"{exc.args[0]!r}: fix that revision file, or restore the missing one"
        ) from exc
    except AssertionError as exc:
        if not raised_by_alembic(exc):
            raise
        raise RevisionError(
            "Alembic cannot resolve these revision arguments (an empty id, a relative step past a head, "
            f"or a revision named twice?); {REVISION_HINT}"
        ) from exc


def revision_error(cause: BaseException, url: URL | None) -> RevisionError:
    """The one-line error for one of Alembic's revision-map errors, chosen by its type."""
    from alembic.script.revision import CycleDetected, MultipleHeads, RangeNotAncestorError

    if isinstance(cause, MultipleHeads):
        return multiple_heads(tuple(cause.heads), cause.argument or "head")
    if isinstance(cause, CycleDetected):
        return RevisionError(
            f"the revisions {', '.join(sorted(cause.revisions))} form a cycle (each names the next as its "
            "down_revision or depends_on): fix down_revision in those files"
        )
    if isinstance(cause, RangeNotAncestorError):
        return RevisionError(
            f"revision {cause.lower} is not below {cause.upper} in the history, so there is no path "
            f"between them; {REVISION_HINT}"
        )
    message = scrub(_plain(cause), url)
    if message.startswith("Ambiguous walk"):  # a plain RevisionError: Alembic gives it no type of its own
        return RevisionError(AMBIGUOUS_WALK)
    return RevisionError(f"{message}; {REVISION_HINT}")


@contextmanager
def offline_batch(command: str) -> Iterator[None]:
    """``COMMAND --sql`` over a batch revision (SQLite's ALTER by table copy): Alembic's batch mode
    reflects the table from a live database, so offline it refuses; plan shows the same SQL."""
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        if not raised_in(exc, "operations", "batch.py"):
            raise
        raise MigrationError(
            f"{command} --sql cannot write this SQL: a batch revision (batch_alter_table) needs a live "
            "database to read the table from; %migrate plan shows the SQL each step would run "
            "(a dry run, rolled back)"
        ) from exc


def raised_in(exc: BaseException, *where: str) -> bool:
    """Whether ``exc`` was raised in Alembic's module ``where`` (e.g. "operations", "batch.py")."""
    import traceback

    import alembic

    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and Path(frames[-1].filename) == Path(alembic.__file__).parent.joinpath(*where)


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
    # A CommandError with no revision error behind it: Alembic's argument checks ("Range revision
    # not allowed", "--sql ... does not make any sense"); its own words are the message.
    if re.search(r"revision|Revision|head|ancestor|branch", message):
        return RevisionError(f"{message}; {REVISION_HINT}")
    return ConfigurationError(message)


def multiple_heads(heads: tuple[str, ...], argument: str = "head") -> MultipleHeadsError:
    """The error for 'head' asked of a graph with several heads, naming the ways out."""
    listed = ", ".join(heads)
    twice = sorted({rev for rev in heads if heads.count(rev) > 1})
    if twice:
        return MultipleHeadsError(
            f"the revision id {', '.join(twice)} is used by more than one file: give one of them "
            "another revision id (and fix the down_revision that names it)",
            heads,
        )
    return MultipleHeadsError(
        f"{argument!r} is ambiguous: there are {len(heads)} heads ({listed}); "
        "run %migrate upgrade heads to apply them all, or %migrate merge heads -m MESSAGE to join them",
        heads,
    )


def code_errors() -> tuple[type[BaseException], ...]:
    """:data:`CODE_ERRORS`, with SQLAlchemy's own errors (a bad argument to ``op``, a compile error)."""
    from sqlalchemy.exc import SQLAlchemyError

    return (*CODE_ERRORS, SQLAlchemyError)


def user_frames(exc: BaseException, places: Sequence[str | Path]) -> list[traceback.FrameSummary]:
    """The user's frames of ``exc``'s traceback: those in a file under ``places`` (env.py, the revision
    files), then the library frames below the last of them (what the revision called, down to where
    it raised), never this package's. Empty when no user file is in it (an error of this package or
    of a library, not the revision's)."""
    frames = traceback.extract_tb(exc.__traceback__)
    roots = [Path(place).resolve() for place in places]
    own = [k for k, frame in enumerate(frames) if _under(frame.filename, roots)]
    if not own:
        return []
    return [
        frame
        for k, frame in enumerate(frames)
        if (k in own or k > own[-1]) and not _under(frame.filename, [PACKAGE])
    ]


def formatted(exc: BaseException, frames: list[traceback.FrameSummary], url: URL | None) -> str:
    """A traceback of ``frames`` only, as Python prints one (any password in the message masked)."""
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)]
    lines += traceback.format_exception_only(type(exc), exc)
    return scrub("".join(lines).rstrip(), url)


def _under(filename: str, roots: list[Path]) -> bool:
    path = Path(filename)
    if not path.is_absolute():
        return False
    resolved = path.resolve()
    return any(resolved.is_relative_to(root) for root in roots)


def failed_step(
    exc: BaseException,
    result: MigrationResult,
    failing: str | None,
    url: URL,
    places: Sequence[str | Path] = (),
    cli_before: tuple[str, ...] | None = None,
) -> MigrationError:
    """A MigrationError naming the revision that failed and the statement it was running, or, for a
    Python error in its code, the line that raised it and its traceback through the user's files.

    :param places: the migration directory and version locations, for a Python error.
    :param cli_before: where the ``alembic`` CLI would have left the database instead (it runs every
        revision in one transaction here), or None when it would have left the same.
    """
    statement = getattr(exc, "statement", None)
    text = str(getattr(exc, "orig", None) or exc).strip()
    reason = scrub(text.splitlines()[0], url) if text else ""
    where = f"revision {failing}" if failing else "the migration"
    applied = f"{len(result.steps)} step(s) applied before it" if result.steps else "nothing applied"
    sql = f" while running {_short(statement)!r}" if statement else ""
    frames = user_frames(exc, places) if places else []
    if frames:
        last = _last_own(frames, places)
        sql, reason = f" (line {last.lineno} of {Path(last.filename).name})", _python_reason(exc, url)
    differs = ""
    if cli_before is not None:
        differs = (
            " (each revision was committed on its own; the alembic CLI runs them all in one transaction "
            f"on this database and would have rolled back to {', '.join(cli_before) or 'base'})"
        )
    todo = ". Fix the revision file and run it again"
    if result.left_behind:
        todo = (
            f". This database commits DDL at once, so {where} is partly applied "
            f"({', '.join(result.left_behind)}): undo that by hand and run %migrate stamp "
            f"{', '.join(result.after) or 'base'} (until then upgrade refuses), then fix the revision file "
            "and run it again"
        )
    return MigrationError(
        f"{result.command} failed in {where}{sql}: {reason}; {applied}, database now at "
        f"{', '.join(result.after) or 'base'}{differs}{todo}",
        result,
        formatted(exc, frames, url) if frames else "",
    )


def failed_offline(
    exc: BaseException, command: str, places: Sequence[str | Path], url: URL
) -> MigrationError:
    """A Python error in a revision's code while its SQL was written offline: nothing ran anywhere."""
    frames = user_frames(exc, places)
    last = _last_own(frames, places)
    return MigrationError(
        f"{command} failed while writing its SQL offline, in {Path(last.filename).name} "
        f"(line {last.lineno}): {_python_reason(exc, url)}; nothing was run on the database. Fix the "
        "revision file and run it again",
        None,
        formatted(exc, frames, url),
    )


def _last_own(frames: list[traceback.FrameSummary], places: Sequence[str | Path]) -> traceback.FrameSummary:
    """The innermost of ``frames`` in env.py or a revision file (where the user's code raised)."""
    roots = [Path(place).resolve() for place in places]
    return [frame for frame in frames if _under(frame.filename, roots)][-1]


def _python_reason(exc: BaseException, url: URL | None) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {scrub(text.splitlines()[0], url)}" if text else type(exc).__name__


def interrupted(
    result: MigrationResult, total: int, running: str | None = None, cli_before: tuple[str, ...] | None = None
) -> MigrationError:
    """The error for a run the user stopped: how far it got, and where the database is (and where the
    ``alembic`` CLI's one transaction would have left it, ``cli_before``, where that differs)."""
    of = f" of {total}" if total else ""
    at = ", ".join(result.after) or "base"
    differs = ""
    if cli_before is not None:
        differs = (
            f". Each revision was committed on its own: the alembic CLI, which runs them all in one "
            f"transaction on this database, would have rolled back to {', '.join(cli_before) or 'base'}"
        )
    todo = f" (the revision in progress was rolled back, or not begun); run %migrate {result.command} "
    todo += f"{result.target} again to continue"
    if result.left_behind:
        todo = (
            f"; this database commits DDL at once, so revision {running or 'in progress'} is partly "
            f"applied ({', '.join(result.left_behind)}): undo that by hand and run %migrate stamp {at} "
            "(until then upgrade refuses), then run the command again"
        )
    return MigrationError(
        f"{result.command} interrupted: {len(result.steps)}{of} revision(s) applied, database at "
        f"{at}{todo}{differs}",
        result,
    )


def _short(statement: str, limit: int = 160) -> str:
    text = " ".join(str(statement).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
