"""The README names what the package exports: every error a user can catch."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sakyum_magic

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_lists_every_exported_error() -> None:
    text = README.read_text()
    listed = re.search(r"Errors are `sakyum_magic.SakyumError` subclasses \(([^)]*)\)", text)
    assert listed is not None
    named = set(re.findall(r"`(\w+)`", listed.group(1)))
    exported = {
        name
        for name in sakyum_magic.__all__
        if isinstance(getattr(sakyum_magic, name), type)
        and issubclass(getattr(sakyum_magic, name), sakyum_magic.SakyumError)
    }
    assert named == exported - {"SakyumError"}


def test_the_without_ipython_example_runs_as_its_comments_say(tmp_path: Path, monkeypatch: Any) -> None:
    import sqlalchemy as sa

    block = README.read_text().split("## Without IPython", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    models = sa.MetaData()
    sa.Table("users", models, sa.Column("id", sa.Integer, primary_key=True))
    namespace: dict[str, Any] = {"Base": models}
    exec(compile(block, "README.md", "exec"), namespace)
    result = namespace["result"]
    said = block.split("# MigrationResult(", 1)[1].splitlines()[0]
    for name, opening in re.findall(r"(\w+)=(\W)", said):  # each field as the comment shows it opens
        assert f"{name}={opening}" in repr(result), (name, opening, repr(result)[:200])


def test_the_lint_ci_job_runs_on_a_database_with_nothing_left_to_apply(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The CI example of `lint`, as written, on a database at head whose models match."""
    import subprocess
    import sys

    from sakyum_magic import Migrator

    block = README.read_text().split("A CI job that runs against a copy", 1)[1].split("```bash\n", 1)[1]
    code = block.split('python -c "\n', 1)[1].split('\n"\n', 1)[0]
    models = (
        "import sqlalchemy as sa\nBase = sa.MetaData()\n"
        "sa.Table('users', Base, sa.Column('id', sa.Integer, primary_key=True))\n"
    )
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "models.py").write_text(models)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {}
    exec(models, namespace)
    url = f"sqlite:///{tmp_path / 'production.db'}"
    migrator = Migrator(url, metadata=namespace["Base"], directory="alembic")
    migrator.init()
    migrator.revision("users", autogenerate=True)
    migrator.upgrade()
    code = code.replace("$DATABASE_URL", url)
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-600:]
