"""pytest-alembic's built-in checks, run inline on a scratch database (``%migrate test``).

The checks, with pytest-alembic's names: ``single_head_revision`` (the history has one head),
``upgrade`` (base to head in one run), ``model_definitions_match_ddl`` (after that upgrade,
autogenerate finds nothing: the bound models, or env.py's own ``target_metadata``, match what the
revisions built) and ``up_down_consistency`` (each revision in turn upgraded, downgraded and upgraded
again, so a downgrade that leaves something behind or drops the wrong thing is caught at its own
revision).

They run with the package's own core: a second :class:`~sakyum_magic._core.migrator.Migrator` with the same
directory, configuration and models, bound to a scratch database, calling ``upgrade``, ``downgrade`` and
``diff``. The scratch database is a temporary SQLite file for a SQLite binding, or a database created on the
bound server (``CREATE DATABASE`` on an AUTOCOMMIT connection) and dropped afterwards; the bound database
itself is never migrated. An env.py that migrates some other database of its own (a multidb directory, a URL
of its own) is refused before anything runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._authoring.scripts import as_tuple
from .._core.binding import parse_url
from .._core.errors import ConfigurationError, MigrationError, SakyumError, ScratchError
from .._core.translation import CODE_ERRORS
from .._run import aio, envrun
from .fence import watched
from .scratch import remove_stale, require_scratch_support, scratch_migrator

if TYPE_CHECKING:
    from alembic.script import Script, ScriptDirectory
    from sqlalchemy.engine import URL

    from .._core.migrator import Migrator
    from .._core.records import Operation
    from .._display.progress import Bar
    from .._display.results import ResultFrame

    Scratch = Callable[[URL], Migrator]

SINGLE_HEAD = "single_head_revision"
UPGRADE = "upgrade"
MODELS_MATCH = "model_definitions_match_ddl"
UP_DOWN = "up_down_consistency"
CHECKS = (SINGLE_HEAD, UPGRADE, MODELS_MATCH, UP_DOWN)
CHECK_COLUMNS = ["check", "ok", "detail", "seconds"]
SCRATCH_NOTE = (
    "Run on scratch databases made for the checks and removed after; the bound one was read before and "
    "after: unchanged."
)


@dataclass(frozen=True)
class CheckResult:
    """One check of ``%migrate test``: whether it passed (None: not run, ``detail`` says why)."""

    check: str
    ok: bool | None
    detail: str
    seconds: float


def run_checks(migrator: Migrator, scratch: Scratch, names: Sequence[str] = ()) -> list[CheckResult]:
    """Run the checks ``names`` (default all, in :data:`CHECKS` order) for ``migrator``'s directory,
    each on a scratch database of its own made by ``scratch`` (a Migrator for a URL)."""
    from .._core.translation import alembic_errors

    wanted = selected(names)
    script = migrator.script_directory()
    with alembic_errors(parse_url(migrator.url)):  # the map loads its files when first walked
        revisions = upgrade_order(script)
    if not revisions:
        return [CheckResult(name, None, "no revisions yet: nothing to check", 0.0) for name in wanted]
    from .._display.progress import progress

    # One bar for the command: the upgrade check's steps, then the up/down walk's revisions (the
    # scratch runs inside it draw none of their own).
    total = len(revisions) * ((UPGRADE in wanted or MODELS_MATCH in wanted) + (UP_DOWN in wanted))
    with progress(total, "test", migrator.progress) as bar:
        return _run_checks(migrator, scratch, wanted, revisions, bar)


def _run_checks(
    migrator: Migrator, scratch: Scratch, wanted: list[str], revisions: list[Script], bar: Bar
) -> list[CheckResult]:
    script = migrator.script_directory()
    results = []
    if SINGLE_HEAD in wanted:
        results.append(_timed(SINGLE_HEAD, lambda: single_head(script)))
    if wanted != [SINGLE_HEAD]:
        require_scratch_support(parse_url(migrator.url))
        remove_stale(migrator, time.time())
        with watched(migrator.engine()):
            results += _on_scratch(migrator, scratch, wanted, revisions, bar)
    return results


def _on_scratch(
    migrator: Migrator, scratch: Scratch, wanted: list[str], revisions: list[Script], bar: Bar
) -> list[CheckResult]:
    """The checks that run on scratch databases."""
    script = migrator.script_directory()
    results = []
    if UPGRADE in wanted or MODELS_MATCH in wanted:
        with scratch_migrator(migrator, scratch) as target:
            upgraded = _timed(UPGRADE, lambda: upgrade(target, script))
            bar.update(len(revisions))
            results += [upgraded] if UPGRADE in wanted else []
            if MODELS_MATCH in wanted:
                results.append(_after_upgrade(upgraded, lambda: models_match(target, script)))
    if UP_DOWN in wanted:
        with scratch_migrator(migrator, scratch) as target:
            results.append(_timed(UP_DOWN, lambda: up_down(target, revisions, bar)))
    return results


def selected(names: Sequence[str]) -> list[str]:
    """The checks to run, in their order; ConfigurationError for a name that is not a check."""
    unknown = [name for name in names if name not in CHECKS]
    if unknown:
        raise ConfigurationError(
            f"no check named {', '.join(map(repr, unknown))}: "
            f"choose from {', '.join(CHECKS)} (or none for all)"
        )
    return [name for name in CHECKS if not names or name in names]


def upgrade_order(script: ScriptDirectory) -> list[Script]:
    """Every revision, each after those it builds on (base first)."""
    return [s for s in reversed(list(script.walk_revisions("base", "heads"))) if s is not None]


def _timed(name: str, check: Callable[[], tuple[bool | None, str]]) -> CheckResult:
    start = time.perf_counter()
    ok, detail = check()
    return CheckResult(name, ok, detail, round(time.perf_counter() - start, 3))


def _after_upgrade(upgraded: CheckResult, check: Callable[[], tuple[bool | None, str]]) -> CheckResult:
    if not upgraded.ok:
        return CheckResult(MODELS_MATCH, None, "not run: the upgrade to head failed (see upgrade)", 0.0)
    return _timed(MODELS_MATCH, check)


# -- the checks ---------------------------------------------------------------------------------


def single_head(script: ScriptDirectory) -> tuple[bool, str]:
    """One head revision (several are the usual trace of a merge conflict nobody resolved)."""
    heads = sorted(script.get_heads())
    if len(heads) == 1:
        return True, f"one head: {heads[0]}"
    return False, f"{len(heads)} heads ({', '.join(heads)}): join them with %migrate merge heads -m MESSAGE"


def upgrade(target: Migrator, script: ScriptDirectory) -> tuple[bool, str]:
    """From an empty database to every head, in one run."""
    try:
        result = target.upgrade("heads", allow_lint=True)  # the checks are about behaviour, not lint
    except SakyumError as exc:
        if stopped(exc):
            raise
        return False, str(exc)
    except CODE_ERRORS as exc:
        return False, _code_error(exc, _revision_files(upgrade_order(script)), "upgrade")
    return True, f"base → {', '.join(result.after)}: {len(result.steps)} revision(s) applied"


def models_match(target: Migrator, script: ScriptDirectory) -> tuple[bool | None, str]:
    """After the upgrade, autogenerate finds no difference between the models and the database."""
    try:
        operations = target.diff() if target.metadata is not None else _env_differences(target, script)
    except ConfigurationError as exc:
        return None, f"not run: {exc}"
    if operations is None:
        return None, (
            "not run: no models are bound (%migrate config --metadata Base) and env.py gives none of its own"
        )
    if not operations:
        return True, "the models match the database the revisions build"
    listed = "; ".join(_described(o) for o in operations[:5])
    more = f"; and {len(operations) - 5} more" if len(operations) > 5 else ""
    return False, (
        f"{len(operations)} difference(s) no revision covers: {listed}{more}; "
        "write them with %migrate revision --autogenerate -m MESSAGE"
    )


def up_down(target: Migrator, revisions: list[Script], bar: Bar | None = None) -> tuple[bool, str]:
    """Each revision, base first: upgrade to it, downgrade one step below it, upgrade to it again."""
    walk = _UpDown(target, _revision_files(revisions))
    for script in revisions:
        failure = walk.visit(script)
        if failure:
            return False, failure
        if bar is not None:
            bar.update(1)
    failure = walk.finish()
    if failure:
        return False, failure
    detail = f"{len(revisions)} revision(s) each upgraded, downgraded and upgraded again"
    if walk.irreversible:
        detail += f"; downgrade not implemented (NotImplementedError): {', '.join(walk.irreversible)}"
    return True, detail


@dataclass
class _UpDown:
    """The up/down walk. A revision's upgrade after its downgrade is done by the run that applies the
    next revision when that one builds on it (two runs a revision on a linear history, not three),
    else by a run of its own. Each method returns "" when all went well, else what failed."""

    target: Migrator
    files: dict[str, str]
    irreversible: list[str] = field(default_factory=list)
    again: str | None = None
    """The revision last downgraded, not yet upgraded again."""

    def visit(self, script: Script) -> str:
        if self.again is not None and self.again not in as_tuple(script.down_revision):
            failure = self.upgrade(self.again)
            if failure:
                return failure
        return self.upgrade(script.revision) or self.downgrade(script)

    def finish(self) -> str:
        return self.upgrade(self.again) if self.again is not None else ""

    def upgrade(self, revision: str) -> str:
        again, self.again = self.again, None
        try:
            self.target.upgrade(revision, allow_lint=True)
        except MigrationError as exc:
            if stopped(exc):
                raise
            done = {step.revision for step in getattr(exc.result, "steps", ())}
            if again is not None and again not in done:
                return f"revision {again}, upgrade after its downgrade: {exc}"
            return f"revision {revision}, upgrade: {exc}"
        except SakyumError as exc:
            if stopped(exc):
                raise
            return f"revision {revision}, upgrade: {exc}"
        except CODE_ERRORS as exc:
            return _code_error(exc, self.files, "upgrade")
        return ""

    def downgrade(self, script: Script) -> str:
        revision, parents = script.revision, as_tuple(script.down_revision)
        # One step below it on its own branch (revision@-1); a merge goes down to its first parent.
        below = parents[0] if len(parents) > 1 else f"{revision}@-1"
        try:
            self.target.downgrade(below)
        except SakyumError as exc:
            if isinstance(exc.__cause__, NotImplementedError):  # pytest-alembic's sign of a downgrade
                self.irreversible.append(revision)  # that cannot be written
                return ""
            if stopped(exc):
                raise
            return f"revision {revision}, downgrade: {exc}"
        except CODE_ERRORS as exc:
            return _code_error(exc, self.files, "downgrade")
        self.again = revision
        return ""


def stopped(exc: SakyumError) -> bool:
    """Whether a run ended because the user interrupted it, or because it would reach a real database:
    that ends %migrate test (the scratch databases are still removed), rather than counting as a
    failed check."""
    from .._run.interrupts import RunStopped

    return isinstance(exc, ScratchError) or isinstance(exc.__cause__, KeyboardInterrupt | RunStopped)


def _revision_files(revisions: list[Script]) -> dict[str, str]:
    return {script.path: script.revision for script in revisions}


def _code_error(exc: BaseException, files: dict[str, str], direction: str) -> str:
    """A revision's Python error, naming the revision whose file raised it (from the traceback)."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename in files]
    where = f"revision {files[frames[-1].filename]} (line {frames[-1].lineno})" if frames else "a revision"
    return f"{direction} failed in {where}: {type(exc).__name__}: {exc}"


def _described(operation: Operation) -> str:
    name = ".".join(part for part in (operation.table, operation.name) if part)
    return f"{operation.op} {name}".strip()


def _env_differences(target: Migrator, script: ScriptDirectory) -> list[Operation] | None:
    """Autogenerate through a foreign env.py with its own ``target_metadata``; no file is written.
    None when env.py is the package's own (it takes the models from the binding only)."""
    if envrun.own_env(target.directory):
        return None
    return aio.call(target.engine(), lambda: _autogenerate(target, script))


def _autogenerate(target: Migrator, script: ScriptDirectory) -> list[Operation]:
    from .._authoring.revision import write_revision
    from .._core.translation import alembic_errors
    from .diff import operation_rows

    found: list[Operation] = []

    def keep_operations(_context: Any, _revision: Any, directives: list[Any]) -> None:
        for ops in directives[0].upgrade_ops_list:
            found.extend(operation_rows(ops.ops))
        directives[:] = []  # nothing to write

    arguments = {"message": None, "autogenerate": True, "sql": False, "head": "head", "splice": False}
    arguments |= {"branch_label": None, "version_path": None, "rev_id": None, "depends_on": None}
    with alembic_errors(parse_url(target.url)):
        write_revision(target.target(), script, target.config(), arguments, keep_operations, True)
    return found


# -- the table ----------------------------------------------------------------------------------------


def render_checks(results: Sequence[CheckResult]) -> ResultFrame:
    """``%migrate test``: one row per check; ``ok`` is NA for a check that did not run."""
    from .._display.render import plural
    from .._display.results import TEXT_DTYPE, ResultFrame

    failed = [r.check for r in results if r.ok is False]
    not_run = sum(r.ok is None for r in results)
    if failed:
        title = f"{len(failed)} of {plural(len(results), 'check')} failed: {', '.join(failed)}"
    else:
        title = f"{len(results) - not_run} of {plural(len(results), 'check')} passed"
    title += f" ({not_run} not run)" if not_run else ""
    rows = [[r.check, r.ok, r.detail, r.seconds] for r in results]
    dtypes = {"check": TEXT_DTYPE, "ok": "boolean", "detail": TEXT_DTYPE, "seconds": "float64"}
    return (
        ResultFrame(rows, columns=CHECK_COLUMNS)
        .astype(dtypes)
        .describe_with(
            title=title,
            notes=[SCRATCH_NOTE],
            empty_note="No checks were run.",
        )
    )
