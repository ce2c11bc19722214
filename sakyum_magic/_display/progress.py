"""One progress bar per command, shown where the user looks and removed when the command ends.

A bar appears only once a run has gone on for :data:`DELAY` seconds (a quick run shows nothing) and
is gone when it ends, finished or not:

- in a Jupyter kernel with ipywidgets, a widget (a progress bar and a label);
- in a Jupyter kernel without them, one line of text, replaced in place (``update_display_data``),
  then emptied;
- in a terminal, one line on standard output, redrawn with a carriage return and erased at the end;
- anywhere else (output to a file or a pipe, a captured test), nothing.

Nothing is ever written to standard error. A bar opened while another is open (the scratch runs of
``%migrate test`` inside its own bar) is silent: one command, one bar.
"""

from __future__ import annotations

import contextvars
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

DELAY = 1.0
"""Seconds a run goes on before its bar appears."""
REFRESH = 0.1
"""Seconds between two redraws of a bar (each step still counts)."""

_open: contextvars.ContextVar[bool] = contextvars.ContextVar("sakyum_progress_open", default=False)


class View(Protocol):
    """Where a bar is drawn: shown once, redrawn, then removed."""

    def show(self, bar: Bar) -> None: ...
    def redraw(self, bar: Bar) -> None: ...
    def remove(self) -> None: ...


class Bar:
    """A count of steps done out of ``total``, drawn on ``view`` once it has run :data:`DELAY` seconds."""

    def __init__(self, total: int | None, label: str, view: View | None) -> None:
        self.total, self.label, self.view = total, label, view
        self.unit = "revisions"
        self.done = 0
        self._start = self._drawn = time.monotonic()
        self._shown = False

    def update(self, steps: int = 1) -> None:
        """Count ``steps`` more steps done; show or redraw the bar when it is time to."""
        self.done += steps
        if self.view is None:
            return
        now = time.monotonic()
        if not self._shown and now - self._start >= DELAY:
            self._shown, self._drawn = True, now
            self.view.show(self)
        elif self._shown and now - self._drawn >= REFRESH:
            self._drawn = now
            self.view.redraw(self)

    def close(self) -> None:
        """Remove the bar (if it was ever shown)."""
        if self._shown and self.view is not None:
            self.view.remove()
        self._shown = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._start

    def text(self, width: int = 60) -> str:
        """The bar as one line of at most ``width`` characters: label, bar, count, time."""
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        tail = f" {count} {self.unit}, {self.elapsed:.0f} s"
        cells = max(0, min(30, width - len(self.label) - len(tail) - 3))
        filled = round(cells * self.done / self.total) if self.total else 0
        line = f"{self.label} [{'#' * min(filled, cells)}{'.' * (cells - min(filled, cells))}]{tail}"
        return line[:width]


@contextmanager
def progress(total: int | None, label: str, enabled: bool = True) -> Iterator[Bar]:
    """A bar for one command's run of ``total`` steps; silent when disabled or inside another bar."""
    if not enabled or _open.get():
        yield Bar(total, label, None)
        return
    bar = Bar(total, label, _view())
    token = _open.set(True)
    try:
        yield bar
    finally:
        _open.reset(token)
        bar.close()


def _view() -> View | None:
    """The view for where this code runs (see the module's docstring); none off the main thread (the
    runs of a fleet in worker threads: output from there lands in whichever cell runs at the time)."""
    import threading

    from IPython import get_ipython

    if threading.current_thread() is not threading.main_thread():
        return None

    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        return WidgetView() if _has_widgets() else DisplayView()
    stream = sys.stdout
    if stream is not None and stream.isatty():
        return TerminalView(stream)
    return None


def _has_widgets() -> bool:
    from importlib.util import find_spec

    return find_spec("ipywidgets") is not None


class WidgetView:
    """An ipywidgets progress bar with a label, removed from the page at the end."""

    def __init__(self) -> None:
        self._box: Any = None
        self._handle: Any = None

    def show(self, bar: Bar) -> None:
        import ipywidgets
        from IPython.display import display

        meter = ipywidgets.IntProgress(value=bar.done, min=0, max=bar.total or max(bar.done, 1))
        label = ipywidgets.Label(value=bar.text())
        self._box = ipywidgets.HBox([meter, label])
        self._box.add_class("sakyum-progress")
        self._handle = display(self._box, display_id=True)  # type: ignore[no-untyped-call]

    def redraw(self, bar: Bar) -> None:
        meter, label = self._box.children
        meter.max = bar.total or max(bar.done, 1)
        meter.value = bar.done
        label.value = bar.text()

    def remove(self) -> None:
        # Replacing the output leaves no widget view behind in any front end (closing the model alone
        # leaves "model not found" text in some); then the model is closed to free it in the kernel.
        self._handle.update({"text/plain": ""}, raw=True)
        for widget in (*self._box.children, self._box):
            widget.close()


class DisplayView:
    """One line of text in the output area, replaced in place, emptied at the end."""

    def __init__(self) -> None:
        self._handle: Any = None

    def show(self, bar: Bar) -> None:
        from IPython.display import display

        self._handle = display(_bundle(bar), raw=True, display_id=True)  # type: ignore[no-untyped-call]

    def redraw(self, bar: Bar) -> None:
        self._handle.update(_bundle(bar), raw=True)

    def remove(self) -> None:
        self._handle.update({"text/plain": ""}, raw=True)


def _bundle(bar: Bar) -> dict[str, str]:
    from html import escape

    text = bar.text()
    html = f'<div class="sakyum-progress" style="font-family: monospace">{escape(text)}</div>'
    return {"text/plain": text, "text/html": html}


class TerminalView:
    """One line on a terminal's standard output, redrawn in place and erased at the end."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def show(self, bar: Bar) -> None:
        self.redraw(bar)

    def redraw(self, bar: Bar) -> None:
        width = shutil.get_terminal_size((80, 24)).columns - 1
        self.stream.write("\r" + bar.text(width) + "\x1b[K")
        self.stream.flush()

    def remove(self) -> None:
        self.stream.write("\r\x1b[K")
        self.stream.flush()
