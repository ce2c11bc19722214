"""What ``%migrate`` returns: every table is a :class:`ResultFrame`, everything else a :class:`ResultText`.

A ResultFrame *is* a pandas DataFrame (``isinstance`` holds, whatever the data): an empty diff is an
empty frame with the usual columns whose display says "No differences". What describes the table
(title, notes, the note shown when it has no rows, the command and the ``alembic`` command that
does the same, its SQL and Alembic's log, and the revisions it wrote) travels with it as
attributes, and shows both as HTML (Jupyter) and as text (terminal IPython, sized to the terminal).
Rows whose ``destructive`` column is true lose data: highlighted in HTML, marked ``!`` in text.
The SQL is shown only step by step, when ``step_sql`` holds it (``--show-sql``); the ``alembic``
line only while ``show_cli`` is true (``%config MigrateMagics.show_cli``).

This module imports pandas, so it is imported on the first ``%migrate``, never by ``%load_ext``.
"""

from __future__ import annotations

import html
import os
import re
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from .footer import equivalent_html, footer_html, footer_lines
from .terminal import (
    UNBROKEN,
    cell_text,
    frame_text,
    is_number,
    rows_shown,
    shown_path,
    terminal_width,
    wrap_prose,
)

if TYPE_CHECKING:
    from .._core.records import RevisionInfo

DESTRUCTIVE_STYLE = "background-color: #f8d7da; color: #721c24"
TEXT_DTYPE = pd.Series(["text"]).dtype  # object before pandas 3, str from pandas 3 on


class ResultFrame(pd.DataFrame):
    """A pandas DataFrame returned by ``%migrate``, with what describes it as attributes.

    ``title`` and ``notes``: lines shown above the table. ``empty_note``: shown instead of the table
    when it has no rows ("Nothing to do: ..."). ``command``: the ``%migrate`` line that made it
    (passwords masked). ``alembic``: the equivalent ``alembic`` command line, "" when Alembic has
    none. ``equivalent``: the line shown under the result that names it, or the nearest ``alembic``
    command, or says there is none; shown while ``show_cli`` is true. ``sql``: the SQL the command
    ran or would run. ``step_sql``: (step, its SQL) pairs shown under the table (``--show-sql``).
    ``log_lines``: Alembic's log lines of the run. ``written``: the revisions the command wrote
    (:class:`~sakyum_magic.RevisionInfo`).

    A frame derived from it (``d[d.destructive]``, ``d[["op", "table"]]``, ``d.copy()``) is a
    ResultFrame too and keeps the command, SQL, log and written revisions; the title and notes,
    which describe the rows, are kept only while the rows are the same ones.
    """

    _metadata: ClassVar[list[str]] = [
        "title",
        "notes",
        "empty_note",
        "command",
        "alembic",
        "equivalent",
        "show_cli",
        "sql",
        "step_sql",
        "log_lines",
        "written",
    ]
    _ABOUT_THE_ROWS: ClassVar[tuple[str, ...]] = ("title", "notes", "empty_note", "step_sql")
    _TUPLES: ClassVar[frozenset[str]] = frozenset({"notes", "log_lines", "step_sql"})

    title: str = ""
    notes: tuple[str, ...] = ()
    empty_note: str = ""
    command: str = ""
    alembic: str = ""
    equivalent: str = ""
    show_cli: bool = True
    sql: str = ""
    step_sql: tuple[tuple[str, str], ...] = ()
    log_lines: tuple[str, ...] = ()
    written: tuple[RevisionInfo, ...] = ()

    @property
    def _constructor(self) -> type[ResultFrame]:
        return ResultFrame

    def __finalize__(self, other: Any, method: str | None = None, **kwargs: Any) -> ResultFrame:
        super().__finalize__(other, method=method, **kwargs)  # type: ignore[misc]
        if isinstance(other, ResultFrame) and not _same_rows(self, other):
            for name in self._ABOUT_THE_ROWS:
                object.__setattr__(self, name, getattr(ResultFrame, name))
        return self

    def describe_with(self, **attributes: Any) -> ResultFrame:
        """Set the describing attributes (``title=``, ``notes=``, ...) and return the frame itself."""
        for name, value in attributes.items():
            if name not in self._metadata:
                raise TypeError(f"ResultFrame has no attribute {name!r} to describe it")
            object.__setattr__(self, name, tuple(value) if name in self._TUPLES else value)
        return self

    def to_text(self, width: int | None = None) -> str:
        """The text form: title, notes, the table fitted to ``width`` (default the terminal's), then
        each step's SQL, Alembic's log, the command and its ``alembic`` equivalent; the lines of
        prose wrapped at word boundaries to ``width``."""
        width = width or terminal_width()
        parts = [line for p in (self.title, *self.notes) if p for line in wrap_prose(p, width)]
        if len(self) == 0 and self.empty_note:
            parts += wrap_prose(self.empty_note, width)
        else:
            parts.append(frame_text(self, width))
            if len(self) == 0:
                parts.append("(no rows)")
        if self.step_sql:
            parts.append("SQL of each step:")
            parts += [_indented(step_sql, "    ", heading=f"  {step}") for step, step_sql in self.step_sql]
        if self.log_lines:
            parts += ["Alembic's log:", *(f"  {line}" for line in self.log_lines)]
        parts += footer_lines(self.command, self.equivalent, self.show_cli, width)
        return "\n".join(parts)

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.to_text())

    def _repr_html_(self) -> str:
        parts = [f"<p><strong>{html.escape(self.title)}</strong></p>"] if self.title else []
        parts += [f"<p>{html.escape(note)}</p>" for note in self.notes if note]
        if len(self) == 0 and self.empty_note:
            parts.append(f"<p><em>{html.escape(self.empty_note)}</em></p>")
        else:
            parts.append(html_table(self))
        parts += [_details(step, step_sql) for step, step_sql in self.step_sql]
        if self.log_lines:
            parts.append(_details(f"Alembic's log ({len(self.log_lines)} lines)", "\n".join(self.log_lines)))
        parts += footer_html(self.command, self.equivalent, self.show_cli)
        return "<div>\n" + "\n".join(parts) + "\n</div>"


class ResultText(str):
    """A result that is text, not a table: init's message, the SQL of ``--sql``, help.

    It is a ``str``; ``code`` texts (SQL, help) show as preformatted lines, the others as a
    paragraph coloured by ``level`` (``info`` or ``warning``). A text a command made carries that
    command as a ResultFrame does (``command``, ``alembic``, ``equivalent``, ``show_cli``), and
    shows the ``alembic`` line under it while ``show_cli`` is true; the string itself is only the
    text.
    """

    code: bool
    level: str
    command: str
    alembic: str
    equivalent: str
    show_cli: bool
    _DESCRIBED: ClassVar[frozenset[str]] = frozenset({"command", "alembic", "equivalent", "show_cli"})

    def __new__(cls, text: str, *, code: bool = False, level: str = "info") -> ResultText:
        made = super().__new__(cls, text)
        made.code = code
        made.level = level
        made.command = made.alembic = made.equivalent = ""
        made.show_cli = True
        return made

    def describe_with(self, **attributes: Any) -> ResultText:
        """Set ``command=``, ``alembic=``, ``equivalent=``, ``show_cli=`` and return the text itself."""
        for name, value in attributes.items():
            if name not in self._DESCRIBED:
                raise TypeError(f"ResultText has no attribute {name!r} to describe it")
            setattr(self, name, value)
        return self

    def to_text(self, width: int | None = None) -> str:
        """The text form: the text, then its ``alembic`` line when one is shown; a message (not code)
        and the ``alembic`` line wrapped at word boundaries to ``width`` (default the terminal's)."""
        width = width or terminal_width()
        text = str(self)
        if not self.code:
            text = "\n".join(part for line in text.split("\n") for part in wrap_prose(line, width))
        shown = self._shown_equivalent()
        return "\n".join([text.rstrip("\n"), *wrap_prose(shown, width)]) if shown else text

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.to_text())

    def _repr_html_(self) -> str:
        if self.code:
            page = f"<pre>{html.escape(str(self))}</pre>"
        else:
            colour = {"info": "#31708f", "warning": "#8a6d3b"}.get(self.level, "#333")
            page = f'<p style="color:{colour}">{html.escape(str(self))}</p>'
        shown = self._shown_equivalent()
        return f"{page}\n{equivalent_html(shown)}" if shown else page

    def _shown_equivalent(self) -> str:
        return self.equivalent if self.show_cli else ""


def html_table(frame: pd.DataFrame) -> str:
    """The frame as an HTML table (no index) laid out for reading: text left-aligned, numbers
    right-aligned, long text wrapped within a column no wider than :data:`TEXT_WIDTH`, timestamps and
    revision ids never wrapped, paths shown relative to the working directory (the full path on
    hover); rows that lose data highlighted."""
    rows, (skipped, tail) = rows_shown(frame)
    cut = len(rows) - tail if skipped else None
    lossy = list(frame["destructive"].iloc[rows]) if "destructive" in frame.columns else [False] * len(rows)
    kinds = [_kind(str(name), dtype) for name, dtype in frame.dtypes.items()]
    aligned = ["right" if kind == "number" else "left" for kind in kinds]
    head = "".join(
        f'<th style="text-align: {side}; {CELL}">{_breakable(str(c), "_")}</th>'
        for c, side in zip(frame.columns, aligned, strict=True)
    )
    body = []
    for position, values in enumerate(frame.iloc[rows].itertuples(index=False, name=None)):
        if position == cut:
            body.append(f'<tr><td colspan="{len(frame.columns)}">... {skipped} more rows ...</td></tr>')
        flagged = lossy[position] is not pd.NA and bool(lossy[position])
        style = f' style="{DESTRUCTIVE_STYLE}"' if flagged else ""
        cells = "".join(
            _html_cell(v, kind, str(c)) for v, kind, c in zip(values, kinds, frame.columns, strict=True)
        )
        body.append(f"<tr{style}>{cells}</tr>")
    return (
        '<table class="dataframe sakyum-table" style="table-layout: auto; margin-left: 0">\n<thead><tr>'
        f"{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"
    )


TEXT_WIDTH = "36em"
"""The widest a column of long text gets before it wraps (a message, a statement, a doc); it gets no
narrower than ``TEXT_MIN_WIDTH`` while the output area has room, and breaks inside words only when a
word alone is wider than its column."""
TEXT_MIN_WIDTH = "5em"
CELL = "vertical-align: top; padding: 0.25em 0.35em"
CELL_STYLES = {
    "number": f"text-align: right; {CELL}; white-space: nowrap",
    "unbroken": f"text-align: left; {CELL}; white-space: nowrap",
    "text": f"text-align: left; {CELL}",
    "path": f"text-align: left; {CELL}",
}
WRAPPED = (
    f"min-width: {TEXT_MIN_WIDTH}; max-width: {TEXT_WIDTH}; white-space: pre-wrap; overflow-wrap: anywhere"
)


def _kind(name: str, dtype: Any) -> str:
    from pandas.api.types import is_datetime64_any_dtype

    if is_number(dtype):
        return "number"
    if name == "path":
        return "path"
    if name in UNBROKEN or is_datetime64_any_dtype(dtype):
        return "unbroken"
    return "text"


FOLDED = frozenset({"doc"})
"""Columns of long text that repeats the rest of the row (a revision's docstring): folded to its first
line, the rest one click away."""
FOLDED_STYLE = f"max-width: {TEXT_WIDTH}; white-space: pre-wrap; overflow-wrap: anywhere"
SUBSECONDS = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d)\.\d+")
"""A timestamp's fraction of a second, left out of the cell (its title holds the whole value)."""


def _html_cell(value: Any, kind: str, name: str = "") -> str:
    text = cell_text(value)
    style = CELL_STYLES[kind]
    if kind == "path" and text:
        shown = shown_path(text)
        title = f' title="{html.escape(text)}"' if shown != text else ""
        return f'<td style="{style}"{title}>{_breakable(shown, os.sep, "_")}</td>'
    if kind == "unbroken" and (short := SUBSECONDS.sub(r"\1", text)) != text:
        return f'<td style="{style}" title="{html.escape(text)}">{html.escape(short)}</td>'
    if kind == "text" and (len(text) > 40 or "\n" in text):
        if name in FOLDED and "\n" in text:
            first, rest = text.split("\n", 1)
            inner = f"<details><summary>{html.escape(first)}</summary>{html.escape(rest.strip())}</details>"
            return f'<td style="{style}"><div style="{FOLDED_STYLE}">{inner}</div></td>'
        return f'<td style="{style}"><div style="{WRAPPED}">{html.escape(text)}</div></td>'
    return f'<td style="{style}">{html.escape(text)}</td>'


def _breakable(text: str, *separators: str) -> str:
    """Escaped text that may wrap after each of ``separators`` (a path at ``/`` and ``_``, a column
    name at ``_``): a long name fits a narrow column without being cut anywhere else."""
    escaped = html.escape(text)
    for separator in separators:
        escaped = escaped.replace(separator, f"{separator}<wbr>")
    return escaped


def _details(summary: str, text: str) -> str:
    return f"<details><summary>{html.escape(summary)}</summary><pre>{html.escape(text)}</pre></details>"


def _indented(text: str, indent: str, heading: str) -> str:
    lines = [f"{indent}{line.expandtabs(4)}".rstrip() for line in text.rstrip("\n").splitlines()]
    return "\n".join([heading, *lines])


def _same_rows(derived: pd.DataFrame, original: pd.DataFrame) -> bool:
    if len(derived) != len(original):
        return False
    return bool(
        derived.index.equals(original.index)
        or derived.index.sort_values().equals(original.index.sort_values())
    )
