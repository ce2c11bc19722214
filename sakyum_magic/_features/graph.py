"""The revision graph as data: nodes and edges read from a ScriptDirectory, laid out in rows and lanes.

Rows run newest first, as a history does; each branch keeps a lane (column) from its head down to the
revision it forks from. Long linear runs (revisions with one parent and one child, no branch label,
no dependency, not current and not next to a head or a base) collapse into one node unless
``show_all``, so a thousand-revision chain draws as a handful of nodes. Placing the nodes in rows and
lanes lives in :mod:`sakyum_magic._features.graph_layout`; drawing (SVG, text) in
:mod:`sakyum_magic._display.graph_render`; pandas is imported only by :meth:`RevisionGraph.frames`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._authoring.scripts import as_tuple
from .graph_layout import Link, heads_first, lanes_of, row_order

if TYPE_CHECKING:
    import pandas as pd
    from alembic.script import Script, ScriptDirectory

MIN_RUN = 3
"""Shortest linear run that collapses: hiding one or two revisions would save no space."""
SHORT = 7
"""Shortest id prefix shown (longer when needed to keep the prefixes unique, as ``git log`` does)."""


@dataclass(frozen=True)
class GraphNode:
    """One revision, or a collapsed linear run of revisions (``count`` > 1), at its row and lane."""

    revision: str
    """The revision id; for a collapsed run, its newest revision (``last``)."""
    short: str
    message: str
    row: int
    lane: int
    count: int = 1
    first: str = ""
    """Oldest revision the node stands for (the revision itself when ``count`` is 1)."""
    last: str = ""
    branch_labels: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    is_head: bool = False
    is_base: bool = False
    is_branch_point: bool = False
    is_merge: bool = False
    is_current: bool = False

    @property
    def collapsed(self) -> bool:
        """Whether the node stands for a run of several revisions."""
        return self.count > 1


@dataclass(frozen=True)
class GraphEdge:
    """From a node to one of its down revisions (``dependency``: to a ``depends_on`` target instead)."""

    child: str
    parent: str
    dependency: bool = False
    lane: int | None = None
    """The lane the edge runs down between its two rows (None for a dependency, drawn beside)."""


@dataclass(frozen=True, repr=False)
class RevisionGraph:
    """The revision graph: nodes newest first (by ``row``), edges, and the database's current revisions.

    Displays as inline SVG in Jupyter and as a ``git log --graph`` style drawing in a terminal.
    """

    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]
    current: tuple[str, ...] = ()
    """The revisions the database is at, as given (ids the directory lacks included)."""
    shorts: dict[str, str] = field(default_factory=dict, compare=False)
    """Every revision id's shortest unique prefix (at least 7 characters, as ``git log`` shows)."""
    members: dict[str, str] = field(default_factory=dict, compare=False)
    """Every revision id mapped to the ``revision`` of the node that shows it."""
    note: str = ""
    """Shown under the drawing, e.g. why there is no "you are here" (the database could not be read)."""
    # As on a ResultFrame: the %migrate line that drew it, the alembic line ("": Alembic draws no
    # graph), the line about Alembic's nearest command, shown under the drawing while show_cli.
    command: str = field(default="", compare=False)
    alembic: str = field(default="", compare=False)
    equivalent: str = field(default="", compare=False)
    show_cli: bool = field(default=True, compare=False)

    def describe_with(self, **attributes: Any) -> RevisionGraph:
        """Set ``command=``, ``alembic=``, ``equivalent=`` and ``show_cli=``; return the graph itself."""
        for name, value in attributes.items():
            if name not in _DESCRIBED:
                raise TypeError(f"RevisionGraph has no attribute {name!r} to describe it")
            object.__setattr__(self, name, value)
        return self

    @property
    def width(self) -> int:
        """How many lanes the drawing needs."""
        return max((n.lane for n in self.nodes), default=-1) + 1

    @property
    def missing_current(self) -> tuple[str, ...]:
        """Current revisions the directory does not have (the database is ahead of the files)."""
        return tuple(rev for rev in self.current if rev not in self.shorts)

    def node(self, revision: str) -> GraphNode:
        """The node showing ``revision`` (for a revision inside a collapsed run, the run's node)."""
        key = self.members[revision]
        return next(n for n in self.nodes if n.revision == key)

    def text(self, width: int | None = None) -> str:
        """The graph drawn with characters, in the manner of ``git log --graph``; with ``width``, each
        label wrapped at word boundaries to fit it, its lanes carried on beside the wrapped lines."""
        from .._display.graph_render import draw_text

        return draw_text(self, width)

    def svg(self) -> str:
        """The graph as a standalone SVG document (explicit width, height and viewBox)."""
        from .._display.graph_render import draw_svg

        return draw_svg(self)

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The nodes and the edges as two DataFrames (one row per node / edge)."""
        import pandas as pd

        nodes = pd.DataFrame(
            [[getattr(n, c) for c in NODE_COLUMNS] for n in self.nodes], columns=NODE_COLUMNS
        )
        edges = pd.DataFrame(
            [(e.child, e.parent, e.dependency, e.lane) for e in self.edges], columns=EDGE_COLUMNS
        )
        return nodes, edges

    def _repr_svg_(self) -> str:
        return self.svg()

    def _repr_html_(self) -> str:
        from .._display.footer import footer_html

        drawing = f'<div style="overflow-x:auto;max-width:100%">{self.svg()}</div>'
        return "\n".join([drawing, *footer_html(self.command, self.equivalent, self.show_cli)])

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def __repr__(self) -> str:
        from .._display.footer import footer_lines
        from .._display.terminal import terminal_width

        width = terminal_width()
        footer = footer_lines(self.command, self.equivalent, self.show_cli, width)
        return "\n".join([self.text(width), *footer])

    __str__ = __repr__


NODE_COLUMNS = [
    "revision", "short", "message", "count", "first", "last", "branch_labels", "depends_on",
    "is_head", "is_base", "is_branch_point", "is_merge", "is_current", "row", "lane",
]  # fmt: skip
EDGE_COLUMNS = ["child", "parent", "dependency", "lane"]
_DESCRIBED = frozenset({"command", "alembic", "equivalent", "show_cli"})


@dataclass(frozen=True)
class _Revision:
    """What the graph needs of one revision file."""

    revision: str
    parents: tuple[str, ...]
    depends_on: tuple[str, ...]
    labels: tuple[str, ...]
    message: str


@dataclass(frozen=True)
class _Shape:
    """The revisions indexed, with their children and the marks that keep a revision visible."""

    by_id: dict[str, _Revision]
    children: dict[str, list[str]]
    heads: frozenset[str]
    current: frozenset[str]
    in_dependency: frozenset[str]

    @classmethod
    def of(cls, revisions: Sequence[_Revision], heads: frozenset[str], current: frozenset[str]) -> _Shape:
        children: dict[str, list[str]] = {r.revision: [] for r in revisions}
        for rev in revisions:
            for parent in rev.parents:
                children.setdefault(parent, []).append(rev.revision)
        ends = {dep for r in revisions for dep in r.depends_on}
        ends.update(r.revision for r in revisions if r.depends_on)
        return cls({r.revision: r for r in revisions}, children, heads, current, frozenset(ends))

    def collapsible(self, rev: _Revision) -> bool:
        """One parent and one child, nothing to show, and neither next to a head nor to a base."""
        kids = self.children[rev.revision]
        if len(rev.parents) != 1 or len(kids) != 1 or rev.labels:
            return False
        if rev.revision in self.heads or rev.revision in self.current or rev.revision in self.in_dependency:
            return False
        parent = self.by_id.get(rev.parents[0])
        return parent is not None and bool(parent.parents) and kids[0] not in self.heads


BASE = "base"
"""The node drawn below the oldest revisions when several share none (two roots): Alembic's ``base``."""


def revision_graph(
    script: ScriptDirectory, current: tuple[str, ...] = (), show_all: bool = False, note: str = ""
) -> RevisionGraph:
    """Build the graph of every revision in ``script``, marking ``current`` (the database's revisions).

    :param script: a loaded ScriptDirectory.
    :param current: the revision ids in the version table; those nodes are marked "you are here".
    :param show_all: one node per revision: no linear run is collapsed (``graph --all``).
    :param note: a line shown under the drawing.
    """
    revisions = [_read(found, script) for found in script.walk_revisions()]  # newest first
    shape = _Shape.of(revisions, frozenset(script.get_heads()), frozenset(current))
    runs = {} if show_all else _runs(revisions, shape)
    members = {r.revision: r.revision for r in revisions}
    members.update({rev: newest for newest, run in runs.items() for rev in run})
    shorts = short_ids(members)
    links = _links(revisions, members)
    order = row_order(dict.fromkeys(members.values()), links, heads_first(revisions, shape.heads))
    roots = [members[r.revision] for r in revisions if not r.parents]
    if len(roots) > 1:  # branches that share no revision hang off base: draw it, as Alembic names it
        order = [*order, BASE]
        links = [*links, *((root, BASE, False) for root in roots)]
    lanes, edge_lanes = lanes_of(order, links)
    places = {key: (row, lanes[key]) for row, key in enumerate(order)}
    nodes = _nodes(revisions, runs, shape, shorts, members, places)
    if len(roots) > 1:
        nodes = (*nodes, GraphNode(BASE, BASE, "", *places[BASE], 1, BASE, BASE))
    edges = tuple(GraphEdge(c, p, dep, None if dep else edge_lanes[(c, p)]) for c, p, dep in links)
    return RevisionGraph(nodes, edges, tuple(current), shorts=shorts, members=members, note=note)


def _read(found: Script, script: ScriptDirectory) -> _Revision:
    depends = as_tuple(found.dependencies)
    if depends:  # depends_on may name a branch label: resolve it to the revision carrying the label
        depends = tuple(s.revision for s in script.get_revisions(depends) if s is not None)
    # Script.branch_labels also holds the labels inherited from older revisions; the module has the
    # ones this revision declares, which is where the graph shows them.
    labels = tuple(sorted(as_tuple(getattr(found.module, "branch_labels", None))))
    return _Revision(found.revision, as_tuple(found.down_revision), depends, labels, found.doc or "")


def _runs(revisions: Sequence[_Revision], shape: _Shape) -> dict[str, tuple[str, ...]]:
    """The linear runs long enough to collapse, keyed by their newest revision, listed oldest first."""
    plain = {r.revision for r in revisions if shape.collapsible(r)}
    runs: dict[str, tuple[str, ...]] = {}
    for rev in revisions:
        if rev.revision not in plain or rev.parents[0] in plain:
            continue  # not the oldest revision of a run
        run = [rev.revision]
        while (child := shape.children[run[-1]][0]) in plain:
            run.append(child)
        if len(run) >= MIN_RUN:
            runs[run[-1]] = tuple(run)
    return runs


def _nodes(
    revisions: Sequence[_Revision],
    runs: dict[str, tuple[str, ...]],
    shape: _Shape,
    shorts: dict[str, str],
    members: dict[str, str],
    places: dict[str, tuple[int, int]],
) -> tuple[GraphNode, ...]:
    """One node per shown revision or run, at its (row, lane) in ``places``, in row order."""
    nodes: dict[str, GraphNode] = {}
    for rev in revisions:
        key = members[rev.revision]
        if key in nodes:
            continue
        run = runs.get(key)
        if run:
            message = f"… {len(run)} revisions …"
            nodes[key] = GraphNode(key, shorts[key], message, *places[key], len(run), run[0], run[-1])
            continue
        nodes[key] = GraphNode(
            key, shorts[key], rev.message, *places[key], 1, key, key,
            branch_labels=rev.labels,
            depends_on=rev.depends_on,
            is_head=key in shape.heads,
            is_base=not rev.parents,
            is_branch_point=len(shape.children[key]) > 1,
            is_merge=len(rev.parents) > 1,
            is_current=key in shape.current,
        )  # fmt: skip
    return tuple(sorted(nodes.values(), key=lambda node: node.row))


def _links(revisions: Sequence[_Revision], members: dict[str, str]) -> list[Link]:
    """(child, parent, dependency) between nodes: down revisions in written order, then depends_on."""
    links: list[Link] = []
    for rev in revisions:
        child = members[rev.revision]
        for parent in rev.parents:
            target = members.get(parent)
            if target is not None and target != child:  # inside a collapsed run: no edge of its own
                links.append((child, target, False))
        links.extend((child, members[dep], True) for dep in rev.depends_on)
    return links


def short_ids(ids: Iterable[str]) -> dict[str, str]:
    """Each id's prefix of one common length: at least 7 characters, and long enough to be unique."""
    unique = set(ids)
    length, longest = SHORT, max(map(len, unique), default=0)
    while length < longest and len({rev[:length] for rev in unique}) < len(unique):
        length += 1
    return {rev: rev[:length] for rev in unique}
