"""%%migrate cells through a real IPython shell and a real kernel: hand-written revisions (DDL and data
migrations), and model cells that replace their earlier declarations when run again."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

from sakyum_magic import ResultFrame
from tests.shells import migrate

BASE = """
import sqlalchemy as sa
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()
"""

MODELS = """
class User(Base):
    __tablename__ = "users"
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(50), nullable=False)
    posts = relationship("Post", back_populates="user")


class Post(Base):
    __tablename__ = "posts"
    id = sa.Column(sa.Integer, primary_key=True)
    user_id = sa.Column(sa.Integer, sa.ForeignKey("users.id"), nullable=False)
    title = sa.Column(sa.String(200), nullable=False)
    user = relationship("User", back_populates="posts")


class Tag(Base):
    __tablename__ = "tags"
    id = sa.Column(sa.Integer, primary_key=True)
"""

# The same cell, edited: users gains email, posts loses title, Tag is gone.
EDITED = (
    MODELS.replace(
        "name = sa.Column(sa.String(50), nullable=False)",
        "name = sa.Column(sa.String(50), nullable=False)\n    email = sa.Column(sa.String(120))",
    )
    .replace("    title = sa.Column(sa.String(200), nullable=False)\n", "")
    .split("\n\nclass Tag")[0]
    + "\n"
)

USERS_TABLE = """
def upgrade():
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
    )


def downgrade():
    op.drop_table("users")
"""

SEED = """
users = sa.table("users", sa.column("id", sa.Integer), sa.column("name", sa.String))


def upgrade():
    op.bulk_insert(users, [{"id": 1, "name": "ada"}, {"id": 2, "name": "grace"}])
    # read back what was just inserted, on the migration's own connection
    count = op.get_bind().execute(sa.select(sa.func.count()).select_from(users)).scalar_one()
    op.execute(users.update().where(users.c.id == 1).values(name=f"ada, first of {count}"))


def downgrade():
    op.execute(users.delete().where(users.c.id.in_([1, 2])))
"""


def cell(shell: Any, line: str, body: str) -> Any:
    """What a ``%%migrate line`` cell returns."""
    return shell.run_cell_magic("migrate", line, body)


def one_line_cell_error(shell: Any, line: str, body: str) -> str:
    with pytest.raises(UsageError) as caught:
        cell(shell, line, body)
    assert type(caught.value) is UsageError
    message = str(caught.value)
    assert "\n" not in message
    return message


def run(shell: Any, source: str) -> Any:
    """Run a cell as the notebook does; the result says whether it failed, and what it returned."""
    return shell.run_cell(source, store_history=True)


def printed(capsys: Any) -> str:
    """What the shell printed, without its colours."""
    return re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)


def rows(workdir: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(workdir / "default.db") as connection:
        return connection.execute(query).fetchall()


def versions(workdir: Path) -> list[Path]:
    return sorted((workdir / "alembic" / "versions").glob("*.py"))


# -- %%migrate revision ---------------------------------------------------------------------------


def test_cell_revision_with_ddl_is_a_standard_revision_file(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    made = cell(shell, "revision -m 'create users' --rev-id r1", USERS_TABLE)
    assert isinstance(made, ResultFrame) and made.written[0].revision == "r1"
    assert made.command == "%%migrate revision --message 'create users' --rev-id r1"
    text = Path(made.written[0].path).read_text()
    assert "Revision ID: r1" in text and "from alembic import op\nimport sqlalchemy as sa" in text
    assert text.count("def upgrade") == 1 and text.count("def downgrade") == 1
    assert 'op.create_table(\n        "users",' in text and 'op.drop_table("users")' in text
    migrate(shell, "upgrade")
    assert rows(workdir, "select name from sqlite_master where name = 'users'") == [("users",)]
    migrate(shell, "downgrade base")
    assert rows(workdir, "select name from sqlite_master where name = 'users'") == []


def test_cell_revision_with_a_data_migration(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    cell(shell, "revision -m users --rev-id r1", USERS_TABLE)
    made = cell(shell, "revision -m 'seed users' --rev-id r2 --head r1", SEED)
    assert made.written[0].down_revision == ("r1",)
    assert "upgrade() and downgrade() given" in made.empty_note
    migrate(shell, "upgrade r1")
    plan = migrate(shell, "plan")
    assert any("INSERT INTO users" in statement for statement in plan["statement"])
    migrate(shell, "upgrade")
    assert rows(workdir, "select id, name from users order by id") == [(1, "ada, first of 2"), (2, "grace")]
    migrate(shell, "downgrade -1")
    assert rows(workdir, "select count(*) from users") == [(0,)]
    assert [r for (r,) in rows(workdir, "select version_num from alembic_version")] == ["r1"]


def test_cell_data_migration_on_every_database(shell: Any, any_url: str) -> None:
    import sqlalchemy as sa

    migrate(shell, f"config --url {any_url}")
    migrate(shell, "init")
    cell(shell, "revision -m users --rev-id r1", USERS_TABLE)
    cell(shell, "revision -m seed --rev-id r2", SEED)
    migrate(shell, "upgrade")
    engine = sa.create_engine(any_url)
    try:
        with engine.connect() as connection:
            found = connection.execute(sa.text("select id, name from users order by id")).all()
        assert [tuple(row) for row in found] == [(1, "ada, first of 2"), (2, "grace")]
        migrate(shell, "downgrade base")
        with engine.connect() as connection:
            assert "users" not in sa.inspect(connection).get_table_names()
    finally:
        shell.magics_manager.registry["MigrateMagics"].migrator.dispose()
        engine.dispose()


def test_cell_without_downgrade_keeps_the_rendered_one(shell: Any) -> None:
    migrate(shell, "init")
    made = cell(shell, "revision -m only-up", "def upgrade():\n    op.execute('select 1')\n")
    text = Path(made.written[0].path).read_text()
    assert "op.execute('select 1')" in text and "def downgrade() -> None:" in text
    assert "downgrade() does nothing" in made.empty_note


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("def upgrade(:\n    op.drop_table('users')\n", "does not compile: invalid syntax at line 2"),
        ("\n\ndef upgrade():\nop.drop_table('users')\n", "at line 5 (op.drop_table('users'))"),
        ("def downgrade():\n    pass\n", "defines no upgrade()"),
        ("# nothing yet\n", "defines no upgrade()"),
        ("def upgrade():\n    op.execute('\x00')\n", "contains a NUL character at line 3"),
        ("def upgrade():\n    pass\nrevision = 'x'\n", "sets revision at line 4"),
        # Every other way of binding a name the revision map reads.
        ("for down_revision in ['nope']:\n    pass\ndef upgrade():\n    pass\n", "sets down_revision"),
        ("if (down_revision := 'x'):\n    pass\ndef upgrade():\n    pass\n", "sets down_revision at line 2"),
        ("globals()['down_revision'] = 'nope'\ndef upgrade():\n    pass\n", "sets down_revision at line 2"),
        ("import os as down_revision\ndef upgrade():\n    pass\n", "sets down_revision at line 2"),
        ("from os import sep as depends_on\ndef upgrade():\n    pass\n", "sets depends_on at line 2"),
        ("def upgrade():\n    global branch_labels\n    branch_labels = 'x'\n", "sets branch_labels"),
        ("with open('x') as revision:\n    pass\ndef upgrade():\n    pass\n", "sets revision at line 2"),
        ("class down_revision:\n    pass\ndef upgrade():\n    pass\n", "sets down_revision at line 2"),
        ("x = [(down_revision := 1) for _ in 'a']\ndef upgrade():\n    pass\n", "sets down_revision"),
        ("vars().update(down_revision='nope')\ndef upgrade():\n    pass\n", "through vars() at line 2"),
        ("name = 'down_' + 'revision'\nglobals()[name] = 0\ndef upgrade():\n    pass", "globals() at line 3"),
    ],
)
def test_bad_cell_is_one_line_and_writes_nothing(shell: Any, workdir: Path, body: str, expected: str) -> None:
    migrate(shell, "init")
    assert expected in one_line_cell_error(shell, "revision -m bad", body)
    assert versions(workdir) == []


@pytest.mark.parametrize(
    "body",
    [
        "import sys\nsetattr(sys.modules[__name__], 'down_revision', 'nope')\ndef upgrade():\n    pass\n",
        "exec('down_' + 'revision = \"nope\"')\ndef upgrade():\n    pass\n",
        "op.execute('SELECT 1')\ndef upgrade():\n    pass\n",  # module-level code that fails on load
    ],
    ids=["setattr on the module", "exec", "fails when loaded"],
)
def test_a_body_that_changes_the_ids_when_loaded_leaves_no_file(shell: Any, workdir: Path, body: str) -> None:
    """What no reading of the text can find is caught by loading the file written: it goes again,
    and every later command works."""
    migrate(shell, "init")
    migrate(shell, "revision -m first --rev-id r1")
    message = one_line_cell_error(shell, "revision -m bad", body)
    assert "no file was kept" in message
    assert [p.name for p in versions(workdir)] == ["r1_first.py"]
    assert list(migrate(shell, "history")["revision"]) == ["r1"]
    migrate(shell, "upgrade head")


def test_cell_options_are_checked_like_a_line(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    message = one_line_cell_error(shell, "revision -m x --bogus", USERS_TABLE)
    assert "unrecognized arguments: --bogus" in message
    message = one_line_cell_error(shell, "revision --autogenerate -m x", USERS_TABLE)
    assert "leave out --autogenerate" in message
    assert "takes no cell" in one_line_cell_error(shell, "upgrade head", USERS_TABLE)
    assert "takes no options" in one_line_cell_error(shell, "models --force", "x = 1")
    assert versions(workdir) == []
    help_text = shell.magics_manager.magics["cell"]["migrate"].getdoc()
    assert "%%migrate revision" in help_text and "%%migrate models" in help_text


# -- model cells ----------------------------------------------------------------------------------


def columns(shell: Any, table: str) -> list[str]:
    return list(shell.user_ns["Base"].metadata.tables[table].columns.keys())


def tables(shell: Any) -> list[str]:
    return sorted(shell.user_ns["Base"].metadata.tables)


def upgraded_models(shell: Any) -> None:
    """Base and the model cell, bound, with a first revision applied."""
    assert run(shell, BASE).success and run(shell, MODELS).success
    migrate(shell, "config --metadata Base")
    migrate(shell, "init")
    migrate(shell, "revision --autogenerate -m first")
    migrate(shell, "upgrade")


def relationships_resolve(shell: Any) -> None:
    from sqlalchemy.orm import configure_mappers

    configure_mappers()
    user, post = shell.user_ns["User"], shell.user_ns["Post"]
    assert post.user.property.mapper.class_ is user and user.posts.property.mapper.class_ is post
    (key,) = shell.user_ns["Base"].metadata.tables["posts"].c.user_id.foreign_keys
    assert key.column.table is shell.user_ns["Base"].metadata.tables["users"]


@pytest.mark.parametrize("how", ["%%migrate models\n", ""])
def test_edited_model_cell_rerun_then_diff_autogenerate_upgrade(
    shell: Any, workdir: Path, capsys: Any, how: str
) -> None:
    upgraded_models(shell)
    capsys.readouterr()
    assert run(shell, how + EDITED).success
    if how:
        assert "Replaced Post, User; Tag left the models; table(s) tags left the metadata" in printed(capsys)
    assert tables(shell) == ["posts", "users"]
    assert columns(shell, "users") == ["id", "name", "email"]
    assert columns(shell, "posts") == ["id", "user_id"]
    relationships_resolve(shell)
    diff = migrate(shell, "diff")
    assert sorted(zip(diff["op"], diff["table"], diff["name"].fillna(""), strict=True)) == [
        ("add_column", "users", "email"),
        ("remove_column", "posts", "title"),
        ("remove_table", "tags", ""),
    ]
    made = migrate(shell, "revision --autogenerate --allow-drop -m edit")
    assert sorted(made["op"]) == ["add_column", "remove_column", "remove_table"]
    migrate(shell, "upgrade")
    assert [c for _, c, *_ in rows(workdir, "pragma table_info(users)")] == ["id", "name", "email"]
    assert [c for _, c, *_ in rows(workdir, "pragma table_info(posts)")] == ["id", "user_id"]
    assert migrate(shell, "check").empty
    assert run(shell, how + MODELS).success  # and back: Tag and title return, email goes
    assert tables(shell) == ["posts", "tags", "users"] and columns(shell, "posts")[-1] == "title"
    assert sorted(migrate(shell, "diff")["op"]) == ["add_column", "add_table", "remove_column"]


def test_other_cells_tables_are_untouched_and_follow_redeclared_classes(shell: Any) -> None:
    run(shell, BASE)
    run(shell, MODELS)
    comments = "class Comment(Base):\n    __tablename__ = 'comments'\n"
    comments += "    id = sa.Column(sa.Integer, primary_key=True)\n"
    comments += "    post_id = sa.Column(sa.Integer, sa.ForeignKey('posts.id'))\n"
    comments += "    post = relationship('Post')\n"
    run(shell, comments)
    kept = shell.user_ns["Base"].metadata.tables["comments"]
    assert run(shell, EDITED).success
    metadata = shell.user_ns["Base"].metadata
    assert metadata.tables["comments"] is kept  # not declared again, not touched
    (key,) = kept.c.post_id.foreign_keys
    assert key.column.table is metadata.tables["posts"]  # the foreign key follows the new posts
    relationships_resolve(shell)
    assert shell.user_ns["Comment"].post.property.mapper.class_ is shell.user_ns["Post"]


def test_configured_relationship_from_another_cell_is_named(shell: Any, capsys: Any) -> None:
    run(shell, BASE)
    owner = "class Owner(Base):\n    __tablename__ = 'owners'\n    id = sa.Column(sa.Integer, primary_key=1)"
    run(shell, owner)
    pets = "class Pet(Base):\n    __tablename__ = 'pets'\n    id = sa.Column(sa.Integer, primary_key=True)\n"
    pets += "    owner_id = sa.Column(sa.ForeignKey('owners.id'))\n    owner = relationship('Owner')\n"
    run(shell, pets)
    run(shell, "sa.orm.configure_mappers()")
    capsys.readouterr()
    assert run(shell, owner).success
    assert "Pet.owner still refer(s) to a class this cell replaced" in printed(capsys)
    assert run(shell, pets).success  # the way out the note gives
    run(shell, "sa.orm.configure_mappers()")
    assert shell.user_ns["Pet"].owner.property.mapper.class_ is shell.user_ns["Owner"]


@pytest.mark.parametrize("how", ["%%migrate models\n", ""])
def test_failing_rerun_leaves_the_models_as_they_were(shell: Any, capsys: Any, how: str) -> None:
    run(shell, BASE)
    run(shell, MODELS)
    metadata = shell.user_ns["Base"].metadata
    before = dict(metadata.tables)
    user = shell.user_ns["User"]
    broken = EDITED.replace("    posts = relationship", "    oops = 1 / 0\n    posts = relationship")
    capsys.readouterr()
    result = run(shell, how + broken)
    assert not result.success
    out = printed(capsys)
    assert "ZeroDivisionError" in out and "oops = 1 / 0" in out  # the user's own traceback
    if how:
        assert type(result.error_in_exec) is UsageError
        line = (how + broken).splitlines().index("    oops = 1 / 0") + 1
        assert f"the models cell failed at line {line} (ZeroDivisionError)" in str(result.error_in_exec)
    assert dict(metadata.tables) == before and all(metadata.tables[k] is t for k, t in before.items())
    assert columns(shell, "users") == ["id", "name"] and shell.user_ns["User"] is user
    relationships_resolve(shell)
    assert run(shell, how + EDITED).success  # fixed, it runs
    assert columns(shell, "users") == ["id", "name", "email"] and "tags" not in metadata.tables


def test_syntax_error_in_models_cell(shell: Any) -> None:
    run(shell, BASE)
    run(shell, MODELS)
    result = run(shell, "%%migrate models\nclass User(Base):\n    id = sa.Column(\n")
    assert "the models cell failed at line 3 (SyntaxError)" in str(result.error_in_exec)
    assert columns(shell, "users") == ["id", "name"] and tables(shell) == ["posts", "tags", "users"]


def test_table_declared_in_a_models_cell(shell: Any) -> None:
    run(shell, BASE)
    tag_table = 'post_tags = sa.Table("post_tags", Base.metadata, sa.Column("post_id", sa.Integer))\n'
    assert run(shell, "%%migrate models\n" + tag_table).success
    edited = tag_table.replace("))", "), sa.Column('tag_id', sa.Integer))")
    assert run(shell, "%%migrate models\n" + edited).success
    assert columns(shell, "post_tags") == ["post_id", "tag_id"]


def test_renamed_classes_with_a_cell_id(shell: Any) -> None:
    run(shell, BASE)
    shell.run_cell(MODELS, cell_id="cell-1")
    renamed = MODELS.replace("class Tag(Base)", "class Label(Base)").replace('"tags"', '"labels"')
    assert shell.run_cell(renamed, cell_id="cell-1").success
    assert tables(shell) == ["labels", "posts", "users"]
    other = "class Other(Base):\n    __tablename__ = 'other'\n    id = sa.Column(sa.Integer, primary_key=1)\n"
    assert shell.run_cell(other, cell_id="cell-2").success
    assert tables(shell) == ["labels", "other", "posts", "users"]


@pytest.mark.filterwarnings("ignore:This declarative base already contains a class")  # SQLAlchemy's own
def test_plain_reruns_can_be_turned_off(shell: Any) -> None:
    run(shell, BASE)
    run(shell, MODELS)
    shell.run_line_magic("config", "MigrateMagics.rerun_models = False")
    result = run(shell, MODELS)
    assert "already defined for this MetaData" in str(result.error_in_exec)
    assert run(shell, "%%migrate models\n" + EDITED).success  # the magic still does it


def test_flask_sqlalchemy_models(shell: Any) -> None:
    run(shell, "import sqlalchemy as sa\nfrom flask_sqlalchemy import SQLAlchemy\ndb = SQLAlchemy()")
    model = "class Thing(db.Model):\n    id = sa.Column(sa.Integer, primary_key=True)\n"
    assert run(shell, model).success
    assert run(shell, model + "    label = sa.Column(sa.String(20))\n").success
    assert list(shell.user_ns["db"].metadata.tables["thing"].columns.keys()) == ["id", "label"]


def test_unload_removes_the_cell_magic_and_the_events(shell: Any) -> None:
    assert "migrate" in shell.magics_manager.magics["cell"]
    shell.run_line_magic("unload_ext", "sakyum_magic")
    assert "migrate" not in shell.magics_manager.magics["cell"]
    assert not any("MigrateMagics" in repr(c) for c in shell.events.callbacks["pre_run_cell"])
    shell.run_line_magic("load_ext", "sakyum_magic")
    assert "migrate" in shell.magics_manager.magics["cell"]


# -- in a real kernel -----------------------------------------------------------------------------


@pytest.mark.notebook
def test_cells_in_a_kernel(tmp_path: Path) -> None:
    """The exploration loop in a Jupyter kernel: a model cell run again unchanged, then edited with
    %%migrate models, diff, autogenerate, upgrade; a data migration cell; a failing models cell."""
    import nbformat
    from nbclient import NotebookClient

    sources = [
        "%load_ext sakyum_magic",
        BASE,
        MODELS,
        "%migrate config --metadata Base\n%migrate init\n%migrate revision --autogenerate -m first",
        "%migrate upgrade",
        MODELS,  # run again with no change
        "%%migrate models\n" + EDITED,
        "%migrate diff",
        "%migrate revision --autogenerate --allow-drop -m edit",
        "%migrate upgrade",
        "%%migrate revision -m 'seed users'\n" + SEED,
        "%migrate upgrade",
        "%%migrate models\n" + EDITED.replace("    posts =", "    oops = 1 / 0\n    posts ="),
        "%migrate diff",
        "import sqlite3\nsqlite3.connect('default.db').execute('select id, name from users').fetchall()",
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    notebook.cells[12].metadata["tags"] = ["raises-exception"]
    NotebookClient(notebook, timeout=180, resources={"metadata": {"path": str(tmp_path)}}).execute()

    def shown(index: int) -> str:
        texts = []
        for output in notebook.cells[index].outputs:
            if output.output_type == "stream":
                texts.append(output.text)
            elif output.output_type == "error":
                texts.append(f"{output.ename}: {output.evalue}\n" + "\n".join(output.traceback))
            else:
                texts.append(output.get("data", {}).get("text/plain", ""))
        return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(texts))

    errors = [i for i, c in enumerate(notebook.cells) if any(o.output_type == "error" for o in c.outputs)]
    assert errors == [12]
    assert "Replaced Post, User; Tag left the models" in shown(6)
    assert "add_column" in shown(7) and "email" in shown(7) and "remove_table" in shown(7)
    assert "3 differences" in shown(7)
    assert "Written with the upgrade() and downgrade() given" in shown(10)
    assert "ZeroDivisionError" in shown(12) and "oops = 1 / 0" in shown(12)
    assert "UsageError: the models cell failed at line" in shown(12)
    assert "No differences" in shown(13)  # the failed cell changed nothing
    assert "(1, 'ada, first of 2'), (2, 'grace')" in shown(14)


def test_cells_without_models_import_nothing_heavy() -> None:
    """Watching cells costs nothing until SQLAlchemy is in use: a cell with a plain class imports none."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\nip.run_line_magic('load_ext', 'sakyum_magic')\n"
        "assert ip.run_cell('class Point:\\n    x = 1').success\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "print(','.join(sorted(loaded & {'alembic', 'pandas', 'sqlalchemy', 'ipywidgets'})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("how", ["%%migrate models\n", ""])
def test_model_cell_with_ipython_syntax_is_run_again(shell: Any, how: str) -> None:
    run(shell, BASE)
    mixed = how + MODELS + "\n%config MigrateMagics.progress = False\n"
    assert run(shell, mixed).success and run(shell, mixed.replace('"tags"', '"labels"')).success
    assert tables(shell) == ["labels", "posts", "users"]
