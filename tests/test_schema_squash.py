"""``%migrate squash``: a chain of 30 revisions replaced by one with the same schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import Migrator
from sakyum_magic._core.errors import ConfigurationError, RevisionError
from sakyum_magic._schema.baseline import reflected, same_schema
from tests.revisions import write
from tests.shells import migrate

N = 30


def step(n: int) -> tuple[str, str]:
    """Revision n's upgrade and downgrade: a table every third step, else a column, an index or a
    widened type on the table before."""
    table = f"t{n - n % 3}"
    if n % 3 == 0:
        body = f'op.create_table("{table}", sa.Column("id", sa.Integer, primary_key=True))'
        return body, f'op.drop_table("{table}")'
    if n % 3 == 1:
        add = f'op.add_column("{table}", sa.Column("c{n}", sa.String(20), nullable=True))'
        index = f'op.create_index("ix_{table}_c{n}", "{table}", ["c{n}"])'
        drop = f'op.drop_index("ix_{table}_c{n}", table_name="{table}")\nop.drop_column("{table}", "c{n}")'
        return f"{add}\n{index}", drop
    batch = f'with op.batch_alter_table("{table}") as batch:\n    batch.alter_column("c{n - 1}", '
    wider = batch + "type_=sa.String(40), existing_type=sa.String(20))"
    return wider, batch + "type_=sa.String(20), existing_type=sa.String(40))"


def chain(workdir: Path, url: str, data_at: int | None = None) -> Migrator:
    migrator = Migrator(url=url)
    migrator.init()
    for n in range(N):
        up, down = step(n)
        if n == data_at:
            up += f'\nop.execute("UPDATE t{n - n % 3} SET id = id")'
        write(workdir / "alembic", f"r{n:02d}", f"r{n - 1:02d}" if n else None, up, down)
    return migrator


def test_thirty_revisions_squashed_to_one(any_url: str, workdir: Path) -> None:
    migrator = chain(workdir, any_url)
    migrator.upgrade("r02")  # below the range: it goes on through the new revision
    before = {p.name for p in (workdir / "alembic" / "versions").glob("*.py")}
    migrator.upgrade("r15")
    with pytest.raises(RevisionError, match="the bound database is at revision r15, inside the range"):
        migrator.squash("r03", "r29", "squashed")
    migrator.downgrade("r02")
    preview = migrator.squash("r03", "r29", "squashed", sql=True)
    assert not preview.written and "def upgrade()" in preview.source
    assert {p.name for p in (workdir / "alembic" / "versions").glob("*.py")} == before  # all put back

    done = migrator.squash("r03", "r29", "squashed")
    versions = sorted(p.name for p in (workdir / "alembic" / "versions").glob("*.py"))
    assert versions == ["r00.py", "r01.py", "r02.py", Path(done.path).name]
    assert len(list(Path(done.kept_in).glob("*.py"))) == 27
    assert "down_revision: Union[str, Sequence[str], None] = 'r02'" in done.source or "'r02'" in done.source
    assert [i.revision for i in migrator.heads()] == ["r29"]
    migrator.upgrade()
    assert [r.revision for r in migrator.current().revisions] == ["r29"]
    old = sa.create_engine(any_url)  # the schema the old chain built, from its files in the kept folder
    assert same_schema(old, reflected(migrator.engine()))
    old.dispose()
    results = {r.check: r.ok for r in migrator.test(["upgrade", "up_down_consistency"])}
    assert all(results.values()), results


def test_data_operations_are_named(sqlite_url: str, workdir: Path) -> None:
    migrator = chain(workdir, sqlite_url, data_at=7)
    with pytest.raises(ConfigurationError, match=r"revision\(s\) r07 \(op.execute\)"):
        migrator.squash("r03", "r12", "squashed")
    with pytest.raises(RevisionError, match="give the older one first"):
        migrator.squash("r12", "r03", "squashed")


def test_magic_squash_preview(shell: Any, sqlite_url: str, workdir: Path) -> None:
    migrate(shell, f"config --url {sqlite_url}")
    chain(workdir, sqlite_url)
    shown = migrate(shell, "squash r00 r05 -m first --sql")
    assert "would be written (--sql: nothing was changed)" in repr(shown)
