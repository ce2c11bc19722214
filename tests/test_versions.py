"""The lowest supported versions are stated once in effect: pyproject.toml's floors, the README's
Supported versions and the constraints `make test-min` installs (.ci/minimums.txt) name the same."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
SHOWN = {
    "ipython": "IPython",
    "alembic": "Alembic",
    "sqlalchemy": "SQLAlchemy",
    "pandas": "pandas",
    "jinja2": "Jinja2",
}


def minimums() -> dict[str, Version]:
    lines = (ROOT / ".ci" / "minimums.txt").read_text().splitlines()
    pairs = [line.split("#")[0].strip().split("==") for line in lines if "==" in line]
    return {name.lower(): Version(version) for name, version in pairs}


def test_the_readme_pyproject_and_the_min_job_name_the_same_lowest_versions() -> None:
    floors = {}
    for text in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
        requirement = Requirement(text)
        lows = [Version(s.version) for s in requirement.specifier if s.operator == ">="]
        if lows:
            floors[requirement.name.lower()] = lows[0]
    readme = (ROOT / "README.md").read_text()
    supported = " ".join(readme.split("## Supported versions", 1)[1].split("\n## ", 1)[0].split())
    wanted = minimums()
    assert set(wanted) == set(SHOWN)
    for name, version in wanted.items():
        assert floors[name] == version, (name, floors[name], version)
        stated = re.search(rf"{SHOWN[name]} (\d[\d.]*) or later", supported)
        assert stated is not None and Version(stated.group(1)) == version, (name, stated)
