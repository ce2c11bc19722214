"""``%migrate schema``: the ER picture of the database, the models, a revision, and their difference."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import ConfigurationError, Migrator
from sakyum_magic._schema.er import MERMAID, mermaid
from sakyum_magic._schema.er_draw import layout, ranks
from sakyum_magic._schema.er_model import er_tables
from tests.shells import migrate

HAS_MERMAID = mermaid([]) is not None
"""paracelsus installed and importable here (the schema extra)."""


def shop(with_reviews: bool = False, price: Any = None) -> sa.MetaData:
    price = sa.Numeric(10, 2) if price is None else price
    m = sa.MetaData()
    sa.Table("customers", m, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(80)))
    sa.Table(
        "orders",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("placed_at", sa.DateTime),
    )
    sa.Table(
        "items",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False),
        sa.Column("price", price),
    )
    if with_reviews:
        sa.Table(
            "reviews",
            m,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("item_id", sa.Integer, sa.ForeignKey("items.id")),
        )
    return m


def upgraded(url: str) -> Migrator:
    migrator = Migrator(url=url, metadata=shop())
    migrator.init()
    migrator.revision("shop", autogenerate=True)
    migrator.upgrade()
    return migrator


def test_database_picture_has_every_form(any_url: str, workdir: Path) -> None:
    picture = upgraded(any_url).schema_diagram()
    assert [t.name for t in picture.tables] == ["customers", "items", "orders"]
    bundle = picture._repr_mimebundle_()
    if HAS_MERMAID:
        mermaid = bundle[MERMAID]
        assert mermaid.startswith("---\ntitle: ") and "\nerDiagram\n" in mermaid
        assert "text/html" not in bundle  # JupyterLab would draw HTML rather than Mermaid
        assert re.search(r"customers \|\|--o\{ orders : customer_id", mermaid)
    else:  # paracelsus cannot be used here: the SVG in HTML, and a note saying how to get Mermaid
        assert MERMAID not in bundle and "<svg" in bundle["text/html"]
        assert "sakyum-magic[schema]" in bundle["text/plain"]
    svg = ET.fromstring(bundle["image/svg+xml"])  # well-formed, self-contained
    assert svg.tag.endswith("svg") and "http" not in bundle["image/svg+xml"].replace(svg.tag[1:27], "")
    texts = "".join(svg.itertext())
    assert "orders" in texts and "customer_id" in texts
    listing = bundle["text/plain"]
    assert "customer_id  INTEGER" in listing and "→ customers.id" in listing


def test_models_at_revision_and_filters(sqlite_url: str, workdir: Path) -> None:
    migrator = upgraded(sqlite_url)
    first = migrator.current().revisions[0].revision
    migrator.metadata = shop(with_reviews=True)
    names = ["customers", "items", "orders", "reviews"]
    assert [t.name for t in migrator.schema_diagram(models=True).tables] == names
    assert [t.name for t in migrator.schema_diagram(at=first).tables] == ["customers", "items", "orders"]
    assert [t.name for t in migrator.schema_diagram(models=True, table_pattern="o*").tables] == ["orders"]
    empty = migrator.schema_diagram(table_pattern="nothing*")
    assert empty.tables == () and "No table matches --tables nothing*" in repr(empty)
    with pytest.raises(ConfigurationError, match="add --diff"):
        migrator.schema_diagram(models=True, at=first)


def test_diff_marks_added_removed_and_changed(any_url: str, workdir: Path) -> None:
    migrator = upgraded(any_url)
    after = shop(with_reviews=True, price=sa.String(20))
    after.remove(after.tables["customers"])
    orders = after.tables["orders"]
    orders.foreign_keys.clear()
    migrator.metadata = after
    picture = migrator.schema_diagram(diff=True)
    marks = {t.name: t.mark for t in picture.tables}
    assert marks == {"customers": "removed", "items": "changed", "orders": "", "reviews": "added"}
    items = {c.name: (c.mark, c.detail) for c in picture.tables[1].columns}
    assert items["price"][0] == "changed" and "VARCHAR(20)" in items["price"][1]
    assert '"changed: ' in picture.mermaid if HAS_MERMAID and picture.mermaid else not HAS_MERMAID
    svg = picture.svg()
    assert "#dafbe1" in svg and "#ffebe9" in svg and "#fff8c5" in svg
    assert "+ reviews" in picture.text() and "- customers" in picture.text()


def test_fifty_tables_stay_readable() -> None:
    m = sa.MetaData()
    sa.Table("t0", m, sa.Column("id", sa.Integer, primary_key=True))
    for n in range(1, 50):
        sa.Table(
            f"t{n}",
            m,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("parent_id", sa.Integer, sa.ForeignKey(f"t{(n - 1) // 3}.id")),
            sa.Column("label", sa.String(40)),
        )
    tables = er_tables(m)
    order = ranks(tables)
    assert order["t0"] == 0 and order["t1"] == 1 and order["t49"] == 4
    boxes = layout(tables)
    width = max(x + w for x, _y, w, _h in boxes.values())
    height = max(y + h for _x, y, _w, h in boxes.values())
    assert 0.5 < width / height < 4  # about as wide as tall, not one long row or column
    for a, (ax, ay, aw, ah) in boxes.items():  # no two boxes overlap
        for b, (bx, by, bw, bh) in boxes.items():
            assert a == b or ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay


def test_magic_schema(shell: Any, sqlite_url: str, workdir: Path) -> None:
    upgraded(sqlite_url)
    shell.user_ns["m"] = shop(with_reviews=True)
    migrate(shell, f"config --url {sqlite_url} --metadata m")
    picture = migrate(shell, "schema --diff --tables 'r*'")
    assert [t.name for t in picture.tables] == ["reviews"]
    assert "%migrate schema --diff --tables" in repr(picture)


def test_the_text_fits_the_terminal(shell: Any, sqlite_url: str, workdir: Path, monkeypatch: Any) -> None:
    """In a terminal the footer wraps as under a table, and the legend names the marks the text has."""
    monkeypatch.setenv("COLUMNS", "80")
    upgraded(sqlite_url)
    shell.user_ns["m"] = shop(with_reviews=True)
    migrate(shell, f"config --url {sqlite_url} --metadata m")
    shown = repr(migrate(shell, "schema --diff"))
    assert all(len(line) <= 80 for line in shown.splitlines()), shown
    legend = next(line for line in shown.splitlines() if line.startswith("Marked:"))
    assert "added +" in legend and "hover" not in legend, legend


def test_a_schema_the_database_lacks_is_one_line(any_url: str, workdir: Path) -> None:
    """--schema naming no schema of the database (found by the fuzz test on SQLite) names those it has."""
    migrator = Migrator(url=any_url)
    migrator.init()
    with sa.create_engine(any_url).begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    with pytest.raises(ConfigurationError, match=r"the database has no schema 'head' \(it has "):
        migrator.schema_diagram(schema="head")
    with pytest.raises(ConfigurationError, match="no schema 'head'"):
        migrator.schema_diagram(at="head", schema="head")


def test_no_table_is_said_once(shell: Any, sqlite_url: str, workdir: Path) -> None:
    upgraded(sqlite_url)
    migrate(shell, f"config --url {sqlite_url}")
    shown = repr(migrate(shell, "schema --tables 'zz*'"))
    assert "No table matches --tables zz*." in shown and "no tables" not in shown, shown
