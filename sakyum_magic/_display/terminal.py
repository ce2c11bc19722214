"""Text tables that fit the terminal: what terminal IPython shows for a
:class:`~sakyum_magic._display.results.ResultFrame`.

``revision`` and ``message`` come first and are never hidden, nor is the column a command exists for
(plan's ``statement``, test's ``detail``); long text (messages, SQL, docs, paths) wraps inside its
column instead of ending in ``...``; timestamps and revision ids never wrap; when even wrapped columns
do not fit, the least useful columns (``EXPENDABLE``, in that order) are left out and named under the
table. A missing value is shown one way: empty. Rows that lose data (a true ``destructive`` column)
start with ``!``. Text numbers are right-aligned, everything else left-aligned. Lines of prose (a
title, a note, the lines under a table) wrap at word boundaries (:func:`wrap_prose`).
"""

from __future__ import annotations

import math
import shutil
import textwrap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

MARK = "!"
FIRST = ("revision", "message")
# The column a table exists for is kept (wrapped) however narrow the terminal: a plan without its
# statements is a list of identical rows, and plan --locks without its locks is plan.
NEVER_HIDDEN = frozenset({*FIRST, "statement", "detail", "locks"})
# A table of findings (lint's, with a rule column) exists for its verdicts, which come first: there
# the statement and detail may be left out like any column on the right.
VERDICT = "rule"
# Kept once a row has text in it: a failed fleet target without its reason says nothing to do.
KEPT_WHEN_FILLED = frozenset({"error"})
# Short, and a split id, timestamp or rule name cannot be read or copied.
UNBROKEN = frozenset({"revision", "create_date", "applied_at", "from_revision", "to_revision", "rule"})
# Left out first (after empty columns), in this order, when a table is wider than the terminal.
EXPENDABLE = (
    "path",
    "doc",
    "depends_on",
    "destructive",  # the ! mark already says it
    "create_date",
    "is_branch_point",
    "is_merge",
    "branch_labels",
    "schema",
    "seconds",
)
GAP = "  "
# How narrow a column of long text may get (its text wrapped) at each stage of fitting a table:
# first empty and EXPENDABLE columns are left out while long text keeps a comfortable width; then
# other columns are left out (from the right) while it keeps a snug one; then it may go down to
# NARROWEST, and a table that still does not fit overflows.
COMFORTABLE = {"message": 80, "statement": 60, "detail": 40, "": 24}
SNUG = {"message": 40, "statement": 40, "detail": 30, "": 16}
NARROWEST = {"": 8}


@dataclass
class Column:
    """One column as text: its header, each row's lines, and the widths it may take."""

    name: str
    cells: list[list[str]]
    numeric: bool
    unbroken: bool = False

    @property
    def natural(self) -> int:
        return max([len(self.name), *(len(line) for cell in self.cells for line in cell)])

    @property
    def blank(self) -> bool:
        return all(line == "" for cell in self.cells for line in cell)

    def narrowest(self, floors: dict[str, int]) -> int:
        """The least width it may get at a stage of fitting (see COMFORTABLE)."""
        if self.unbroken or self.numeric:
            return self.natural
        return min(self.natural, max(len(self.name), floors.get(self.name, floors[""])))


def terminal_width() -> int:
    """The terminal's width in characters (80 when there is no terminal, as in a kernel)."""
    return shutil.get_terminal_size((80, 24)).columns


def cell_text(value: Any) -> str:
    """A value as text: missing values (None, NaN, NA, NaT) are empty, floats keep 4 significant digits."""
    if value is None or _is_missing(value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("\r\n", "\n").expandtabs(4)


def _is_missing(value: Any) -> bool:
    if isinstance(value, float):
        return math.isnan(value)
    import pandas as pd

    return value is pd.NA or value is pd.NaT


def frame_text(frame: pd.DataFrame, width: int | None = None) -> str:
    """A DataFrame as lines at most ``width`` (default: the terminal's) wide where that is possible."""
    import pandas as pd

    width = width or terminal_width()
    rows, skipped = rows_shown(frame)
    order = sorted(range(len(frame.columns)), key=lambda i: _rank(str(frame.columns[i]), i))
    columns = [_column(frame, rows, i) for i in order]
    marked = None
    if "destructive" in frame.columns:
        marked = [v is not pd.NA and bool(v) for v in frame["destructive"].iloc[rows]]
    kept_always = NEVER_HIDDEN - {"statement", "detail"} if VERDICT in frame.columns else NEVER_HIDDEN
    kept_always |= {c.name for c in columns if c.name in KEPT_WHEN_FILLED and not c.blank}
    shown, widths = _fit(columns, width - (len(MARK) + 1 if marked is not None else 0), kept_always)
    lines = _lines(shown, widths, marked, len(rows) - skipped[1] if skipped[0] else None, skipped[0])
    kept = {c.name for c in shown}
    hidden = [c.name for c in columns if c.name not in kept]
    if hidden:
        lines += wrap_prose(f"(not shown at this width: {', '.join(hidden)})", max(width, 20))
    return "\n".join(lines)


def _rank(name: str, position: int) -> tuple[int, int]:
    return (FIRST.index(name), 0) if name in FIRST else (len(FIRST), position)


def rows_shown(frame: pd.DataFrame) -> tuple[list[int], tuple[int, int]]:
    """Row positions to show (pandas' display.max_rows and min_rows apply) and (rows skipped, tail)."""
    import pandas as pd

    count = len(frame)
    most, least = pd.get_option("display.max_rows"), pd.get_option("display.min_rows") or 10
    if most is None or count <= most:
        return list(range(count)), (0, 0)
    head, tail = (least + 1) // 2, least // 2
    return [*range(head), *range(count - tail, count)], (count - head - tail, tail)


def _column(frame: pd.DataFrame, rows: list[int], position: int) -> Column:
    from pandas.api.types import is_datetime64_any_dtype

    name, dtype = str(frame.columns[position]), frame.dtypes.iloc[position]
    values = frame.iloc[rows, position]
    unbroken = name in UNBROKEN or is_datetime64_any_dtype(dtype)
    texts = [cell_text(v) for v in values]
    if name == "path":
        texts = [shown_path(t) if t else t for t in texts]
    return Column(name, [t.split("\n") for t in texts], is_number(dtype), unbroken)


def is_number(dtype: Any) -> bool:
    """Whether a column holds numbers (right-aligned), not text, booleans or times (left-aligned)."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return bool(is_numeric_dtype(dtype) and not is_bool_dtype(dtype))


def shown_path(path: str) -> str:
    """A file's path as shown: relative to the working directory when it lies under it (the data
    keeps the full path)."""
    import os

    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive
        return path
    return path if relative.startswith(os.pardir) else relative


def wrap_prose(line: str, width: int) -> list[str]:
    """A line of prose wrapped at word boundaries to ``width`` (a word longer than that stays whole)."""
    if len(line) <= width:
        return [line]
    return textwrap.wrap(line, width, break_long_words=False, break_on_hyphens=False) or [line]


def _fit(columns: list[Column], room: int, kept: frozenset[str]) -> tuple[list[Column], list[int]]:
    """The columns to show and their widths (see COMFORTABLE for the stages); ``kept`` are never left out."""
    shown = list(columns)
    for floors, next_out in ((COMFORTABLE, _expendable), (SNUG, _rightmost)):
        while True:
            widths = _share(shown, room - len(GAP) * (len(shown) - 1), floors)
            if widths is not None:
                return shown, widths
            dropped = next_out(shown, kept)
            if dropped is None:
                break
            shown.remove(dropped)
    widths = _share(shown, room - len(GAP) * (len(shown) - 1), NARROWEST)
    return shown, widths or [c.narrowest(NARROWEST) for c in shown]


def _expendable(shown: list[Column], kept: frozenset[str]) -> Column | None:
    """The next column of little use to leave out: an empty one, else the first of EXPENDABLE."""
    blank = [c for c in shown if c.blank and c.name not in kept]
    if blank:
        return blank[-1]
    names = {c.name: c for c in shown}
    return next((names[name] for name in EXPENDABLE if name in names), None)


def _rightmost(shown: list[Column], kept: frozenset[str]) -> Column | None:
    """The rightmost column that may be left out (never revision or message)."""
    others = [c for c in shown if c.name not in kept]
    return others[-1] if others and len(shown) > 1 else None


def _share(columns: list[Column], room: int, floors: dict[str, int]) -> list[int] | None:
    """Widths that fill at most ``room``: every column gets its natural width up to a common level,
    and no less than its narrowest; None when even the narrowest widths do not fit."""
    low = [c.narrowest(floors) for c in columns]
    high = [c.natural for c in columns]
    if sum(low) > room:
        return None

    def total(level: int) -> int:
        return sum(max(lo, min(hi, level)) for lo, hi in zip(low, high, strict=True))

    bottom, top = 0, max(high, default=0)
    while bottom < top:  # the highest level whose widths still fit
        middle = (bottom + top + 1) // 2
        if total(middle) <= room:
            bottom = middle
        else:
            top = middle - 1
    widths = [max(lo, min(hi, bottom)) for lo, hi in zip(low, high, strict=True)]
    spare = room - sum(widths)
    for i, hi in enumerate(high):  # what is left goes one character each to the columns still short
        if spare > 0 and widths[i] < hi:
            widths[i] += 1
            spare -= 1
    return widths


def _lines(
    columns: list[Column], widths: list[int], marked: list[bool] | None, cut: int | None, skipped: int
) -> list[str]:
    """Header and rows; a blank line between rows when any row wraps; ``...`` where rows were skipped."""
    cells = [[_wrap(lines, w) for lines in c.cells] for c, w in zip(columns, widths, strict=True)]
    count = len(columns[0].cells) if columns else 0
    tall = any(len(cell) > 1 for column in cells for cell in column)
    lead = " " * (len(MARK) + 1) if marked is not None else ""
    out = [_joined(lead, [c.name for c in columns], columns, widths)]
    for r in range(count):
        if r == cut:
            out.append(f"... {skipped} more rows ...")
        elif tall and r:
            out.append("")
        for k in range(max(len(column[r]) for column in cells)):
            mark = lead if marked is None or not marked[r] or k else MARK + " "
            texts = [column[r][k] if k < len(column[r]) else "" for column in cells]
            out.append(_joined(mark, texts, columns, widths))
    return out


def _joined(lead: str, texts: list[str], columns: list[Column], widths: list[int]) -> str:
    parts = [t.rjust(w) if c.numeric else t.ljust(w) for t, c, w in zip(texts, columns, widths, strict=True)]
    return (lead + GAP.join(parts)).rstrip()


def _wrap(lines: list[str], width: int) -> list[str]:
    wrapped: list[str] = []
    for line in lines:
        if len(line) <= width:
            wrapped.append(line)
        else:
            wrapped += textwrap.wrap(line, width, break_on_hyphens=False, drop_whitespace=True) or [""]
    return wrapped or [""]
