"""Which revisions ``upgrade`` lints first: those whose ``upgrade()`` only declares operations."""

from __future__ import annotations

from pathlib import Path

import pytest

from sakyum_magic._lint.declarative import declarative

HEAD = "from alembic import op\nimport sqlalchemy as sa\nfrom sqlalchemy.dialects import postgresql\n\n\n"
DECLARED = [
    "def upgrade():\n    op.add_column('t', sa.Column('b', sa.Integer, server_default=sa.text('0')))\n",
    "def upgrade():\n    \"\"\"Doc.\"\"\"\n    op.create_index(op.f('ix_t_a'), 't', ['a'])\n    pass\n",
    "def upgrade():\n    with op.batch_alter_table('t') as batch_op:\n        batch_op.drop_column('a')\n",
    "def upgrade():\n    with op.get_context().autocommit_block():\n"
    "        op.create_index('ix', 't', ['a'], postgresql_concurrently=True)\n",
    "def upgrade():\n    op.execute(\"ALTER TYPE mood ADD VALUE 'happy'\")\n"
    "    op.alter_column('t', 'm', type_=postgresql.ENUM('a', name='m'))\n",
]
OWN_CODE = [
    "def upgrade():\n    rows = op.get_bind().execute(sa.text('SELECT 1'))\n",
    "def upgrade():\n    op.bulk_insert(t, load_rows())\n",
    "def upgrade():\n    import time\n    time.sleep(1)\n    op.drop_table('t')\n",
    "def upgrade():\n    for name in ['a', 'b']:\n        op.drop_column('t', name)\n",
    "def upgrade():\n    op.execute(op.get_bind().dialect.name)\n",
    "def downgrade():\n    op.drop_table('t')\n",
]


@pytest.mark.parametrize("body", DECLARED)
def test_operations_only(tmp_path: Path, body: str) -> None:
    path = tmp_path / "rev.py"
    path.write_text(HEAD + body)
    assert declarative(path)


@pytest.mark.parametrize("body", OWN_CODE)
def test_code_of_its_own(tmp_path: Path, body: str) -> None:
    path = tmp_path / "rev.py"
    path.write_text(HEAD + body)
    assert not declarative(path)
