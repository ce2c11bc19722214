"""``%migrate squash FROM TO``: a linear range of revisions replaced by one, proved equal.

The new revision keeps TO's id and FROM's ``down_revision``, so a database at TO (or past it) sees
nothing to do, and one below FROM upgrades through the new revision instead of the range. Its
operations are autogenerate's, comparing two scratch databases: one upgraded to FROM's parent, and
the schema of one upgraded to TO. Then it is proved: a third scratch database upgraded through the new
chain must have TO's schema exactly; if not, the old files are put back. The old files are moved to
``<directory>/squashed/FROM-TO/`` (kept, outside the versions Alembic reads).

Refused, before anything is written: a range that is not linear (a merge, a branch point, a revision
outside it built on one inside); data operations in the old files (``op.execute``, ``bulk_insert``,
``get_bind``), named, since the schema comparison cannot carry them; and a bound database whose
revision lies inside the range (it would be at a revision that no longer exists). ``sql`` writes the
file, reads it, and puts everything back.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._core.binding import parse_url
from .._core.errors import ConfigurationError, RevisionError
from .baseline import reflected, same_schema

if TYPE_CHECKING:
    from alembic.script import Script, ScriptDirectory
    from sqlalchemy import MetaData

    from .._core.migrator import Migrator

DATA_OPERATIONS = re.compile(r"\bop\.execute\(|\bbulk_insert\(|\bget_bind\(")


@dataclass(frozen=True)
class Squash:
    """A squash done (or previewed with ``sql``): the new file, the revisions it replaced, where
    they went."""

    revision: str
    path: str
    replaced: tuple[str, ...]
    kept_in: str
    source: str
    written: bool


def squash(migrator: Migrator, start: str, end: str, message: str, sql: bool = False) -> Squash:
    """Replace the revisions ``start``..``end`` with one (see the module docstring)."""
    script = migrator.script_directory()
    chain = linear_range(script, start, end)
    _refuse_data_operations(chain)
    _refuse_database_inside(migrator, chain)
    parent = chain[0].down_revision
    target = _schema_at(migrator, chain[-1].revision)
    temporary = f"squash{uuid.uuid4().hex[:10]}"
    new_file = _write(migrator, script, message, parent, temporary, target)
    kept = migrator.directory / "squashed" / f"{chain[0].revision}-{chain[-1].revision}"
    with _moved([Path(s.path) for s in chain], kept) as restore:
        path = _renamed(new_file, temporary, chain[-1].revision)
        try:
            _prove(migrator, chain[-1].revision, target)
        except (RevisionError, ConfigurationError):
            path.unlink()
            restore()
            raise
        source = path.read_text(encoding="utf-8")
        if sql:
            path.unlink()
            restore()
    replaced = tuple(s.revision for s in chain)
    return Squash(chain[-1].revision, str(path), replaced, str(kept), source, not sql)


def linear_range(script: ScriptDirectory, start: str, end: str) -> list[Script]:
    """The revisions from ``start`` to ``end``, oldest first; RevisionError unless they form one
    straight line that nothing outside builds on (except on ``end``)."""
    from alembic.script.revision import RevisionError as AlembicRevisionError
    from alembic.util import CommandError

    try:
        first, last = script.get_revision(start), script.get_revision(end)
    except (AlembicRevisionError, CommandError) as exc:
        raise RevisionError(f"squash {start} {end}: {exc}") from exc
    if first is None or last is None:
        raise RevisionError(f"squash {start} {end}: name two revisions (not base), the older first")
    chain = [last]
    while chain[-1].revision != first.revision:
        below = chain[-1].down_revision
        if below is None:
            raise RevisionError(
                f"squash: {first.revision} is not below {last.revision}; give the older one first"
            )
        if not isinstance(below, str):
            raise RevisionError(f"squash: {chain[-1].revision} is a merge; squash a range without merges")
        chain.append(script.get_revision(below))
    chain.reverse()
    for inner in chain[:-1]:
        if len(inner.nextrev) > 1 or inner.dependencies:
            raise RevisionError(
                f"squash: revision {inner.revision} has a branch or a dependency inside the range; "
                "squash a straight line of revisions"
            )
    if len(chain) < 2:
        raise RevisionError("squash: the range holds one revision; name a range of two or more")
    return chain


def _refuse_data_operations(chain: list[Script]) -> None:
    found = []
    for revision in chain:
        text = Path(revision.path).read_text(encoding="utf-8")
        calls = sorted({m.group(0).rstrip("(") for m in DATA_OPERATIONS.finditer(text)})
        if calls:
            found.append(f"{revision.revision} ({', '.join(calls)})")
    if found:
        raise ConfigurationError(
            f"squash: revision(s) {'; '.join(found)} run statements or data operations that a schema "
            "comparison cannot carry over; squash a range without them, or squash around them"
        )


def _refuse_database_inside(migrator: Migrator, chain: list[Script]) -> None:
    inside = {s.revision for s in chain[:-1]}
    current = set(migrator._current_if_any())
    stuck = sorted(current & inside)
    if stuck:
        raise RevisionError(
            f"squash: the bound database is at revision {', '.join(stuck)}, inside the range, which would "
            f"no longer exist: upgrade it to {chain[-1].revision} first, then squash; nothing was written"
        )


def _schema_at(migrator: Migrator, revision: str) -> MetaData:
    from .._features.scratch import scratch_migrator

    with scratch_migrator(migrator, migrator.bound_elsewhere) as scratch:
        scratch.upgrade(revision)
        return reflected(scratch.engine())


def _write(
    migrator: Migrator, script: ScriptDirectory, message: str, parent: Any, rev_id: str, target: Any
) -> Path:
    """Autogenerate the new revision, under a temporary id (the old files still hold the final one),
    comparing a scratch database at ``parent`` with ``target``."""
    from alembic.autogenerate import RevisionContext
    from alembic.migration import MigrationContext

    from .._features.scratch import scratch_migrator
    from .._run.database import connect

    arguments = {"message": message, "autogenerate": True, "sql": False, "head": parent or "base"}
    arguments |= {"splice": True, "branch_label": None, "version_path": None, "rev_id": rev_id}
    arguments |= {"depends_on": None}
    context = RevisionContext(migrator.config(), script, arguments)
    opts = {"compare_type": True, "compare_server_default": True, "target_metadata": target}
    # EnvironmentContext.configure's defaults, which a MigrationContext made directly lacks
    opts |= {"upgrade_token": "upgrades", "downgrade_token": "downgrades", "user_module_prefix": None}
    opts |= {
        "alembic_module_prefix": "op.",
        "sqlalchemy_module_prefix": "sa.",
        "process_revision_directives": None,
    }
    opts["render_as_batch"] = parse_url(migrator.url).get_backend_name() == "sqlite"  # SQLite's ALTER
    with scratch_migrator(migrator, migrator.bound_elsewhere) as scratch:
        if parent is not None:
            scratch.upgrade(parent)
        with connect(scratch.engine()) as connection:
            # Alembic compares only a database at the heads: the scratch one stands in for that.
            context.run_autogenerate(
                tuple(script.get_heads()), MigrationContext.configure(connection, opts=opts)
            )
            made = [s for s in context.generate_scripts() if s is not None]
    return Path(made[0].path)


def _renamed(path: Path, temporary: str, revision: str) -> Path:
    """The new file with the final id in its text and name."""
    final = path.with_name(path.name.replace(temporary, revision))
    final.write_text(path.read_text(encoding="utf-8").replace(temporary, revision), encoding="utf-8")
    path.unlink()
    return final


@contextmanager
def _moved(files: list[Path], folder: Path) -> Iterator[Any]:
    """Move ``files`` into ``folder``; the block gets a function that moves them back."""
    folder.mkdir(parents=True, exist_ok=True)
    moved = []
    for path in files:
        moved.append((path, folder / path.name))
        shutil.move(str(path), folder / path.name)

    def restore() -> None:
        for original, kept in moved:
            if kept.exists():
                shutil.move(str(kept), original)
        if not any(folder.iterdir()):
            folder.rmdir()

    yield restore


def _prove(migrator: Migrator, revision: str, target: MetaData) -> None:
    """A scratch database upgraded through the new chain has the old chain's schema, exactly."""
    from .._features.scratch import scratch_migrator

    with scratch_migrator(migrator, migrator.bound_elsewhere) as scratch:
        scratch.upgrade(revision)
        if not same_schema(scratch.engine(), target):
            raise RevisionError(
                "squash: the new revision does not build the same schema as the old ones on a scratch "
                "database, so nothing was changed (the old files are back)"
            )
