"""``%migrate fleet``: the targets expression evaluated in the notebook, the rollout shown while it runs.

While the rollout runs, a progress bar counts finished targets and, in a Jupyter kernel, the table of
targets is redrawn in place (at most every :data:`REDRAW_EVERY` seconds, and once at the end); the
final table is the command's result.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigurationError
from .._display import render
from .._display.progress import progress
from . import session

if TYPE_CHECKING:
    from .._display.progress import Bar
    from .._fleet import FleetResult
    from .magic import MigrateMagics

REDRAW_EVERY = 0.5


def fleet(
    magics: MigrateMagics,
    targets: str,
    action: str,
    revision: str | None = None,
    executor: str | None = None,
    canary: int = 0,
    parallel: int | None = None,
    max_failures: int | None = None,
    continue_on_error: bool = False,
) -> FleetResult:
    """Run one command on many databases or tenant schemas, in worker processes; one row per target.

    :param targets: a name (or expression) in the notebook holding the targets: a list (URLs, schema
        names of the bound database, (url, schema) pairs), a DataFrame with url and/or schema
        columns, or a SQL query string returning them (run on the bound database).
    :param action: current (drift report), plan, upgrade, downgrade, stamp, check, or lint (each
            target's pending revisions with its own table sizes).
    :param revision: the revision (upgrade default head; downgrade and stamp need one).
    :param executor: process (a local process pool, the default) or dask (the notebook's Dask client,
        else a LocalCluster for this run).
    :param canary: run the first N targets alone first; stop if any of them fails.
    :param parallel: run at most K targets at once (default: the executor's worker count).
    :param max_failures: stop starting targets after more than F failures (default 0).
    :param continue_on_error: keep starting targets whatever fails.
    """
    source = _targets(magics, targets)
    live = LiveTable(magics)
    with progress(None, f"fleet {action}", magics.progress) as bar:
        bar.unit = "targets"
        live.bar = bar
        try:
            return magics.migrator.fleet(
                source, action, revision, executor=executor, canary=canary, parallel=parallel,
                max_failures=max_failures, continue_on_error=continue_on_error, on_update=live.update,
            )  # fmt: skip
        finally:
            live.close()


def _targets(magics: MigrateMagics, expression: str) -> Any:
    try:
        return eval(expression, session.namespace(magics))
    except (NameError, AttributeError, SyntaxError, TypeError, ValueError, LookupError) as exc:
        raise ConfigurationError(
            f"the targets expression {expression!r} failed ({type(exc).__name__}: {exc}); run the cell "
            "that defines it (a list, a DataFrame or a query string)"
        ) from exc


class LiveTable:
    """A progress bar over the targets and, in a kernel, the table redrawn in place."""

    def __init__(self, magics: MigrateMagics) -> None:
        shell = magics.shell
        self.in_kernel = shell is not None and getattr(shell, "kernel", None) is not None
        self.bar: Bar | None = None
        self.handle: Any = None
        self.drawn = 0.0
        self.latest: FleetResult | None = None

    def update(self, result: FleetResult) -> None:
        """Take the rollout's state: advance the bar; redraw the table when it is time."""
        self.latest = result
        if self.bar is not None:
            self.bar.total = len(result.rows)
            finished = sum(1 for row in result.rows if row.status not in ("pending", "running"))
            self.bar.update(finished - self.bar.done)
        if self.in_kernel and time.monotonic() - self.drawn >= REDRAW_EVERY:
            self._draw(result)

    def _draw(self, result: FleetResult) -> None:
        from IPython import display as ipython_display

        display: Any = ipython_display.display
        table = render.fleet(result)
        if self.handle is None:
            self.handle = display(table, display_id=True)
        else:
            self.handle.update(table)
        self.drawn = time.monotonic()

    def close(self) -> None:
        """The redrawn table gives way to the command's result (the bar goes with its command)."""
        if self.handle is not None:  # emptied as the progress bar is: nothing is left in the notebook
            self.handle.update({"text/plain": ""}, raw=True)
