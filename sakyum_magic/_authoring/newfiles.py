"""Checks for the files ``revision`` and ``merge`` write: a usable id, and no file left after a failure."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .._core.errors import ConfigurationError, RevisionError, SakyumError

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
def undo_new_files(folder: Path, forget: Callable[[], None] | None = None) -> Iterator[None]:
    """Take back the files a failing command wrote under ``folder``.

    Alembic writes a revision file before it loads it into the revision map, so a file that breaks
    the map (a branch label already in use, say) would otherwise stay behind after the error.
    ``forget`` drops the loaded revision map, into which Alembic already added the file taken back.
    """
    before = set(folder.rglob("*"))
    try:
        with writable():
            yield
    except SakyumError:
        for path in sorted(set(folder.rglob("*")) - before, reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        if forget is not None:
            forget()
        raise


@contextmanager
def writable() -> Iterator[None]:
    """A folder or file the command must write that the system refuses (no permission, a parent that
    does not exist or cannot hold one, a read-only or full disk): one error naming it."""
    try:
        yield
    except PermissionError as exc:
        where = exc.filename or "a file"
        raise ConfigurationError(
            f"cannot write {where}: {exc.strerror or 'permission denied'}; make it writable, or choose "
            "another directory (%migrate config --dir DIR)"
        ) from exc
    except OSError as exc:
        if exc.filename is None:  # not about a path (a socket): not this function's to explain
            raise
        raise ConfigurationError(
            f"cannot write {str(exc.filename)[:120]}: {exc.strerror or type(exc).__name__}; "
            "choose a directory that can be created there (%migrate init DIR)"
        ) from exc
