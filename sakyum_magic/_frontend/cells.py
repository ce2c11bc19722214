"""``%%migrate`` cells, and model cells that can be run again after an edit.

- ``%%migrate revision -m MSG [--rev-id ID] [--head H] ...``: the line is a ``%migrate revision``
  line; the cell holds ``def upgrade():`` (and perhaps ``def downgrade():``) as written in a
  revision file, and becomes the body of the revision written (``Migrator.revision(body=...)``).
- ``%%migrate models``: the cell declares ORM classes; run again after an edit, its new declarations
  replace its earlier ones (:mod:`sakyum_magic._frontend.models`), and if it fails the models stay as they
  were.
- Without the magic: after ``%load_ext sakyum_magic`` a cell whose classes derive from a declarative
  base of an earlier cell gets the same treatment when it runs (IPython's ``pre_run_cell`` and
  ``post_run_cell`` events; ``%config MigrateMagics.rerun_models = False`` turns that off).
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .models import CellShape, ModelCells, Outcome, Pending, cell_shape

if TYPE_CHECKING:
    from .magic import MigrateMagics as Magics

USAGE = """%%migrate revision -m MESSAGE [--rev-id ID] [--head H] [--branch-label L] [--depends-on D] ...
    The cell holds def upgrade(): and optionally def downgrade():, written as in a revision file
    (op and sa imported there). A standard revision file is written with them, as %migrate revision
    writes it; a cell that does not compile or has no upgrade() writes nothing.

%%migrate models
    The cell declares ORM classes on a Base (or db.Model) from an earlier cell. Run again after an
    edit, it replaces what it declared before: edited, added and removed columns take effect, a
    class taken out of the cell leaves the metadata, other tables stay. A cell that fails leaves the
    models as they were. (After %load_ext, a plain re-run of such a cell does the same, unless
    %config MigrateMagics.rerun_models = False.)

%migrate -h lists the line commands."""


# A top-level class statement with bases: the only kind of cell the events look further at.
_CLASS_WITH_BASES = re.compile(r"^class\s+\w+\s*\(", re.MULTILINE)


def run_cell(magics: Magics, line: str, cell: str) -> Any:
    """Run a ``%%migrate`` cell: ``models``, or a command that takes a cell (``revision``)."""
    words = line.split()
    if words[:1] == ["models"]:
        if len(words) > 1:
            raise UsageError(
                f"%%migrate models takes no options (got {' '.join(words[1:])[:60]!r}): "
                "the first line is %%migrate models alone, the classes go below it"
            )
        return run_models(magics, cell)
    from .handlers import run_line

    return run_line(magics, line, cell)


def model_cells(magics: Magics) -> ModelCells:
    """The session's record of model cells, made on first use."""
    if magics.model_cells is None:
        module = str(_namespace(magics).get("__name__", "__main__"))
        magics.model_cells = ModelCells(module)
    engine: ModelCells = magics.model_cells
    return engine


def run_models(magics: Magics, cell: str) -> Any:
    """Run a models cell so that it replaces its previous run's declarations."""
    from .._display import render

    shell = _shell(magics)
    namespace = _namespace(magics)
    # The magic's line as a comment (IPython drops leading blank lines): line numbers are the cell's.
    source = "# %%migrate models\n" + cell
    engine = model_cells(magics)
    shape = _shape(magics, source, namespace)
    pending = engine.prepare(shape, namespace, magics.cell_id, forced=True) if shape else None
    # Run as IPython runs any cell: a Python error shows the user's own traceback, at their line.
    result = shell.run_cell(source)
    outcome = engine.finish(pending, result.success, namespace) if pending is not None else None
    if not result.success:
        raise UsageError(_failure(result.error_before_exec or result.error_in_exec, namespace))
    return render.note(describe(outcome)) if outcome is not None else None


def before_cell(magics: Magics, raw_cell: str) -> Pending | None:
    """``pre_run_cell``: ready a plain model cell's re-run (None for any other cell)."""
    if raw_cell.lstrip().startswith("%%") or "sqlalchemy" not in sys.modules:
        return None  # a cell magic runs its own way; without SQLAlchemy there are no models yet
    if not _CLASS_WITH_BASES.search(raw_cell):
        return None
    namespace = _namespace(magics)
    shape = _shape(magics, raw_cell, namespace)
    return model_cells(magics).prepare(shape, namespace, magics.cell_id) if shape else None


def _shape(magics: Magics, raw_cell: str, namespace: dict[str, Any]) -> CellShape | None:
    """The cell's :class:`~sakyum_magic._frontend.models.CellShape`; None when it does not compile (IPython
    reports that)."""
    shape = cell_shape(raw_cell, namespace)
    if shape is not None:
        return shape
    try:  # IPython syntax (a %line, a !command): read it as IPython will run it (costs more)
        return cell_shape(_shell(magics).transform_cell(raw_cell), namespace)
    except (SyntaxError, ValueError):
        return None


def after_cell(magics: Magics, pending: Pending, result: Any) -> None:
    """``post_run_cell``: keep the model cell's declarations, or put the models back if it failed."""
    from .._display import render
    from . import session

    outcome = model_cells(magics).finish(pending, bool(result.success), _namespace(magics))
    if not outcome.ok and (pending.detached or pending.removed):
        session.show(magics, render.note(_KEPT, level="warning"))
    elif outcome.stale:
        session.show(magics, render.note(_stale(outcome.stale), level="warning"))


_KEPT = "The cell failed, so the models are as they were before it: fix it and run it again."


def describe(outcome: Outcome) -> str:
    """One line on what a models cell did."""
    new = [name for name in outcome.declared if name not in outcome.replaced]
    parts = [
        f"replaced {', '.join(outcome.replaced)}" if outcome.replaced else "",
        f"declared {', '.join(new)}" if new else "",
        f"{', '.join(outcome.removed)} left the models" if outcome.removed else "",
        f"table(s) {', '.join(outcome.tables_removed)} left the metadata" if outcome.tables_removed else "",
    ]
    said = "; ".join(part for part in parts if part) or "no ORM classes declared"
    text = f"{said[0].upper()}{said[1:]}. Next: %migrate diff shows what changed against the database."
    return f"{text} {_stale(outcome.stale)}" if outcome.stale else text


def _stale(names: tuple[str, ...]) -> str:
    return (
        f"{', '.join(names)} still refer(s) to a class this cell replaced (mappers already configured): "
        "run the cell that declares them again."
    )


def _failure(error: BaseException | None, namespace: dict[str, Any]) -> str:
    """The one line under the traceback of a models cell that failed."""
    kind = type(error).__name__ if error is not None else "an error"
    line = _error_line(error, namespace)
    where = f" at line {line}" if line is not None else ""
    return (
        f"the models cell failed{where} ({kind}); the models are as they were before the cell: "
        "fix it and run the cell again"
    )


def _error_line(error: BaseException | None, namespace: dict[str, Any]) -> int | None:
    """The cell's line of the error: a SyntaxError's, else the deepest frame of the cell's code."""
    if isinstance(error, SyntaxError):
        return error.lineno
    found, cell_file = None, None
    trace = error.__traceback__ if error is not None else None
    while trace is not None:
        code = trace.tb_frame.f_code
        if cell_file is None and code.co_name == "<module>" and trace.tb_frame.f_globals is namespace:
            cell_file = code.co_filename
        if code.co_filename == cell_file:
            found = trace.tb_lineno
        trace = trace.tb_next
    return found


def _shell(magics: Magics) -> Any:
    if magics.shell is None:
        raise UsageError("%%migrate cells run in an IPython shell: load the extension with %load_ext")
    return magics.shell


def _namespace(magics: Magics) -> dict[str, Any]:
    user_ns: dict[str, Any] = _shell(magics).user_ns
    return user_ns
