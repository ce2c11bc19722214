"""Each revision's offline SQL and squawk findings, kept for the session: a revision is rendered and
linted once, however many times ``lint``, ``check --lint`` and ``upgrade`` look at it.

A revision's SQL is kept under what decides it: the revision file's path, size, modification time and
content digest, the digests of env.py (and the modules beside it) and of alembic.ini, the bound URL,
the dialect, the server's version and the ``-x`` arguments; only a revision whose ``upgrade()`` only
declares operations is kept (see :mod:`.declarative`). A span whose every revision is kept needs no
offline run; any other span is rendered in one run as before, and each of its revisions kept.
squawk's findings are kept under the statements they were found in and the server version they were
judged for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .findings import Hit
from .sources import RevisionSQL

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory


class LintCache:
    """What earlier lint passes of the session rendered and found, per revision."""

    def __init__(self) -> None:
        self._sql: dict[Hashable, RevisionSQL] = {}
        self._hits: dict[Hashable, tuple[Hit, ...]] = {}

    def sql(self, keys: Sequence[Hashable]) -> list[RevisionSQL] | None:
        """The kept SQL of these revisions, in order; None when any of them is not kept."""
        found = [self._sql.get(key) for key in keys]
        return None if any(item is None for item in found) else [item for item in found if item]

    def keep_sql(self, keys: dict[str, Hashable], revisions: Sequence[RevisionSQL]) -> None:
        for revision in revisions:
            if revision.revision in keys:
                self._sql[keys[revision.revision]] = revision

    def hits(self, revision: RevisionSQL, version: tuple[int, ...]) -> tuple[Hit, ...] | None:
        return self._hits.get((revision, version))

    def keep_hits(self, revision: RevisionSQL, version: tuple[int, ...], hits: Sequence[Hit]) -> None:
        self._hits[(revision, version)] = tuple(hits)

    def __len__(self) -> int:
        return len(self._sql)

    def forget(self) -> None:
        """Render and judge every revision afresh next time."""
        self._sql.clear()
        self._hits.clear()


def digest(path: Path) -> tuple[str, int, int, str] | None:
    """A file's path, size, modification time and content digest (None when there is no file)."""
    try:
        stat = path.stat()
        content = path.read_bytes()
    except OSError:
        return None
    return (str(path), stat.st_size, stat.st_mtime_ns, hashlib.sha256(content).hexdigest())


def span_keys(
    script: ScriptDirectory, start: str | None, end: str, context: Hashable
) -> dict[str, Hashable] | None:
    """Each revision from ``start`` (exclusive) to ``end`` in upgrade order, with its key; None when a
    revision has no file to key it by."""
    from alembic.util import CommandError

    try:
        found = list(script.iterate_revisions(end, start or "base", implicit_base=True))
    except CommandError:
        return None  # the offline run says what is wrong with the span
    keys: dict[str, Hashable] = {}
    for script_revision in reversed(found):
        path = getattr(script_revision, "path", None)
        identity = digest(Path(path)) if path else None
        if identity is None:
            return None
        keys[script_revision.revision] = (script_revision.revision, identity, context)
    return keys
