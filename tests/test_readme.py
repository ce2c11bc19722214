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
