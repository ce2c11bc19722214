"""The Migrator's read commands (``current``, ``history``, ``heads``, ``branches``, ``show``, ``log``,
``graph``) and what a database with tables but no version table is told: read from the cached
revision map and the version table, never by running env.py where that is not needed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from .._authoring.scripts import history_range
from .._run import envrun
from .._run.aio import on_engine_loop
from .._run.database import (
    connect,
    current_heads,
    sqlite_file,
)
from . import translation
from .bound import Bound
from .errors import ConfigurationError, RevisionError
from .records import (
    CurrentResult,
    HistoryEntry,
    Operation,
    RevisionInfo,
)

if TYPE_CHECKING:
    from .._features.graph import RevisionGraph
    from .._guards.audit import LogEntry
    from .._schema.baseline import Baseline
    from .migrator import Migrator


class ReadCommands(Bound):
    """The read commands of :class:`~sakyum_magic.Migrator` (see the module docstring)."""

    # -- baselines: a database with tables but no version table (see _schema.baseline) -----

    def _baseline(self, models_match: bool | None = None) -> Baseline | None:
        if self._missing_file():
            return None
        from .._schema.baseline import baseline

        return baseline(cast("Migrator", self), models_match)

    def _refuse_unversioned(self, command: str) -> None:
        """RevisionError before ``command`` runs on a database whose schema is a revision's already."""
        adopt = self._baseline()
        if adopt is not None and (adopt.revision is not None or command == "autogenerate"):
            raise RevisionError(f"{adopt.line}; {command} refused, nothing was changed")

    def _with_baseline(self, rows: list[Operation], whole: bool = False) -> list[Operation]:
        """``rows`` with the baseline hint; ``whole``: they compare every table of the default schema,
        so they say whether the models match."""
        adopt = self._baseline(not rows if whole else None)
        if adopt is None:
            return rows
        from .._schema.baseline import Differences

        return Differences(rows, adopt.line)

    # -- commands that read ---------------------------------------------------------------

    @on_engine_loop
    def current(self) -> CurrentResult:
        """Show the revision(s) the database is at.

        With the env.py ``%migrate init`` writes, the version table is read with one query and looked
        up in the cached map; any other env.py is run as ``alembic current`` runs it, so every
        database it configures (a multidb directory) is covered.
        """
        snapshot = self.snapshot(light=True)
        if self._missing_file():  # connecting would create it: say so instead
            note = f"no database file at {sqlite_file(self.url)} yet: %migrate upgrade creates it"
            return CurrentResult(self.masked_url(), (), note=note)
        if envrun.own_env(self.directory):
            found = [("", current_heads(self.engine()))]
        else:
            found = envrun.read_heads(self.target(), snapshot.script)
        if not any(heads for _database, heads in found):
            adopt = self._baseline()
            if adopt is not None:
                return CurrentResult(self.masked_url(), (), note=adopt.line)
        with translation.alembic_errors(self.parsed_url()):
            rows = [(database, rev, self._info(snapshot, rev)) for database, heads in found for rev in heads]
        known = [(database, info) for database, _rev, info in rows if info is not None]
        return CurrentResult(
            self.masked_url(),
            tuple(info for _database, info in known),
            tuple(rev for _database, rev, info in rows if info is None),
            tuple(database for database, _info in known) if any(d for d, _i in known) else (),
        )

    @on_engine_loop
    def history(self, rev_range: str | None = None, indicate_current: bool = False) -> list[HistoryEntry]:
        """List the revisions, newest first; ``rev_range`` is START:END as in ``alembic history -r``.

        :param rev_range: START:END, START: or :END (current allowed).
        :param indicate_current: ask the database, and fill the is_current column.
        """
        snapshot = self.snapshot(light=True)
        needs_db = indicate_current or "current" in (rev_range or "")
        current = self._current_if_any() if needs_db else ()
        base, head = history_range(rev_range, current)
        with translation.alembic_errors(self.parsed_url()):
            walked = snapshot.memo(
                ("history", base, head),
                lambda: tuple(snapshot.infos(snapshot.light.walk_revisions(base, head))),
            )
        mark, applied = set(current), self._applied_at() if indicate_current else {}
        return [
            HistoryEntry(i, (i.revision in mark) if indicate_current else None, applied.get(i.revision))
            for i in walked
        ]

    @on_engine_loop
    def log(self, limit: int | None = None) -> list[LogEntry]:
        """List the applied-at log, newest first: when each step ran, from and to, by whom, ok or failed.

        :param limit: only the newest N entries.
        """
        from .._guards import audit

        if limit is not None and limit < 0:
            raise ConfigurationError(f"limit (-n) {limit}: give how many entries to list, 0 or more")
        if self._missing_file():
            return []
        with connect(self.engine()) as connection:
            return audit.entries(connection, limit)

    def heads(self, resolve_dependencies: bool = False) -> list[RevisionInfo]:
        """List the head revisions (with ``resolve_dependencies``, dependencies count as down revisions).

        :param resolve_dependencies: treat dependencies as down revisions.
        """
        snapshot = self.snapshot(light=True)
        script = snapshot.light
        with translation.alembic_errors(self.parsed_url()):
            names: Any = "heads" if resolve_dependencies else tuple(script.get_heads())
            return snapshot.infos(script.get_revisions(names))

    def branches(self) -> list[RevisionInfo]:
        """List the branch points: revisions with more than one child."""
        snapshot = self.snapshot(light=True)
        with translation.alembic_errors(self.parsed_url()):
            return [snapshot.info(s) for s in snapshot.light.walk_revisions() if s.is_branch_point]

    @on_engine_loop
    def show(self, rev: str) -> list[RevisionInfo]:
        """Show the revision(s) named by ``rev`` (an id, prefix, head, heads, or current).

        :param rev: an id, prefix, head, heads, or current.
        """
        snapshot = self.snapshot(light=True)
        names: Any = self._current_if_any() if rev == "current" else rev
        with translation.alembic_errors(self.parsed_url()):
            found = snapshot.light.get_revisions(names)
        return snapshot.infos(found)

    def graph(self, show_all: bool = False) -> RevisionGraph:
        """Draw the revision graph, with the database's current revision(s) marked "you are here".

        :param show_all: draw every revision; otherwise long linear runs collapse into one node.
        """
        from .._features.graph import revision_graph

        script = self.snapshot(light=True).light
        current, note = self._current_or_note()
        return revision_graph(script, current, show_all=show_all, note=note)
