"""Drawing ER tables: an SVG made here (no graphviz binary, no image service) and a text listing.

Tables are boxes on a grid, read left to right and top to bottom: the tables others refer to come
first (a table's rank is the length of the longest chain of foreign keys below it), so most lines run
back and up towards the tables they name. The grid is about as wide as it is tall, which keeps 50
tables readable in a notebook cell (the SVG scales to the cell's width, and keeps its size in pixels
for zooming). Each foreign key is a curve from its column's row to the row of the column it names,
with a fork at the many end. Marks from ``--diff`` colour the rows: added green, removed red and
struck through, changed amber. The SVG is self-contained, as :mod:`..graph_render`'s is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from .er_model import ADDED, CHANGED, REMOVED, ERColumn, ERTable

ROW, HEADER, PAD, GAP_X, GAP_Y, CHAR, TITLE = 18, 24, 8, 56, 36, 7.2, 26.0
FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"
INK, MUTED, LINE, HEAD_FILL, BOX_FILL = "#1f2328", "#59636e", "#8c959f", "#ddf4ff", "#ffffff"
FILLS = {ADDED: "#dafbe1", REMOVED: "#ffebe9", CHANGED: "#fff8c5"}
SIGNS = {ADDED: "+", REMOVED: "-", CHANGED: "~", "": " "}


# -- text ------------------------------------------------------------------------------------------


def draw_text(tables: Sequence[ERTable]) -> str:
    """One block per table: its columns with type, keys and what they refer to; diff marks as
    ``+``/``-``/``~`` in front."""
    if not tables:
        return "no tables"
    blocks = []
    for table in tables:
        lines = [f"{SIGNS[table.mark]} {table.key}" + (f"  ({table.mark})" if table.mark else "")]
        width = max(len(c.name) for c in table.columns) if table.columns else 0
        kind = max((len(c.type) for c in table.columns), default=0)
        for column in table.columns:
            row = f"  {SIGNS[column.mark]} {column.name:<{width}}  {column.type:<{kind}}  {_roles(column)}"
            lines.append(row.rstrip())
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _roles(column: ERColumn) -> str:
    words = [column.keys] if column.keys else []
    words += [] if column.nullable else ["NOT NULL"]
    words += [f"→ {column.references}"] if column.references else []
    words += [column.detail] if column.detail else []
    return "  ".join(words)


# -- layout ----------------------------------------------------------------------------------------


def ranks(tables: Sequence[ERTable]) -> dict[str, int]:
    """Each table's rank: 0 for a table that refers to none, else one more than the highest rank it
    refers to (a cycle of foreign keys is cut where it closes)."""
    refers = {t.key: {_target_key(c, t) for c in t.columns if c.references} for t in tables}
    known = set(refers)
    found: dict[str, int] = {}

    def rank(key: str, path: frozenset[str]) -> int:
        if key in found:
            return found[key]
        below = [rank(k, path | {key}) for k in refers[key] if k in known and k not in path and k != key]
        found[key] = 1 + max(below) if below else 0
        return found[key]

    for key in refers:
        rank(key, frozenset())
    return found


def _target_key(column: ERColumn, table: ERTable) -> str:
    """The referred table's key (a reference names ``table.column``, in the referring table's schema
    unless it names another)."""
    assert column.references is not None
    target = column.references.rsplit(".", 1)[0]
    return f"{table.schema}.{target}" if table.schema and "." not in target else target


def _size(table: ERTable) -> tuple[float, float]:
    texts = [table.key, *(_row_text(c) for c in table.columns)]
    return PAD * 2 + CHAR * max(len(t) for t in texts), HEADER + ROW * len(table.columns) + PAD / 2


def _row_text(column: ERColumn) -> str:
    keys = f" {column.keys}" if column.keys else ""
    return f"{column.name}  {column.type}{keys}"


def layout(tables: Sequence[ERTable], top: float = 0.0) -> dict[str, tuple[float, float, float, float]]:
    """Each table's box (x, y, width, height) on the grid, ``top`` pixels down."""
    order = sorted(tables, key=lambda t: (ranks(tables)[t.key], t.key))
    columns = max(1, math.ceil(math.sqrt(len(order) * 1.6)))
    sizes = {t.key: _size(t) for t in order}
    widths = [0.0] * columns
    heights: list[float] = []
    for index, table in enumerate(order):
        col, row = index % columns, index // columns
        if row == len(heights):
            heights.append(0.0)
        widths[col] = max(widths[col], sizes[table.key][0])
        heights[row] = max(heights[row], sizes[table.key][1])
    boxes = {}
    for index, table in enumerate(order):
        col, row = index % columns, index // columns
        x = GAP_X / 2 + sum(widths[:col]) + GAP_X * col
        y = top + GAP_Y / 2 + sum(heights[:row]) + GAP_Y * row
        boxes[table.key] = (x, y, *sizes[table.key])
    return boxes


# -- SVG -------------------------------------------------------------------------------------------


def draw_svg(tables: Sequence[ERTable], title: str = "") -> str:
    """The tables as boxes with their foreign keys as curves, under ``title``, in one self-contained
    SVG."""
    boxes = layout(tables, top=TITLE if title else 0.0)
    width = max((x + w for x, _y, w, _h in boxes.values()), default=CHAR * len(title) + 20) + GAP_X / 2
    width = max(width, CHAR * len(title) + 20)
    height = max((y + h for _x, y, _w, h in boxes.values()), default=TITLE + 40) + GAP_Y / 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" style="max-width:100%;height:auto" '
        f'font-family="{FONT}" font-size="12" role="img" aria-label="ER diagram">'
    ]
    if title:
        parts.append(
            f'<text x="{GAP_X / 2:.0f}" y="18" font-weight="bold" fill="{INK}">{escape(title)}</text>'
        )
    if not tables:
        parts.append(f'<text x="{GAP_X / 2:.0f}" y="{TITLE + 24:.0f}" fill="{MUTED}">no tables</text>')
    by_key = {t.key: t for t in tables}
    parts += [_edge(t, c, boxes, by_key) for t in tables for c in t.columns if c.references]
    parts += [_box(t, boxes[t.key]) for t in tables]
    parts.append("</svg>")
    return "".join(p for p in parts if p)


def _box(table: ERTable, box: tuple[float, float, float, float]) -> str:
    x, y, w, h = box
    header_fill = FILLS.get(table.mark, HEAD_FILL)
    parts = [
        f"<g><title>{escape(table.key)}</title>",
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="4" fill="{BOX_FILL}" '
        f'stroke="{LINE}"/>',
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{HEADER}" rx="4" fill="{header_fill}" '
        f'stroke="{LINE}"/>',
        f'<text x="{x + PAD:.1f}" y="{y + HEADER - 8:.1f}" font-weight="bold" fill="{INK}">'
        f"{escape(table.key)}</text>",
    ]
    for index, column in enumerate(table.columns):
        top = y + HEADER + ROW * index
        if column.mark:
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{top:.1f}" width="{w - 2:.1f}" height="{ROW}" '
                f'fill="{FILLS[column.mark]}"/>'
            )
        struck = ' text-decoration="line-through"' if column.mark == REMOVED else ""
        tip = f"<title>{escape(column.detail or column.mark)}</title>" if column.mark else ""
        keys = f" {column.keys}" if column.keys else ""
        parts.append(
            f'<text x="{x + PAD:.1f}" y="{top + ROW - 5:.1f}" fill="{INK}"{struck}>{tip}'
            f"{escape(column.name)}"
            f'<tspan fill="{MUTED}">  {escape(column.type)}</tspan>'
            f'<tspan fill="{INK}" font-weight="bold">{keys}</tspan></text>'
        )
    parts.append("</g>")
    return "".join(parts)


Box = tuple[float, float, float, float]


def _edge(table: ERTable, column: ERColumn, boxes: dict[str, Box], by_key: dict[str, ERTable]) -> str:
    target_key = _target_key(column, table)
    if target_key not in boxes:
        return ""  # the table it names is filtered out of the picture
    source, target = boxes[table.key], boxes[target_key]
    wanted = column.references.rsplit(".", 1)[-1] if column.references else ""
    source_y = _row_y(source, [c.name for c in table.columns], column.name)
    target_y = _row_y(target, [c.name for c in by_key[target_key].columns], wanted)
    (start_x, c1), (end_x, c2), out = _ends(source, target)
    return (
        f'<path d="M{start_x:.1f},{source_y:.1f} C{c1:.1f},{source_y:.1f} {c2:.1f},{target_y:.1f} '
        f'{end_x:.1f},{target_y:.1f}" fill="none" stroke="{LINE}" stroke-width="1.2" opacity="0.85">'
        f"<title>{escape(table.key)}.{escape(column.name)} → {escape(column.references or '')}</title></path>"
        f'<path d="M{start_x + 9 * out:.1f},{source_y:.1f} L{start_x:.1f},{source_y - 5:.1f} '
        f'M{start_x + 9 * out:.1f},{source_y:.1f} L{start_x:.1f},{source_y + 5:.1f}" '
        f'stroke="{LINE}" stroke-width="1.2" fill="none"/>'
    )


def _row_y(box: Box, names: list[str], name: str) -> float:
    """The middle of a column's row (the header's, when the column is not shown)."""
    _x, y, _w, _h = box
    return y + (HEADER + ROW * names.index(name) + ROW / 2 if name in names else HEADER / 2)


def _ends(source: Box, target: Box) -> tuple[tuple[float, float], tuple[float, float], int]:
    """Where a curve leaves the source box and reaches the target box, each with its control point's
    x, and the direction (1 right, -1 left) in which it leaves: towards the target, or out on the
    right and back when both boxes stand in one grid column."""
    sx, _sy, sw, _sh = source
    tx, _ty, tw, _th = target
    if abs(sx - tx) < 1:
        bend = 36.0
        return (sx + sw, sx + sw + bend), (tx + tw, tx + tw + bend), 1
    bend = max(30.0, abs(tx - sx) / 3)
    if tx < sx:
        return (sx, sx - bend), (tx + tw, tx + tw + bend), -1
    return (sx + sw, sx + sw + bend), (tx, tx - bend), 1
