"""Drawing a :class:`~sakyum_magic._features.graph.RevisionGraph`: inline SVG for Jupyter, characters for
terminals.

The SVG is self-contained (presentation attributes only: no stylesheet, script, font or id that
could leak into the page around it) and sized explicitly, so JupyterLab, Notebook 7 and VS Code show
it as it is. Text widths are estimated generously from character counts, as no font can be measured.
"""

from __future__ import annotations

import itertools
import textwrap
from collections import defaultdict
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .._features.graph import GraphEdge, GraphNode, RevisionGraph

HERE = "you are here"
ROW, LANE, PAD, RADIUS, GUTTER = 26, 16, 10, 4.5, 18
CHAR, MONO = 7.0, 7.6
COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#9d755d", "#bab0ac")
INK, MUTED, HEAD, LABEL, HERE_INK, HERE_ROW = "#1f2328", "#59636e", "#1a7f37", "#0969da", "#cf222e", "#fff1c2"
FONT = "system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"
MONO_FONT = "ui-monospace, SFMono-Regular, Menlo, Consolas, 'DejaVu Sans Mono', monospace"


def decorations(node: GraphNode, shorts: dict[str, str]) -> list[str]:
    """The words shown after a node's id: head, branch labels, merge, branch point, dependencies."""
    words = ["head"] if node.is_head else []
    words += [f"label {label}" for label in node.branch_labels]
    words += ["merge"] if node.is_merge else []
    words += ["branch point"] if node.is_branch_point else []
    words += [f"depends on {shorts.get(dep, dep)}" for dep in node.depends_on]
    return words


def run_label(node: GraphNode, shorts: dict[str, str]) -> str:
    """What a collapsed run says: how many revisions, from the oldest to the newest."""
    return f"… {node.count} revisions ({shorts[node.first]} to {shorts[node.last]}) …"


def notes(graph: RevisionGraph) -> list[str]:
    """Lines under the drawing: each current revision the directory lacks, then the graph's note."""
    lines = [f"{HERE}: {rev} (not in this directory)" for rev in graph.missing_current]
    return lines + ([graph.note] if graph.note else [])


# -- text -------------------------------------------------------------------------------------


def draw_text(graph: RevisionGraph, width: int | None = None) -> str:
    """The graph in characters, newest first: ``*`` a revision, ``@`` the current one, ``:`` a run.
    With ``width``, a label longer than the line has room for wraps at word boundaries, the lanes
    that go on below the node drawn beside its further lines."""
    if not graph.nodes:
        return "\n".join(["no revisions yet", *notes(graph)])
    passing, gaps = _segments(graph)
    lanes = graph.width
    lines: list[str] = []
    for node in graph.nodes:
        cells = [" "] * (2 * lanes)
        for column in passing[node.row]:
            cells[2 * column] = "|"
        below = list(cells)
        for start, _ in gaps[node.row]:
            below[2 * start] = "|"
        cells[2 * node.lane] = ":" if node.collapsed else "@" if node.is_current else "*"
        prefix, carried = "".join(cells).rstrip() + " ", "".join(below).rstrip() + " "
        label = _text_label(node, graph.shorts)
        room = max(20, width - len(prefix)) if width else len(label)
        wrapped = textwrap.wrap(label, room, break_long_words=False, break_on_hyphens=False) or [""]
        lines.append((prefix + wrapped[0]).rstrip())
        lines += [(carried.ljust(len(prefix)) + more).rstrip() for more in wrapped[1:]]
        between = _transition(gaps[node.row], lanes)
        if between is not None:
            lines.append(between)
    return "\n".join(lines + notes(graph))


def _text_label(node: GraphNode, shorts: dict[str, str]) -> str:
    if node.collapsed:
        return run_label(node, shorts)
    words = decorations(node, shorts) + ([HERE] if node.is_current else [])
    return f"{node.short} ({', '.join(words)}) {node.message}" if words else f"{node.short} {node.message}"


def _segments(graph: RevisionGraph) -> tuple[dict[int, set[int]], dict[int, list[tuple[int, int]]]]:
    """Lanes passing each row, and for the gap below each row, each edge's (from, to) lane there."""
    at = {node.revision: (node.row, node.lane) for node in graph.nodes}
    passing: dict[int, set[int]] = defaultdict(set)
    gaps: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for edge in graph.edges:
        if edge.lane is None:
            continue
        (top, start), (bottom, end) = at[edge.child], at[edge.parent]
        for row in range(top, bottom):
            if row > top:
                passing[row].add(edge.lane)
            gaps[row].append((start if row == top else edge.lane, end if row + 1 == bottom else edge.lane))
    return passing, gaps


def _transition(segments: list[tuple[int, int]], width: int) -> str | None:
    """The line between two rows where a lane forks or joins (``|\\``, ``|/``), else None."""
    if all(a == b for a, b in segments):
        return None
    cells = [" "] * (2 * width)
    for a, b in segments:
        if a == b:
            cells[2 * a] = "|"
    for a, b in segments:
        if a == b:
            continue
        span = range(2 * a + 2, 2 * b) if b > a else range(2 * b + 1, 2 * a - 1)
        for i in span:
            cells[i] = "_" if cells[i] == " " else cells[i]
        cells[2 * a + 1 if b > a else 2 * a - 1] = "\\" if b > a else "/"
    return "".join(cells).rstrip()


# -- SVG --------------------------------------------------------------------------------------


def draw_svg(graph: RevisionGraph) -> str:
    """The graph as one ``<svg>`` element: lanes and edges on the left, ids and messages beside."""
    gutter = GUTTER if any(edge.dependency for edge in graph.edges) else 0
    left = PAD + gutter
    text_x = left + max(graph.width, 1) * LANE + 8
    below = ([] if graph.nodes else ["no revisions yet"]) + notes(graph)
    rows = len(graph.nodes) + len(below)
    label_chars = [_label_chars(node, graph.shorts) for node in graph.nodes] + [len(n) for n in below]
    width = round(text_x + max(label_chars, default=0) * CHAR + PAD)
    height = PAD * 2 + rows * ROW
    at = {node.revision: node for node in graph.nodes}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{escape(FONT)}" font-size="12" role="img" '
        'aria-label="Alembic revision graph">',
        f'<rect width="{width}" height="{height}" rx="6" fill="#ffffff" stroke="#d0d7de"/>',
    ]
    parts += [_here_row(node, width) for node in graph.nodes if node.is_current]
    parts += [_edge_path(edge, at, left) for edge in graph.edges]
    parts += [_node(node, left, text_x, graph.shorts) for node in graph.nodes]
    parts += [
        _text(text_x, _y(len(graph.nodes) + i) + 4, escape(note), fill=HERE_INK if HERE in note else MUTED)
        for i, note in enumerate(below)
    ]
    return "\n".join([*parts, "</svg>"])


def _x(lane: int, left: float) -> float:
    return left + lane * LANE + LANE / 2


def _y(row: int) -> float:
    return PAD + row * ROW + ROW / 2


def _label_chars(node: GraphNode, shorts: dict[str, str]) -> int:
    """The length of a node's label (id, words, message), in estimated average characters."""
    if node.collapsed:
        return len(run_label(node, shorts))
    words = decorations(node, shorts) + ([f"◀ {HERE}"] if node.is_current else [])
    return round(len(node.short) * MONO / CHAR) + sum(len(w) + 3 for w in words) + len(node.message) + 2


def _here_row(node: GraphNode, width: int) -> str:
    """A highlighted band behind the current revision's row."""
    return f'<rect x="1" y="{_y(node.row) - ROW / 2}" width="{width - 2}" height="{ROW}" fill="{HERE_ROW}"/>'


def _edge_path(edge: GraphEdge, at: dict[str, GraphNode], left: float) -> str:
    """A down-revision edge down its lane (curving where it forks or joins); a dependency dashed."""
    child, parent = at[edge.child], at[edge.parent]
    x0, y0, x1, y1 = _x(child.lane, left), _y(child.row), _x(parent.lane, left), _y(parent.row)
    if edge.lane is None:
        gx = left - GUTTER + 4
        tip = x1 - RADIUS - 1
        arrow = f"M {tip - 5} {y1 - 3.5} L {tip} {y1} L {tip - 5} {y1 + 3.5}"
        curve = f"M {x0 - RADIUS} {y0} C {gx} {y0}, {gx} {y1}, {tip} {y1}"
        return (
            f'<path d="{curve}" fill="none" stroke="{MUTED}" stroke-width="1.5" stroke-dasharray="4 3">'
            f"<title>{escape(edge.child)} depends on {escape(edge.parent)}</title></path>\n"
            f'<path d="{arrow}" fill="none" stroke="{MUTED}" stroke-width="1.5"/>'
        )
    lane_x = _x(edge.lane, left)
    points = [(x0, y0)]
    if parent.row - child.row > 1:
        points += [(lane_x, _y(child.row + 1)), (lane_x, _y(parent.row - 1))]
    points.append((x1, y1))
    d = f"M {x0} {y0}" + "".join(_segment(a, b) for a, b in itertools.pairwise(points))
    color = COLORS[edge.lane % len(COLORS)]
    return f'<path d="{d}" fill="none" stroke="{color}" stroke-width="2"/>'


def _segment(a: tuple[float, float], b: tuple[float, float]) -> str:
    if a[0] == b[0]:
        return f" L {b[0]} {b[1]}"
    middle = (a[1] + b[1]) / 2
    return f" C {a[0]} {middle}, {b[0]} {middle}, {b[0]} {b[1]}"


def _node(node: GraphNode, left: float, text_x: float, shorts: dict[str, str]) -> str:
    """The node's mark on its lane and its label beside, with the full id in a tooltip."""
    x, y = _x(node.lane, left), _y(node.row)
    color = COLORS[node.lane % len(COLORS)]
    title = f"{node.first} … {node.last}" if node.collapsed else f"{node.revision}: {node.message}"
    parts = [f"<g><title>{escape(title)}</title>"]
    if node.collapsed:
        parts.append(
            f'<rect x="{x - 4}" y="{y - 9}" width="8" height="18" rx="4" fill="#ffffff" '
            f'stroke="{color}" stroke-width="1.5" stroke-dasharray="2 2"/>'
        )
        parts.append(_text(text_x, y + 4, escape(run_label(node, shorts)), fill=MUTED, style="italic"))
        return "".join([*parts, "</g>"])
    if node.is_current:
        parts.append(
            f'<circle cx="{x}" cy="{y}" r="{RADIUS + 4}" fill="none" stroke="{HERE_INK}" stroke-width="2"/>'
        )
    ring = f' stroke="{INK}" stroke-width="1.5"' if node.is_head else ' stroke="#ffffff" stroke-width="1"'
    parts.append(f'<circle cx="{x}" cy="{y}" r="{RADIUS}" fill="{color}"{ring}/>')
    parts.append(_text(text_x, y + 4, _label_spans(node, shorts)))
    return "".join([*parts, "</g>"])


def _label_spans(node: GraphNode, shorts: dict[str, str]) -> str:
    """The id in monospace, then the words in colour, then the message: one flowing ``<text>``."""
    words = []
    for word in decorations(node, shorts):
        color = HEAD if word == "head" else LABEL if word.startswith("label ") else MUTED
        words.append(f'<tspan fill="{color}" font-weight="bold">{escape(word)}</tspan>')
    dot = f' <tspan fill="{MUTED}">·</tspan> '
    spans = [f'<tspan font-family="{escape(MONO_FONT)}" fill="{MUTED}">{escape(node.short)}</tspan>']
    spans += [dot.join(words)] if words else []
    if node.is_current:
        spans.append(f'<tspan fill="{HERE_INK}" font-weight="bold">◀ {HERE}</tspan>')
    spans.append(f'<tspan fill="{INK}">{escape(node.message)}</tspan>')
    return " ".join(spans)


def _text(x: float, y: float, content: str, fill: str = INK, style: str = "normal") -> str:
    return f'<text x="{x}" y="{y}" fill="{fill}" font-style="{style}">{content}</text>'
