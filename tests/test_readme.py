"""The README names what the package exports: every error a user can catch."""

from __future__ import annotations

import re
from pathlib import Path

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
