"""Progress bars: one per command, only for runs over a second, removed at the end, never on stderr.

The kernel tests run real notebooks through nbclient, which applies each ``update_display_data`` to
the output it names, as a front end does: what is left in the notebook is what a reader is left with.
"""

from __future__ import annotations

import io
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from sakyum_magic._display import progress
from sakyum_magic._display.progress import Bar, TerminalView
from tests import widgets

# Twelve revisions whose upgrade takes 0.12 s each: a run of about 1.5 s, over the bar's delay.
SLOW_CHAIN = (
    "body = 'def upgrade():\\n    import time\\n    time.sleep(0.12)\\n\\n\\n"
    "def downgrade():\\n    import time\\n    time.sleep(0.06)\\n'\n"
    "for i in range(12):\n"
    '    get_ipython().run_cell_magic("migrate", f"revision -m step{i} --rev-id r{i:02d}", body)'
)


def test_a_quick_run_draws_nothing() -> None:
    stream = io.StringIO()
    bar = Bar(12, "upgrade", TerminalView(stream))
    for _ in range(12):
        bar.update()
    bar.close()
    assert stream.getvalue() == ""


def test_a_long_run_draws_one_line_and_erases_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "DELAY", 0.0)
    monkeypatch.setattr(progress, "REFRESH", 0.0)
    stream = io.StringIO()
    bar = Bar(4, "upgrade", TerminalView(stream))
    for _ in range(4):
        bar.update()
    drawn = stream.getvalue()
    assert "\n" not in drawn and drawn.count("\r") == 4
    assert drawn.rsplit("\r", 1)[1].startswith("upgrade [") and "4/4 revisions" in drawn
    bar.close()
    assert stream.getvalue().endswith("\r\x1b[K")  # the line is erased: nothing left behind


def test_the_line_fits_the_width() -> None:
    bar = Bar(160, "downgrade", None)
    bar.done = 37
    for width in (20, 40, 79, 149):
        assert len(bar.text(width)) <= width
    assert "37/160 revisions" in bar.text(79)


def test_a_bar_inside_another_is_silent() -> None:
    with progress.progress(3, "test") as outer, progress.progress(3, "upgrade") as inner:
        assert inner.view is None
    assert outer is not inner
    with progress.progress(3, "upgrade", enabled=False) as off:
        assert off.view is None


def test_on_a_terminal_the_main_thread_draws_and_a_worker_thread_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import threading

    main, other = os.openpty()
    with os.fdopen(other, "w") as terminal:
        monkeypatch.setattr("sys.stdout", terminal)  # a real pseudo-terminal: isatty() holds
        views: list[object] = []

        def run() -> None:
            with progress.progress(3, "upgrade") as bar:
                views.append(bar.view)

        run()
        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
    os.close(main)
    assert isinstance(views[0], TerminalView) and views[1] is None


def test_outside_a_kernel_and_a_terminal_nothing_is_drawn(capsys: pytest.CaptureFixture[str]) -> None:
    with progress.progress(3, "upgrade") as bar:
        assert bar.view is None  # pytest's captured stdout is no terminal
    assert capsys.readouterr() == ("", "")


@pytest.fixture(params=["text", "widget"])
def kernel_widgets(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """No ipywidgets (the package as installed), then ipywidgets on the kernel's path."""
    if request.param == "text":
        if find_spec("ipywidgets") is not None:
            pytest.skip("ipywidgets is installed in this environment: no kernel without them here")
        return None
    return widgets.install(tmp_path_factory.getbasetemp() / "widgets")


def _run(tmp_path: Path, cells: list[str], monkeypatch: pytest.MonkeyPatch, extra: Path | None) -> Any:
    import nbformat
    from nbclient import NotebookClient

    for name, value in widgets.environment(extra, {}).items():
        monkeypatch.setenv(name, value)  # the kernel nbclient starts inherits them
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(notebook, timeout=180, resources={"metadata": {"path": str(tmp_path)}}).execute()
    return notebook


def _left(outputs: list[Any]) -> tuple[list[Any], list[Any]]:
    """The emptied outputs (a bar that was shown, then removed) and any output still showing a bar."""
    emptied = [o for o in outputs if o.output_type == "display_data" and o.data == {"text/plain": ""}]
    bars = [
        o
        for o in outputs
        if o.output_type == "display_data"
        and ("sakyum-progress" in str(o.data) or "application/vnd.jupyter.widget-view+json" in o.data)
    ]
    return emptied, bars


@pytest.mark.notebook
@pytest.mark.slow
def test_in_a_kernel_one_bar_per_command_removed_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_widgets: Path | None
) -> None:
    """Without ipywidgets a line of text, with them a widget: either way gone at the end, and
    ``%migrate test`` (a scratch run per revision inside) shows one bar, not one per run."""
    notebook = _run(
        tmp_path,
        [
            "import importlib.util\nprint(importlib.util.find_spec('ipywidgets') is not None)",
            "%load_ext sakyum_magic",
            "%migrate init",
            SLOW_CHAIN,
            "%migrate upgrade head",
            "%migrate test",
            "%migrate downgrade -1",  # quick: no bar at all
        ],
        monkeypatch,
        kernel_widgets,
    )
    assert notebook.cells[0].outputs[0].text.strip() == str(kernel_widgets is not None)
    upgrade, test, quick = (notebook.cells[i].outputs for i in (4, 5, 6))
    if kernel_widgets is not None:
        assert "application/vnd.jupyter.widget-view+json" not in str(notebook.cells)  # all replaced
    for outputs in (upgrade, test, quick):
        assert not [o for o in outputs if o.output_type == "stream"], outputs  # nothing on stderr
        assert not [o for o in outputs if o.output_type == "error"], outputs
        assert _left(outputs)[1] == []  # no bar left behind
    assert len(_left(upgrade)[0]) == 1 and len(_left(test)[0]) == 1  # one bar each, shown then removed
    assert _left(quick)[0] == []
    assert "r11" in upgrade[-1]["data"]["text/plain"]
    assert "3 of 4 checks passed (1 not run)" in test[-1]["data"]["text/plain"]  # no models bound
