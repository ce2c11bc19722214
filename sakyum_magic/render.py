"""Turn the core's records into things that display inline: DataFrames and small display objects.

Every table has fixed, documented columns (the ``*_COLUMNS`` constants). Display objects have an
HTML form for Jupyter and a plain-text form for terminal IPython. pandas is imported on first use.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .records import (
    Binding,
    CurrentResult,
    HistoryEntry,
    InitResult,
    MigrationResult,
    Operation,
    Plan,
    RevisionInfo,
    RevisionResult,
)

if TYPE_CHECKING:
    import pandas as pd

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
VERBOSE_COLUMNS = ["depends_on", "doc"]
CURRENT_COLUMNS = ["revision", "message", "is_head"]
CURRENT_VERBOSE_COLUMNS = [*CURRENT_COLUMNS, "down_revision", "create_date", "path"]
STEP_COLUMNS = ["revision", "message", "direction", "seconds"]
NEW_REVISION_COLUMNS = ["revision", "message", "path"]
OPERATION_COLUMNS = ["op", "schema", "table", "name", "detail", "destructive"]
PLAN_COLUMNS = ["step", "revision", "message", "direction", "statement", "destructive"]
DESTRUCTIVE_MARK = "!"
DESTRUCTIVE_STYLE = "background-color: #f8d7da; color: #721c24"


class Message:
    """A one-paragraph result, such as 'already at head'."""

    def __init__(self, text: str, level: str = "info") -> None:
        self.text = text
        self.level = level

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and (other.text, other.level) == (self.text, self.level)

    __hash__ = None  # type: ignore[assignment]

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.text)

    def _repr_html_(self) -> str:
        colour = {"info": "#31708f", "warning": "#8a6d3b", "error": "#a94442"}.get(self.level, "#333")
        return f'<p style="color:{colour}">{html.escape(self.text)}</p>'


class Preformatted(str):
    """Text shown as written (offline SQL, help): a str that displays as a code block."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        return f"<pre>{html.escape(str(self))}</pre>"


@dataclass
class Report:
    """A titled result made of several named tables and notes; ``report["operations"]`` is a table."""

    title: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]

    def __repr__(self) -> str:
        parts = [self.title, *self.notes]
        for name, frame in self.tables.items():
            parts += [f"\n{name}:", _table_text(frame)]
        return "\n".join(parts)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        parts = [f"<h4>{html.escape(self.title)}</h4>"]
        parts += [f"<p>{html.escape(note)}</p>" for note in self.notes]
        for name, frame in self.tables.items():
            parts += [f"<h5>{html.escape(name)}</h5>", _table_html(frame)]
        return "\n".join(parts)


class Flagged:
    """A table whose ``destructive`` rows are highlighted: a pandas Styler in Jupyter, ``!`` in text.

    The DataFrame itself is ``.frame`` (or ``to_frame()``, a copy).
    """

    def __init__(self, table: pd.DataFrame, title: str = "", notes: Sequence[str] = ()) -> None:
        self.frame = table
        self.title = title
        self.notes = list(notes)

    def to_frame(self) -> pd.DataFrame:
        """A copy of the underlying DataFrame."""
        return self.frame.copy()

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        parts = [p for p in (self.title, *self.notes) if p]
        return "\n".join([*parts, _table_text(self.frame)])

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_html_(self) -> str:
        parts = [f"<h4>{html.escape(self.title)}</h4>"] if self.title else []
        parts += [f"<p>{html.escape(note)}</p>" for note in self.notes]
        return "\n".join([*parts, _table_html(self.frame)])


def _table_text(table: pd.DataFrame) -> str:
    """A table as text; rows that lose data (a ``destructive`` column) are marked with ``!``."""
    if "destructive" not in table.columns:
        return table.to_string(index=False)
    return _marked(table).to_string(index=False)


def _marked(table: pd.DataFrame) -> pd.DataFrame:
    """A copy with a first, unnamed column holding ``!`` on the rows that lose data."""
    marked = table.copy()
    marked.insert(0, " ", [DESTRUCTIVE_MARK if d else "" for d in table["destructive"]])
    return marked


def _table_html(table: pd.DataFrame) -> str:
    """A table as HTML; rows that lose data (a ``destructive`` column) are highlighted with a Styler."""
    from .compat import styler_available

    if "destructive" not in table.columns:
        return table.to_html(index=False)
    if not styler_available():  # pandas' Styler needs a newer Jinja2: the text form's marker instead
        return _marked(table).to_html(index=False)

    def highlight(row: pd.Series) -> list[str]:
        return [DESTRUCTIVE_STYLE if row["destructive"] else ""] * len(row)

    return table.style.apply(highlight, axis=1).hide(axis="index").to_html()


def frame(rows: Iterable[Sequence[Any]], columns: list[str]) -> pd.DataFrame:
    """A DataFrame with exactly ``columns``, even when there are no rows."""
    import pandas as pd

    return pd.DataFrame(list(rows), columns=columns)


def binding(record: Binding) -> pd.DataFrame:
    """The one-row table of ``%migrate config``."""
    return frame([[getattr(record, c) for c in BINDING_COLUMNS]], BINDING_COLUMNS)


def _revision_row(info: RevisionInfo) -> list[Any]:
    return [
        info.revision,
        ", ".join(info.down_revision) or None,
        ", ".join(info.branch_labels) or None,
        info.message,
        info.create_date,
        info.is_head,
        info.is_branch_point,
        info.is_merge,
    ]


def revisions(infos: Iterable[RevisionInfo], verbose: bool = False) -> pd.DataFrame:
    """heads, branches and show: one row per revision."""
    extra = VERBOSE_COLUMNS if verbose else []
    rows = [[*_revision_row(i), i.path, *_verbose(i, verbose)] for i in infos]
    return frame(rows, REVISION_COLUMNS + extra)


def _verbose(info: RevisionInfo, verbose: bool) -> list[Any]:
    return [", ".join(info.depends_on) or None, info.doc] if verbose else []


def history(entries: Iterable[HistoryEntry], verbose: bool = False) -> pd.DataFrame:
    """The history table, newest first; ``is_current`` is NA unless the database was asked."""
    extra = VERBOSE_COLUMNS if verbose else []
    rows = [[*_revision_row(e.info), e.is_current, e.info.path, *_verbose(e.info, verbose)] for e in entries]
    table = frame(rows, HISTORY_COLUMNS + extra)
    table["is_current"] = table["is_current"].astype("boolean")
    return table


def current(result: CurrentResult, verbose: bool = False) -> pd.DataFrame | Message:
    """The database's revision(s), or a message that it is not versioned."""
    if not result.revisions and not result.unknown:
        return Message(
            f"{result.url} has no revision applied (it is at base): "
            "%migrate upgrade head applies the revisions, %migrate stamp head marks it current"
        )
    rows = []
    for info in result.revisions:
        row = [info.revision, info.message, info.is_head]
        if verbose:
            row += [", ".join(info.down_revision) or None, info.create_date, info.path]
        rows.append(row)
    for unknown in result.unknown:
        rows.append([unknown, "(not in this directory)", False, *([None] * 3 if verbose else [])])
    return frame(rows, CURRENT_VERBOSE_COLUMNS if verbose else CURRENT_COLUMNS)


def migration(result: MigrationResult) -> pd.DataFrame | Message | Preformatted:
    """upgrade, downgrade and stamp: the steps applied, the SQL written, or why nothing ran."""
    if result.sql is not None:
        return Preformatted(result.sql)
    if not result.steps:
        where = ", ".join(result.after) or "base"
        if result.changed:
            return Message(f"{result.command} {result.target}: database now at {where}")
        return Message(f"Nothing to do: the database is already at {where}.")
    return frame([[s.revision, s.message, s.direction, s.seconds] for s in result.steps], STEP_COLUMNS)


def operations(ops: Iterable[Operation]) -> pd.DataFrame:
    """One row per schema operation."""
    return frame([[o.op, o.schema, o.table, o.name, o.detail, o.destructive] for o in ops], OPERATION_COLUMNS)


def diff(ops: Sequence[Operation]) -> Flagged | Message:
    """``diff`` and ``check``: the differences, destructive ones highlighted; none is a message."""
    if not ops:
        return Message("No differences: the database matches the models.")
    lossy = sum(o.destructive for o in ops)
    title = f"{len(ops)} difference(s) between the models and the database"
    notes = [f"{lossy} of them lose data (marked {DESTRUCTIVE_MARK})."] if lossy else []
    return Flagged(operations(ops), title, notes)


def plan(result: Plan) -> Flagged | Message:
    """``plan``: one row per statement, step by step; statements that lose data are highlighted."""
    where = ", ".join(result.current) or "base"
    if not result.steps:
        return Message(f"Nothing to do: the database is already at {where}.")
    rows = []
    for number, step in enumerate(result.steps, 1):
        flags = step.destructive or (False,) * len(step.sql)
        for statement, lossy in zip(step.sql, flags, strict=True):
            rows.append([number, step.revision, step.message, step.direction, statement, lossy])
    title = f"Plan: {result.command} {where} → {result.target}, {len(result.steps)} step(s); nothing was run"
    notes = [f"SQL captured on a {result.method}; the database itself was not changed."]
    if result.destructive:
        notes.append(f"Statements marked {DESTRUCTIVE_MARK} lose data.")
    return Flagged(frame(rows, PLAN_COLUMNS), title, notes)


def heads_way_out(infos: Iterable[RevisionInfo], heads: Sequence[str]) -> Report:
    """Shown when 'head' is ambiguous: the heads, and the two ways out."""
    wanted = set(heads)
    table = revisions([i for i in infos if i.revision in wanted])
    return Report(
        f"{len(wanted)} heads: 'head' does not name one revision",
        {"heads": table},
        [
            "Apply every head: %migrate upgrade heads",
            "Or join them into one first: %migrate merge heads -m MESSAGE, then %migrate upgrade head",
        ],
    )


def new_revisions(result: RevisionResult) -> pd.DataFrame | Report | Message:
    """revision and merge: the files written, and with autogenerate the operations in them."""
    if result.note is not None and not result.revisions:
        return Message(result.note)
    written = frame([[i.revision, i.message, i.path] for i in result.revisions], NEW_REVISION_COLUMNS)
    if not result.autogenerate:
        return written
    title = f"Revision {', '.join(i.revision for i in result.revisions)} written"
    return Report(title, {"revision": written, "operations": operations(result.operations)})


def init(result: InitResult) -> Message:
    """What ``init`` created."""
    ini = f"wrote {result.ini}" if result.ini_written else f"kept the existing {result.ini}"
    text = f"Created {result.directory}/ ({', '.join(result.files)}) and {ini}. "
    if result.note:
        return Message(text + result.note, level="warning")
    return Message(text + "Next: %migrate revision --autogenerate -m MESSAGE")
