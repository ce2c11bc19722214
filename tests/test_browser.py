"""The tutorial in a real JupyterLab, driven in Debian's chromium by playwright (no browser download).

A JupyterLab server runs on 127.0.0.1 (a free port, token auth) in a temporary directory holding a
copy of notebooks/tutorial.ipynb; the browser opens it, runs every cell from the Run menu, and checks
what a reader sees: tables as HTML tables, the revision graph as a visible SVG marked "you are
here", and no error or stderr box. Without chromium, playwright or jupyterlab the test skips with the
reason (``.ci/install-browser`` installs chromium); under CI=true that is a failure instead.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from tests import widgets
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
RUN_TIMEOUT_MS = 240_000
SETTINGS = {
    # Render every cell (JupyterLab 4 may otherwise leave off-screen cells out of the page), and start
    # the notebook's kernel without asking which.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


# Set by an environment whose pinned versions the browser tools cannot join (make test-pins): its reason.
CANNOT_INSTALL = os.environ.get("SAKYUM_TEST_NO_BROWSER", "")


def _missing() -> str | None:
    if CANNOT_INSTALL:
        return CANNOT_INSTALL
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} not found (install it with .ci/install-browser)"
    for module, extra in (("playwright", "playwright"), ("jupyterlab", "jupyterlab")):
        if find_spec(module) is None:
            return f"the {extra} package is not installed (pip install -e '.[browser]')"
    return None


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server on a free local port, serving a copy of the tutorial; yields (url, root)."""
    _skip_if_missing()
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "tutorial.ipynb", root / "tutorial.ipynb")
    with _server("jupyterlab", root, tmp_path) as (base, token):
        yield f"{base}/lab/tree/tutorial.ipynb?token={token}", root


def _skip_if_missing() -> None:
    reason = _missing()
    if reason is not None:
        if IN_CI and not CANNOT_INSTALL:
            pytest.fail(f"{reason} (CI=true requires the browser test)")
        pytest.skip(reason)


@contextmanager
def _server(
    app: str, root: Path, tmp_path: Path, widgets_dir: Path | None = None
) -> Iterator[tuple[str, str]]:
    """``python -m APP`` (jupyterlab, or notebook for Notebook 7) serving ``root`` on a free local port,
    its kernels seeing ipywidgets when ``widgets_dir`` has them; yields the base URL and the token."""
    home = tmp_path / "jupyter"
    token, port = secrets.token_hex(16), _free_port()
    command = [
        sys.executable, "-m", app, "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]  # fmt: skip
    log = tmp_path / f"{app}.log"
    env = widgets.environment(widgets_dir, _lab_environment(home))
    with log.open("w") as sink:
        server = subprocess.Popen(command, cwd=root, env=env, stdout=sink, stderr=sink)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{base}/api/status?token={token}", server, log)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _lab_environment(home: Path) -> dict[str, str]:
    """This environment's tools on PATH (for the `!alembic` cells), and Jupyter state of its own."""
    settings = home / "settings"
    for name, values in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
    )
    return env


def _wait_until_up(url: str, server: subprocess.Popen[Any], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within 90 s:\n{log.read_text()[-2000:]}")


def test_tutorial_in_jupyterlab(lab: tuple[str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, root = lab
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            open_and_run_all(page, url)
            _wait_for_every_cell(page, tmp_path)
            _check_outputs(page, expect)
            page.locator(".jp-OutputArea-output table").nth(3).scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "tables.png"))
            page.locator("svg[aria-label='Alembic revision graph']").scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "graph.png"))
        finally:
            browser.close()
    assert (root / "default.db").is_file() and len(list((root / "alembic" / "versions").glob("*.py"))) == 3


def _wait_for_every_cell(page: Any, shots: Path, last_has_output: bool = True) -> None:
    """Until every code cell has its execution count (none queued "[ ]" or running "[*]")."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            """() => {
                const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
                return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
            }""",
            timeout=RUN_TIMEOUT_MS,
        )
    except PlaywrightTimeout:
        page.screenshot(path=str(shots / "stuck.png"), full_page=True)
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        pytest.fail(f"the cells did not all run; prompts {prompts}; see {shots / 'stuck.png'}")
    if last_has_output:
        last = page.locator(".jp-CodeCell").last.locator(".jp-OutputArea-output")
        last.first.wait_for(timeout=30_000)  # `!alembic current`, the last cell, has printed


def _check_outputs(page: Any, expect: Any) -> None:
    outputs = page.locator(".jp-OutputArea-output")
    stderr = page.locator('.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]')
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
    assert stderr.count() == 0, stderr.all_inner_texts()
    assert errors.count() == 0, errors.all_inner_texts()
    tables = page.locator(".jp-OutputArea-output table")
    assert tables.count() >= 10  # config twice, init, revision, upgrade, current, ... history, frames
    expect(tables.first).to_be_visible()
    graph = outputs.locator("svg[aria-label='Alembic revision graph']")
    expect(graph).to_have_count(1)
    graph.scroll_into_view_if_needed()
    expect(graph).to_be_visible()
    here = graph.locator("text", has_text="you are here")
    expect(here).to_have_count(1)
    expect(here).to_be_visible()
    box = graph.bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 40
    assert "(head)" in page.locator(".jp-CodeCell").last.inner_text()


# -- every front end: JupyterLab with and without ipywidgets, Notebook 7 --------------------------

# Twelve revisions, each creating a table with long column names (long SQL) and sleeping 0.2 s (so that
# an upgrade over them lasts long enough to show its progress bar), with messages long enough to wrap.
CHAIN = r"""
columns = ", ".join(f"sa.Column('a_rather_long_column_name_{k}', sa.String(200))" for k in range(6))
for i in range(12):
    body = (
        "def upgrade():\n    import time\n    time.sleep(0.2)\n"
        f"    op.create_table('table_{i}', sa.Column('id', sa.Integer, primary_key=True), {columns})\n"
        f"\n\ndef downgrade():\n    op.drop_table('table_{i}')\n"
    )
    message = f"Step {i}: add table_{i} with the columns the reporting screens read every night"
    get_ipython().run_cell_magic("migrate", f"revision -m '{message}' --rev-id r{i:02d}", body)
""".strip()
FRONT_END_CELLS = [
    "%load_ext sakyum_magic",
    "%migrate init",
    CHAIN,
    "%migrate upgrade r08",
    "%migrate history --verbose",
    "%migrate log",
    "%migrate plan",
    "%migrate test",
]
CHECKED = {4: "history --verbose", 5: "log", 6: "plan", 7: "test"}  # cell index: what it shows


@pytest.mark.parametrize(
    ("app", "with_widgets"),
    [("jupyterlab", False), ("jupyterlab", True), ("notebook", False)],
    ids=["jupyterlab", "jupyterlab-ipywidgets", "notebook7"],
)
def test_results_in_each_front_end(
    app: str, with_widgets: bool, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """At 1,280 px: no stderr box, no error, no progress bar left behind, and the output area of
    ``history --verbose``, ``log``, ``plan`` and ``test`` never wider than the page (no scrolling)."""
    _skip_if_missing()
    from playwright.sync_api import sync_playwright

    if find_spec("notebook") is None and app == "notebook":
        pytest.skip("the notebook package (Notebook 7) is not installed (pip install -e '.[browser]')")
    widgets_dir = widgets.install(tmp_path_factory.getbasetemp() / "widgets") if with_widgets else None
    root = tmp_path / "root"
    root.mkdir()
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in FRONT_END_CELLS]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, root / "front.ipynb")
    path = "lab/tree" if app == "jupyterlab" else "notebooks"
    with _server(app, root, tmp_path, widgets_dir) as (base, token), sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/{path}/front.ipynb?token={token}")
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
            page.wait_for_function("() => !!document.querySelector('.jp-Notebook')", timeout=60_000)
            _wait_for_idle_kernel(base, token)
            _run_all(page)
            _wait_for_every_cell(page, tmp_path, last_has_output=False)
            page.locator(".jp-CodeCell").last.locator(".jp-OutputArea-output table").wait_for(timeout=60_000)
            _front_end_checks(page, tmp_path, with_widgets)
        finally:
            browser.close()


def _wait_for_idle_kernel(base: str, token: str) -> None:
    """Until the page's kernel has started and is idle, as the server reports it: Run All clicked
    while the kernel still starts may run the first cell only."""
    deadline = time.monotonic() + 90
    answer = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=5) as response:
                kernels = json.loads(response.read())
        except urllib.error.HTTPError as error:
            # A kernel listed while the page's session still starts or replaces it can make the
            # server answer 500 for that one request; the next poll sees the settled list.
            answer = f"HTTP {error.code}"
            time.sleep(0.5)
            continue
        answer = str([k.get("execution_state") for k in kernels])
        if kernels and all(k.get("execution_state") == "idle" for k in kernels):
            return
        time.sleep(0.5)
    pytest.fail(f"the notebook's kernel was not idle within 90 s (last answer: {answer})")


def open_and_run_all(page: Any, url: str) -> None:
    """Open the notebook at ``url`` in JupyterLab, wait until its kernel is connected (the status bar
    says "| Idle", which the execution indicator says even before there is a kernel), and run every
    cell."""
    from playwright.sync_api import expect

    page.goto(url)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    expect(page.locator(".jp-StatusBar-Widget", has_text="| Idle")).to_have_count(1, timeout=90_000)
    _run_all(page)


def _run_all(page: Any) -> None:
    """Run every cell from the Run menu (the same menu in JupyterLab and Notebook 7), again if the
    first click came before the kernel was there to take it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(12):
        page.locator(".lm-MenuBar-item", has_text="Run").click()
        page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
        try:
            page.wait_for_function(
                """() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]
                         .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))""",
                timeout=10_000,
            )
            return
        except PlaywrightTimeout:
            continue
    pytest.fail("Run All Cells ran nothing within two minutes")


def _front_end_checks(page: Any, shots: Path, with_widgets: bool) -> None:
    stderr = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]')
    errors = page.locator("[data-mime-type='application/vnd.jupyter.error']")
    assert stderr.count() == 0, stderr.all_inner_texts()
    assert errors.count() == 0, errors.all_inner_texts()
    leftover = page.locator(".sakyum-progress, .widget-progress, progress")
    assert leftover.count() == 0, leftover.all_inner_texts()
    cells = page.locator(".jp-CodeCell")
    for index, name in CHECKED.items():
        cell = cells.nth(index)
        cell.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / f"{name.replace(' ', '_').strip('-')}.png"))
        widths = cell.evaluate(
            """cell => [...cell.querySelectorAll('.jp-OutputArea-output')].map(
                   o => [o.scrollWidth, o.clientWidth, o.getBoundingClientRect().right])"""
        )
        assert widths, f"{name}: no output"
        for scroll, client, right in widths:
            assert scroll <= client + 1 and right <= 1280, f"{name} overflows: {widths}"
    assert "3 of 4 checks passed" in cells.nth(7).inner_text() or "4 of 4" in cells.nth(7).inner_text()
    page.screenshot(path=str(shots / "whole.png"), full_page=True)
