"""Differences between the library versions the package supports, kept in one place."""

from __future__ import annotations

import importlib.util
from typing import Any


def progress_bar(**options: Any) -> Any:
    """A tqdm bar: the notebook widget when ipywidgets is installed, else text (never a warning)."""
    if importlib.util.find_spec("ipywidgets") is None:
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm(**options)


def alembic_option(config: Any, name: str) -> Any:
    """An ``[alembic]`` option; Alembic 1.16 and newer also look in ``[tool.alembic]``."""
    getter = getattr(config, "get_alembic_option", None) or config.get_main_option
    return getter(name)
