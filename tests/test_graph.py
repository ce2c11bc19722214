"""The revision graph: nodes, edges and lanes from real revision files, drawn as SVG and as text.

Correctness only (speed at 1,000 revisions is checked structurally: the collapsed graph stays small).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from IPython.lib.pretty import pretty

from sakyum_magic import Migrator
from sakyum_magic._features.graph import RevisionGraph, revision_graph
from tests.revisions import write

SVG = "{http://www.w3.org/2000/svg}"

# Ids chosen so that each is known by a readable 7-character prefix.
A, B, C, D, E, F, G, H, X = (f"{c * 7}00000" for c in "abcdef129")


@pytest.fixture
def branched(workdir: Path, sqlite_url: str) -> Migrator:
    """Written by Alembic's own commands: a -> b -> c -> f -> merge g -> h (head) and g -> i (head);
    b -> d (branch label "audit") -> e, merged into g; f depends on d. The database is at h."""
    m = Migrator(url=sqlite_url, directory="alembic")
    m.init()
    m.revision("create users", rev_id=A)
    m.revision("add email", rev_id=B)
    m.revision("add posts", rev_id=C)
    m.revision("start audit", rev_id=D, head=B, splice=True, branch_label="audit")
    m.revision("audit log", rev_id=E, head="audit@head")
    m.revision("index posts", rev_id=F, head=C, depends_on=D)
    m.merge("heads", "merge audit", rev_id=G)
    m.revision("after merge", rev_id=H)
    m.revision("experiment", rev_id=X, head=G, splice=True)
    m.upgrade(H)
    return m


def graph_of(m: Migrator, show_all: bool = False) -> RevisionGraph:
    current = tuple(info.revision for info in m.current().revisions)
    return revision_graph(m.script_directory(), current, show_all=show_all)


def load(directory: Path) -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(directory))
    return ScriptDirectory.from_config(config)


def test_nodes_carry_heads_merges_branch_points_labels_and_current(branched: Migrator) -> None:
    graph = graph_of(branched)
    nodes = {node.revision: node for node in graph.nodes}
    assert set(nodes) == {A, B, C, D, E, F, G, H, X}
    assert {r for r, n in nodes.items() if n.is_head} == {H, X}
    assert {r for r, n in nodes.items() if n.is_merge} == {G}
    assert {r for r, n in nodes.items() if n.is_branch_point} == {B, G}
    assert {r for r, n in nodes.items() if n.is_base} == {A}
    assert {r: n.branch_labels for r, n in nodes.items() if n.branch_labels} == {D: ("audit",)}
    assert {r for r, n in nodes.items() if n.is_current} == {H}
    assert graph.current == (H,)
    assert nodes[F].depends_on == (D,)
    assert nodes[A].short == "aaaaaaa" and nodes[A].message == "create users"
    assert all(node.count == 1 and node.first == node.last == node.revision for node in graph.nodes)


def test_edges_follow_down_revisions_and_depends_on(branched: Migrator) -> None:
    graph = graph_of(branched)
    down = {(e.child, e.parent) for e in graph.edges if not e.dependency}
    assert down == {(B, A), (C, B), (D, B), (E, D), (F, C), (G, F), (G, E), (H, G), (X, G)}
    assert [(e.child, e.parent, e.lane) for e in graph.edges if e.dependency] == [(F, D, None)]
    rows = {node.revision: node.row for node in graph.nodes}
    assert sorted(rows.values()) == list(range(9)) == [node.row for node in graph.nodes]
    assert all(rows[e.child] < rows[e.parent] for e in graph.edges)  # newest at the top


def test_lanes_separate_branches(branched: Migrator) -> None:
    graph = graph_of(branched)
    lane = {node.revision: node.lane for node in graph.nodes}
    assert lane[H] != lane[X]  # two heads side by side
    assert lane[A] == lane[B] == 0  # the trunk on the left
    merge_lanes = {e.lane for e in graph.edges if e.child == G}
    assert len(merge_lanes) == 2 and lane[G] in merge_lanes
    assert graph.width == max(lane.values()) + 1 >= 2
    assert all(e.lane is not None for e in graph.edges if not e.dependency)


def test_svg_is_xml_with_every_short_id_and_the_current_mark(branched: Migrator) -> None:
    graph = graph_of(branched)
    root = ET.fromstring(graph.svg())
    assert root.tag == f"{SVG}svg"
    width, height = int(root.attrib["width"]), int(root.attrib["height"])
    assert root.attrib["viewBox"] == f"0 0 {width} {height}"
    text = " ".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))
    for node in graph.nodes:
        assert node.short in text and node.message in text
    assert text.count("you are here") == 1
    assert "label audit" in text and "merge" in text and "branch point" in text
    dashed = [p for p in root.iter(f"{SVG}path") if "stroke-dasharray" in p.attrib]
    assert len(dashed) == 1  # the depends_on edge
    assert len(list(root.iter(f"{SVG}circle"))) == 9 + 1  # a dot per revision, a ring where we are
    assert not list(root.iter(f"{SVG}style")) and not list(root.iter(f"{SVG}script"))


def test_notebook_display_is_inline_svg_and_terminal_display_is_text(branched: Migrator) -> None:
    graph = graph_of(branched)
    html = graph._repr_html_()
    assert html.startswith("<div") and "<svg" in html and "you are here" in html
    assert graph._repr_svg_() == graph.svg()
    assert pretty(graph) == repr(graph) == str(graph) == graph.text()


def test_text_drawing_shows_the_branches(branched: Migrator) -> None:
    graph = graph_of(branched)
    lines = graph.text().splitlines()
    by_short = {node.short: line for node in graph.nodes for line in lines if node.short in line}
    column = {short: min(line.index(c) for c in "*@" if c in line) for short, line in by_short.items()}
    short = {node.revision: node.short for node in graph.nodes}
    assert column[short[H]] != column[short[X]]
    assert by_short[short[H]].lstrip().startswith("@") and "you are here" in by_short[short[H]]
    assert "(head)" in by_short[short[X]]
    assert "label audit" in by_short[short[D]]
    assert f"depends on {short[D]}" in by_short[short[F]]
    assert any("\\" in line for line in lines) and any("/" in line for line in lines)  # forks, joins
    assert len(lines) > len(graph.nodes)


def test_frames(branched: Migrator) -> None:
    nodes, edges = graph_of(branched).frames()
    assert len(nodes) == 9 and nodes.loc[nodes["is_current"], "revision"].tolist() == [H]
    assert list(edges.columns) == ["child", "parent", "dependency", "lane"]
    assert edges["dependency"].sum() == 1


def test_database_ahead_of_the_files_and_an_empty_directory(workdir: Path, sqlite_url: str) -> None:
    m = Migrator(url=sqlite_url)
    m.init()
    empty = revision_graph(m.script_directory(), ("feedfacecafe",), note="a note under the drawing")
    assert empty.nodes == () and empty.missing_current == ("feedfacecafe",)
    assert empty.text().splitlines() == [
        "no revisions yet",
        "you are here: feedfacecafe (not in this directory)",
        "a note under the drawing",
    ]
    svg_text = "".join(ET.fromstring(empty.svg()).itertext())
    assert "not in this directory" in svg_text and "a note under the drawing" in svg_text


def chain(directory: Path, count: int, prefix: str = "c") -> list[str]:
    ids = [f"{prefix}{k:011x}" for k in range(count)]
    for k, revision in enumerate(ids):
        write(directory, revision, ids[k - 1] if k else None, "pass")
    return ids


def test_a_thousand_revision_chain_collapses_to_a_handful(workdir: Path, sqlite_url: str) -> None:
    Migrator(url=sqlite_url).init()
    ids = chain(workdir / "alembic", 1000)
    script = load(workdir / "alembic")
    graph = revision_graph(script, (ids[500],))
    assert len(graph.nodes) <= 8
    assert sum(node.count for node in graph.nodes) == 1000
    assert [n.revision for n in graph.nodes if not n.collapsed][:2] == [ids[-1], ids[-2]]  # head kept
    assert graph.nodes[-1].revision == ids[0] and graph.nodes[-1].is_base
    here = graph.node(ids[500])
    assert here.revision == ids[500] and here.is_current and here.count == 1  # never hidden
    inside = graph.node(ids[300])
    assert inside.collapsed and inside.first <= ids[300] <= inside.last
    assert "… 498 revisions" in graph.text() or "… 497 revisions" in graph.text()
    assert len(ET.fromstring(graph.svg()).findall(f"{SVG}g")) == len(graph.nodes)
    everything = revision_graph(script, (ids[500],), show_all=True)
    assert [node.revision for node in everything.nodes] == ids[::-1]


def test_a_thousand_revisions_with_branches_and_merges_stay_small(workdir: Path, sqlite_url: str) -> None:
    Migrator(url=sqlite_url).init()
    versions = workdir / "alembic"
    trunk = chain(versions, 700)
    side = chain(versions, 150, prefix="d")  # d0 forks from trunk[100]; merged at trunk[400]
    write(versions, side[0], trunk[100], "pass")
    write(versions, trunk[400], (trunk[399], side[-1]), "pass")
    loose = chain(versions, 150, prefix="e")  # forks from trunk[600]: a second head
    write(versions, loose[0], trunk[600], "pass")
    graph = revision_graph(load(versions))
    assert len(graph.nodes) <= 20
    assert sum(node.count for node in graph.nodes) == 1000
    shown = {node.revision: node for node in graph.nodes if not node.collapsed}
    assert {trunk[100], trunk[600]} <= {r for r, n in shown.items() if n.is_branch_point}
    assert shown[trunk[400]].is_merge
    assert {r for r, n in shown.items() if n.is_head} == {trunk[-1], loose[-1]}
    assert graph.width == 2


def test_two_branches_off_base_hang_off_a_base_node(workdir: Path, sqlite_url: str) -> None:
    """Two chains that share no revision are two lanes joining at base, in text as in the SVG, not
    one straight chain with the second root printed under the first."""
    m = Migrator(url=sqlite_url, directory="mig")
    m.init()
    write(workdir / "mig", "a1", None, "pass")
    write(workdir / "mig", "b2", "a1", "pass")
    write(workdir / "mig", "c3", None, "pass")
    graph = graph_of(m)
    lanes = {node.revision: node.lane for node in graph.nodes}
    assert lanes["a1"] != lanes["c3"] and graph.nodes[-1].revision == "base"
    assert {(e.child, e.parent) for e in graph.edges} >= {("a1", "base"), ("c3", "base")}
    lines = graph.text().splitlines()
    assert lines[-1].endswith("base") and lines[-2] in {"|/", "|\\"}, lines
    root_rows = [line for line in lines if " a1 " in f"{line} " or " c3 " in f"{line} "]
    assert any(line.startswith("| ") for line in root_rows), lines  # one root in a lane of its own
    svg = ET.fromstring(graph.svg())
    assert any("base" in "".join(t.itertext()) for t in svg.iter(f"{SVG}text"))


def test_one_root_draws_no_base_node(branched: Migrator) -> None:
    assert all(node.revision != "base" for node in graph_of(branched).nodes)


def test_the_text_graph_wraps_labels_at_word_boundaries_beside_its_lanes(
    workdir: Path, sqlite_url: str
) -> None:
    m = Migrator(url=sqlite_url, directory="mig")
    m.init()
    long = "Backfill the email column from the legacy contacts table before the sign-up form reads it"
    m.revision("create users", rev_id="a1")
    m.revision(long, rev_id="b2")
    text = graph_of(m).text(40)
    lines = text.splitlines()
    assert all(len(line) <= 40 for line in lines), lines
    words = " ".join(line[2:] for line in lines if not line.startswith("* a1")).split()
    assert words == ["b2", "(head)", *long.split()]
    assert all(line[0] in "|*@" for line in lines), lines  # the lane goes on beside the wrapped lines
