"""Where the revision graph's nodes go: rows (newest first, a branch kept together) and lanes.

The graph's data (what a node and an edge are, which runs collapse) lives in
:mod:`sakyum_magic._features.graph`; this module only places the nodes it is given, by their links.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

Link = tuple[str, str, bool]
"""An edge while the graph is built: (child node, parent node, whether it is a ``depends_on``)."""
Edge = tuple[str, str]
"""A down-revision edge placed in a lane: (child node, parent node)."""


class Revision(Protocol):
    """What placing the heads needs of a revision: its id and its down revisions."""

    @property
    def revision(self) -> str: ...

    @property
    def parents(self) -> tuple[str, ...]: ...


def heads_first(revisions: Sequence[Revision], heads: frozenset[str]) -> list[str]:
    """The heads, longest history first (so the main line takes the leftmost lane)."""
    depth: dict[str, int] = {}
    for rev in reversed(revisions):  # oldest first: every parent before its children
        depth[rev.revision] = 1 + max((depth.get(p, 0) for p in rev.parents), default=0)
    index = {r.revision: i for i, r in enumerate(revisions)}
    return sorted(heads, key=lambda head: (-depth.get(head, 0), index.get(head, 0)))


def row_order(nodes: Iterable[str], links: Sequence[Link], heads: Sequence[str]) -> list[str]:
    """Rows, newest first: reverse post-order of a depth-first walk from the heads down their parents.

    A branch's revisions stay together (as ``git log --graph --topo-order`` shows them); every node
    comes above its down revisions and its dependencies.
    """
    parents: dict[str, list[str]] = {key: [] for key in nodes}
    for child, parent, _ in sorted(links, key=lambda link: link[2]):  # down revisions first, stably
        parents[child].append(parent)
    done: set[str] = set()
    post: list[str] = []
    for root in [*reversed(heads), *parents]:  # the first head is walked last, so it ends on top
        if root in done or root not in parents:
            continue
        done.add(root)
        stack = [(root, iter(parents[root]))]
        while stack:
            key, pending = stack[-1]
            step = next((p for p in pending if p not in done), None)
            if step is None:
                stack.pop()
                post.append(key)
            else:
                done.add(step)
                stack.append((step, iter(parents[step])))
    post.reverse()
    return post


def lanes_of(order: Sequence[str], links: Sequence[Link]) -> tuple[dict[str, int], dict[Edge, int]]:
    """The lane of each node (in row order), and the lane each down-revision edge runs in.

    A lane waits for the revision an edge above points to; a node takes the leftmost lane waiting
    for it (or a free one: a head), its first parent continues in that lane, and a merge's other
    parents get a lane of their own (or join one already waiting for that parent).
    """
    parents: dict[str, list[str]] = {key: [] for key in order}
    for child, parent, dependency in links:
        if not dependency:
            parents[child].append(parent)
    lanes: list[str | None] = []
    columns: dict[str, int] = {}
    edge_lanes: dict[Edge, int] = {}
    for key in order:
        column = columns[key] = _take(lanes, key)
        for i, parent in enumerate(parents[key]):
            lane = column if i == 0 else _waiting_or_free(lanes, parent)
            lanes[lane] = parent
            edge_lanes[(key, parent)] = lane
        while lanes and lanes[-1] is None:
            lanes.pop()
    return columns, edge_lanes


def _take(lanes: list[str | None], key: str) -> int:
    """The lane a node is drawn in; every lane that waited for it is freed."""
    waiting = [i for i, wanted in enumerate(lanes) if wanted == key]
    for i in waiting:
        lanes[i] = None
    return waiting[0] if waiting else _free(lanes)


def _waiting_or_free(lanes: list[str | None], key: str) -> int:
    for i, wanted in enumerate(lanes):
        if wanted == key:
            return i
    return _free(lanes)


def _free(lanes: list[str | None]) -> int:
    for i, wanted in enumerate(lanes):
        if wanted is None:
            return i
    lanes.append(None)
    return len(lanes) - 1
