"""Data survives SQLite batch mode: a 100,000-row table through a type and nullability change and back.

SQLite cannot ALTER a column, so Alembic's batch mode (``render_as_batch``, on for SQLite) copies the
table into a new one, drops the old and renames. Every row must come through each copy unchanged,
and a child table pointing at it with ``ON DELETE CASCADE`` must keep its rows too.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sakyum_magic import Migrator

from .models import namespace

ROWS = 100_000
CHILD_ROWS = 10_000

BEFORE = """
import sqlalchemy as sa
from sqlalchemy.orm import declarative_base

Base = declarative_base()

class Item(Base):
    __tablename__ = "items"
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(50), nullable=True)
    quantity = sa.Column(sa.Integer, nullable=True)
    note = sa.Column(sa.String(20), nullable=True)

class Tag(Base):
    __tablename__ = "tags"
    id = sa.Column(sa.Integer, primary_key=True)
    item_id = sa.Column(sa.Integer, sa.ForeignKey("items.id", ondelete="CASCADE"), nullable=False)
    label = sa.Column(sa.String(30), nullable=False)
"""

# name: VARCHAR(50) NULL -> VARCHAR(200) NOT NULL; quantity: INTEGER NULL -> BIGINT NOT NULL;
# note: VARCHAR(20) -> TEXT (still nullable, and NULL in some rows).
AFTER = (
    BEFORE.replace("sa.String(50), nullable=True", "sa.String(200), nullable=False")
    .replace("sa.Integer, nullable=True", "sa.BigInteger, nullable=False")
    .replace("sa.String(20), nullable=True", "sa.Text, nullable=True")
)


def _fill(url: str) -> None:
    """Bulk-insert the rows with executemany: unicode, quotes, big integers and NULLs included."""
    import sqlalchemy as sa

    items = [
        {
            "id": i,
            "name": f"item {i} \u2018\u00fc\u2019 'quoted' \"x\"" if i % 7 else f"name-{i:06d}",
            "quantity": i * 1_000_003 if i % 11 else -(2**40) - i,
            "note": None if i % 3 == 0 else f"n{i % 997}",
        }
        for i in range(1, ROWS + 1)
    ]
    tags = [{"id": t, "item_id": t * 7 % ROWS + 1, "label": f"tag {t}"} for t in range(1, CHILD_ROWS + 1)]
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            sa.text("INSERT INTO items (id, name, quantity, note) VALUES (:id, :name, :quantity, :note)"),
            items,
        )
        connection.execute(
            sa.text("INSERT INTO tags (id, item_id, label) VALUES (:id, :item_id, :label)"), tags
        )
    engine.dispose()


def _checksum(url: str) -> tuple[int, int, str]:
    """Row counts and a SHA-256 over every row of both tables, read in primary-key order."""
    import sqlalchemy as sa

    digest = hashlib.sha256()
    engine = sa.create_engine(url)
    counts = []
    with engine.connect() as connection:
        for query in (
            "SELECT id, name, quantity, note FROM items ORDER BY id",
            "SELECT id, item_id, label FROM tags ORDER BY id",
        ):
            count = 0
            for row in connection.exec_driver_sql(query):
                digest.update(repr(tuple(row)).encode())
                count += 1
            counts.append(count)
    engine.dispose()
    return counts[0], counts[1], digest.hexdigest()


def _columns(url: str) -> dict[str, tuple[str, bool]]:
    """The items table's columns as the database has them: name -> (type, nullable)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as connection:
        inspector = sa.inspect(connection)
        found = {c["name"]: (str(c["type"]), bool(c["nullable"])) for c in inspector.get_columns("items")}
        leftovers = [t for t in inspector.get_table_names() if t.startswith("_alembic_tmp")]
    engine.dispose()
    assert leftovers == []
    return found


@pytest.mark.slow
def test_rows_survive_batch_alter_down_and_up(workdir: Path, sqlite_url: str) -> None:
    models = namespace(BEFORE)
    migrator = Migrator(url=sqlite_url, metadata=models["Base"], progress=False)
    migrator.init()
    first = migrator.revision(message="create items", autogenerate=True)
    migrator.upgrade("head")
    _fill(sqlite_url)
    original = _checksum(sqlite_url)
    assert original[:2] == (ROWS, CHILD_ROWS)
    assert _columns(sqlite_url)["name"] == ("VARCHAR(50)", True)

    migrator.metadata = namespace(AFTER)["Base"]
    second = migrator.revision(message="tighten items", autogenerate=True)
    detected = {(o.op, o.name) for o in second.operations}
    assert {("modify_type", "name"), ("modify_nullable", "name")} <= detected
    assert {("modify_type", "quantity"), ("modify_nullable", "quantity"), ("modify_type", "note")} <= detected
    assert "batch_alter_table" in Path(second.revisions[0].path).read_text()

    steps = migrator.upgrade("head").steps
    assert [s.revision for s in steps] == [second.revisions[0].revision]
    assert _columns(sqlite_url) == {
        "id": ("INTEGER", False),
        "name": ("VARCHAR(200)", False),
        "quantity": ("BIGINT", False),
        "note": ("TEXT", True),
    }
    assert _checksum(sqlite_url) == original

    migrator.downgrade("-1")
    assert migrator.current().revisions[0].revision == first.revisions[0].revision
    assert _columns(sqlite_url)["name"] == ("VARCHAR(50)", True)
    assert _columns(sqlite_url)["quantity"] == ("INTEGER", True)
    assert _checksum(sqlite_url) == original

    migrator.upgrade("head")
    assert _columns(sqlite_url)["quantity"] == ("BIGINT", False)
    assert _checksum(sqlite_url) == original
    assert migrator.check() == []
    migrator.dispose()
