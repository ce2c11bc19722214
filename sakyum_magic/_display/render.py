"""Turn the core's records into what ``%migrate`` shows: a
:class:`~sakyum_magic._display.results.ResultFrame` for every
table (whatever the data: no rows is an empty frame with its note) and a
:class:`~sakyum_magic._display.results.ResultText`
for the rest.

Every table has fixed, documented columns (the ``*_COLUMNS`` constants) and fixed dtypes, so an empty
frame has the columns and dtypes of a full one and ``d[d.destructive]`` works on both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from .._core.records import (
    Binding,
    CurrentResult,
    HistoryEntry,
    InitResult,
    MigrationResult,
    Operation,
    Plan,
    RevisionInfo,
    RevisionResult,
    Step,
)
from .results import DESTRUCTIVE_STYLE, TEXT_DTYPE, ResultFrame, ResultText
from .terminal import MARK

if TYPE_CHECKING:
    from .._fleet.records import FleetResult
    from .._guards.audit import LogEntry

__all__ = ["DESTRUCTIVE_MARK", "DESTRUCTIVE_STYLE"]

BINDING_COLUMNS = ["url", "metadata", "tables", "directory", "initialized"]
REVISION_COLUMNS = [
    "revision",
    "down_revision",
    "branch_labels",
    "message",
    "create_date",
    "is_head",
    "is_branch_point",
    "is_merge",
    "path",
]
HISTORY_COLUMNS = [*REVISION_COLUMNS[:-1], "is_current", "path"]
APPLIED_AT_COLUMN = "applied_at"
LOG_COLUMNS = [
    "applied_at",
    "revision",
    "from_revision",
    "to_revision",
    "direction",
    "seconds",
    "ok",
    "who",
    "tool",
]
VERBOSE_COLUMNS = ["depends_on", "doc"]
CURRENT_COLUMNS = ["revision", "message", "is_head"]
CURRENT_VERBOSE_COLUMNS = [*CURRENT_COLUMNS, "down_revision", "create_date", "path"]
STEP_COLUMNS = ["revision", "message", "direction", "seconds"]
OPERATION_COLUMNS = ["op", "schema", "table", "name", "detail", "destructive"]
PLAN_COLUMNS = ["step", "revision", "message", "direction", "statement", "destructive"]
PLAN_LOCK_COLUMNS = ["locks", "rewrites"]  # plan --locks
DATABASE_COLUMN = "database"
DESTRUCTIVE_MARK = MARK
DTYPES = {
    "destructive": "bool",
    "is_head": "bool",
    "is_branch_point": "bool",
    "is_merge": "bool",
    "initialized": "bool",
    "is_current": "boolean",  # NA until the database is asked (--indicate-current)
    "seconds": "float64",
    "step": "int64",
    "tables": "Int64",  # NA when the metadata fails to evaluate
    "ok": "bool",
    "steps": "int64",
    "lock_wait": "float64",
}
NO_REVISIONS = "No revisions yet: %migrate revision -m MESSAGE writes the first."


def frame(rows: Iterable[Sequence[Any]], columns: list[str], **described: Any) -> ResultFrame:
    """A ResultFrame with exactly ``columns`` and their dtypes, even when there are no rows; text
    columns get the dtype pandas gives text (so a missing value is the same in every text column).

    Built column by column, each column made with its dtype at once (not converted afterwards)."""
    import pandas as pd

    rows = list(rows)
    data = {
        name: pd.array([row[k] for row in rows], dtype=cast(Any, DTYPES.get(name, TEXT_DTYPE)))
        for k, name in enumerate(columns)
    }
    return ResultFrame(data, columns=columns).describe_with(**described)


def fleet(result: FleetResult) -> ResultFrame:
    """A fleet command: one row per target (masked), the summary line as the title; ``current`` has
    a drift column too, ``lint`` a lint column."""
    from .._fleet.records import COLUMNS

    columns = list(COLUMNS)
    extra = {"current": "drift", "lint": "lint"}.get(result.command)
    if extra:
        columns.insert(2, extra)
    rows = [
        [
            *(row.target, row.status),
            *([getattr(row, extra)] if extra else []),
            *(", ".join(row.before) or "base", ", ".join(row.after) or "base"),
            *(row.steps, row.seconds, row.lock_wait, row.error),
        ]
        for row in result.rows
    ]
    return frame(rows, columns, title=result.summary(), notes=result.notes)


def plural(count: int, noun: str) -> str:
    """``1 step``, ``2 steps``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def binding(record: Binding) -> ResultFrame:
    """The one-row table of ``%migrate config``."""
    return frame([[getattr(record, c) for c in BINDING_COLUMNS]], BINDING_COLUMNS)


def _joined(values: Sequence[str]) -> str | None:
    return ", ".join(values) or None


def _revision_row(info: RevisionInfo) -> list[Any]:
    return [
        info.revision,
        _joined(info.down_revision),
        _joined(info.branch_labels),
        info.message,
        info.create_date,
        info.is_head,
        info.is_branch_point,
        info.is_merge,
    ]


def _verbose(info: RevisionInfo, verbose: bool) -> list[Any]:
    return [_joined(info.depends_on), info.doc] if verbose else []


def revisions(infos: Iterable[RevisionInfo], verbose: bool = False, empty_note: str = "") -> ResultFrame:
    """heads, branches and show: one row per revision."""
    extra = VERBOSE_COLUMNS if verbose else []
    rows = [[*_revision_row(i), i.path, *_verbose(i, verbose)] for i in infos]
    return frame(rows, REVISION_COLUMNS + extra, empty_note=empty_note)


def history(entries: Iterable[HistoryEntry], verbose: bool = False) -> ResultFrame:
    """The history table, newest first; ``is_current`` is NA unless the database was asked."""
    extra = VERBOSE_COLUMNS if verbose else []
    entries = list(entries)
    applied = [APPLIED_AT_COLUMN] if any(e.is_current is not None for e in entries) else []
    rows = [
        [*_revision_row(e.info), e.is_current, e.info.path, *([e.applied_at][: len(applied)])]
        for e in entries
    ]
    rows = [[*row, *_verbose(e.info, verbose)] for row, e in zip(rows, entries, strict=True)]
    return frame(rows, HISTORY_COLUMNS + applied + extra, empty_note=NO_REVISIONS)


NOTHING_LOGGED = (
    "Nothing logged yet. The log is kept for a directory %migrate init wrote, and for another one "
    "with %config MigrateMagics.audit = True."
)


def log(entries: Iterable[LogEntry]) -> ResultFrame:
    """The applied-at log, newest first."""
    rows = [[getattr(e, name) for name in LOG_COLUMNS] for e in entries]  # the columns are its fields
    return frame(rows, LOG_COLUMNS, title="Applied-at log, newest first", empty_note=NOTHING_LOGGED)


def current(result: CurrentResult, verbose: bool = False) -> ResultFrame:
    """The database's revision(s); none (an empty frame with a note) when it is not versioned."""
    rows = []
    for info in result.revisions:
        row = [info.revision, info.message, info.is_head]
        if verbose:
            row += [_joined(info.down_revision), info.create_date, info.path]
        rows.append(row)
    for unknown in result.unknown:
        rows.append([unknown, "(not in this directory)", False, *([None] * 3 if verbose else [])])
    table = frame(
        rows,
        CURRENT_VERBOSE_COLUMNS if verbose else CURRENT_COLUMNS,
        empty_note=result.note
        or f"{result.url} has no revision applied (it is at base): "
        "%migrate upgrade head applies the revisions, %migrate stamp head marks it current",
    )
    databases: Sequence[str] = getattr(result, "databases", ())
    return _with_databases(table, [*databases, *[""] * (len(rows) - len(databases))])


def _with_databases(table: ResultFrame, labels: Sequence[str]) -> ResultFrame:
    """Add the ``database`` column when the rows come from more than one database (multidb)."""
    if any(labels):
        table.insert(0, DATABASE_COLUMN, [label or None for label in labels])
        table[DATABASE_COLUMN] = table[DATABASE_COLUMN].astype(TEXT_DTYPE)
    return table


def migration(
    result: MigrationResult, verbose: bool = False, show_sql: bool = False
) -> ResultFrame | ResultText:
    """upgrade, downgrade and stamp: the steps applied, the SQL written (``--sql``), or why nothing ran.

    The frame's ``sql`` holds every step's SQL; with ``show_sql`` each step's is shown under the
    table. With ``verbose``, Alembic's log lines of the run come along.
    """
    if result.sql is not None:
        return ResultText(result.sql, code=True)
    where = ", ".join(result.after) or "base"
    steps = list(result.steps)
    title = f"{result.command} {result.target}: {plural(len(steps), 'step')}; the database is now at {where}"
    if getattr(result, "stopped", False):  # a failed or interrupted run: its error follows
        run = f"{result.command} {result.target} stopped"
        empty = f"{run} before any step was applied; the database is at {where}."
        title = f"{run} after {plural(len(steps), 'step')}; the database is now at {where}"
    elif result.changed and not result.steps:
        empty = f"{result.command} {result.target}: the database is now at {where}."
    else:
        empty = f"Nothing to do: the database is already at {where}."
    table = frame(
        [[s.revision, s.message, s.direction, s.seconds] for s in steps],
        STEP_COLUMNS,
        title=title if steps else "",
        notes=getattr(result, "notes", ()),
        empty_note=empty,
        sql=steps_sql(steps),
        step_sql=[(_step_label(s), _statements(s)) for s in steps] if show_sql else (),
        log_lines=getattr(result, "log", ()) if verbose else (),
    )
    return _with_databases(table, [getattr(s, "database", "") for s in steps])


def steps_sql(steps: Iterable[Step]) -> str:
    """The statements of each step, under a comment naming the step."""
    parts = []
    for step in steps:
        if step.sql:
            parts.append(f"-- {step.direction} {step.revision}: {step.message}\n{_statements(step)}")
    return "\n\n".join(parts)


def _statements(step: Step) -> str:
    """A step's statements, each ended by ``;`` (a step that wrote nothing says so)."""
    return "\n".join(f"{s.rstrip().rstrip(';')};" for s in step.sql) or "-- no statements"


def _step_label(step: Step) -> str:
    """``up 1f2e3d4c5b6a: Added tables (3 statements)``, with the database of a multidb step."""
    where = f" on {step.database}" if getattr(step, "database", "") else ""
    return f"{step.direction} {step.revision}{where}: {step.message} ({plural(len(step.sql), 'statement')})"


def operations(ops: Iterable[Operation], **described: Any) -> ResultFrame:
    """One row per schema operation."""
    rows = [[o.op, o.schema, o.table, o.name, o.detail, o.destructive] for o in ops]
    return frame(rows, OPERATION_COLUMNS, **described)


def _lossy_note(ops: Sequence[Operation], whole: str = "of them") -> list[str]:
    lossy = sum(o.destructive for o in ops)
    if not lossy:
        return []
    return [f"{lossy} {whole} {'loses' if lossy == 1 else 'lose'} data (marked {DESTRUCTIVE_MARK})."]


def diff(ops: Sequence[Operation]) -> ResultFrame:
    """``diff``: the differences, those that lose data highlighted; none is an empty frame that says so."""
    adopt = str(getattr(ops, "note", ""))  # a database with tables but no version table says so
    return operations(
        ops,
        title=f"{plural(len(ops), 'difference')} between the models and the database" if ops else "",
        notes=[*_lossy_note(ops), *([adopt] if adopt else [])],
        empty_note=adopt or "No differences: the database matches the models.",
    )


def check(ops: Sequence[Operation]) -> ResultFrame:
    """``check`` that passed: an empty operations frame saying so (a failing check raises)."""
    return operations(ops, empty_note="No new upgrade operations detected: the models match the database.")


def refused(ops: Sequence[Operation]) -> ResultFrame:
    """Shown when autogenerate would drop tables or columns and no file was written."""
    drops = sum(o.op in {"remove_table", "remove_column"} for o in ops)
    return operations(
        ops,
        title=f"{plural(len(ops), 'difference')} between the models and the database",
        notes=[
            f"{drops} of them drop tables or columns, so no file was written.",
            *(_lossy_note(ops) if sum(o.destructive for o in ops) != drops else []),
        ],
    )


def plan(result: Plan) -> ResultFrame:
    """``plan``: one row per statement, step by step; statements that lose data are highlighted."""
    where = ", ".join(result.current) or "base"
    rows = []
    for number, step in enumerate(result.steps, 1):
        flags = step.destructive or (False,) * len(step.sql)
        for statement, lossy in zip(step.sql, flags, strict=True):
            rows.append([number, step.revision, step.message, step.direction, statement, lossy])
    if result.locks:  # plan --locks: what each statement took and rewrote
        observed = [*result.locks, *[("", "")] * (len(rows) - len(result.locks))]
        rows = [[*row, *found] for row, found in zip(rows, observed, strict=False)]
    title = (
        f"Plan: {result.command} {where} → {result.target}, {plural(len(result.steps), 'step')}; "
        "nothing was run"
    )
    notes = [f"SQL captured by a dry run ({result.method}); the database itself was not changed."]
    if result.destructive:
        notes.append(f"Statements marked {DESTRUCTIVE_MARK} lose data.")
    return frame(
        rows,
        [*PLAN_COLUMNS, *PLAN_LOCK_COLUMNS] if result.locks else PLAN_COLUMNS,
        title=title if result.steps else "",
        notes=notes if result.steps else (),
        empty_note=f"Nothing to do: the database is already at {where}.",
        sql=steps_sql(result.steps),
    )


def heads_way_out(infos: Iterable[RevisionInfo], heads: Sequence[str]) -> ResultFrame:
    """Shown when 'head' is ambiguous: the heads, and the two ways out."""
    wanted = set(heads)
    return revisions([i for i in infos if i.revision in wanted]).describe_with(
        title=f"{len(wanted)} heads: 'head' does not name one revision",
        notes=[
            "Apply every head: %migrate upgrade heads",
            "Or join them into one first: %migrate merge heads -m MESSAGE, then %migrate upgrade head",
        ],
    )


def new_revisions(result: RevisionResult) -> ResultFrame:
    """revision and merge: the operations written (autogenerate), with the written revisions attached
    as ``written`` and named in the title."""
    written = result.revisions
    titles = [f"Revision {i.revision} written: {i.path}" for i in written]
    if not written:
        empty = result.note or "No file was written."
    elif all(i.is_merge for i in written):
        empty = (
            f"A merge of {', '.join(d for i in written for d in i.down_revision)}: no operations of its own."
        )
    else:
        empty = result.note or "No operations yet: write them in upgrade() and downgrade() in the file."
    return operations(
        result.operations,
        title=titles[0] if titles else "",
        notes=[*titles[1:], *_lossy_note(result.operations, "of its operations")],
        empty_note=empty,
        written=written,
    )


def init(result: InitResult) -> ResultText:
    """What ``init`` created (or, with ``--refresh``, rewrote)."""
    if result.refreshed:
        return ResultText(f"{result.directory}/: {result.note}")
    ini = f"wrote {result.ini}" if result.ini_written else f"kept the existing {result.ini}"
    text = f"Created {result.directory}/ ({', '.join(result.files)}) and {ini}. "
    if result.note:
        return ResultText(text + result.note, level="warning")
    return ResultText(text + "Next: %migrate revision --autogenerate -m MESSAGE")


def note(text: str, level: str = "info") -> ResultText:
    """A one-paragraph message."""
    return ResultText(text, level=level)


def preformatted(text: str) -> ResultText:
    """Text shown as written (help, SQL)."""
    return ResultText(text, code=True)
