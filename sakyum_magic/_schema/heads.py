"""``%migrate check --single-head``: the check CI scripts write by hand (``alembic heads | wc -l``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._core.errors import MultipleHeadsError

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory


def require_single_head(script: ScriptDirectory) -> None:
    """MultipleHeadsError naming the heads when the directory has more than one (none is fine: an
    empty directory has nothing to diverge)."""
    heads = tuple(sorted(script.get_heads()))
    if len(heads) > 1:
        raise MultipleHeadsError(
            f"the directory has {len(heads)} heads ({', '.join(heads)}): "
            "join them with %migrate merge heads -m MESSAGE",
            heads,
        )
