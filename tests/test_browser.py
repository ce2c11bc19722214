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
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

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
    reason = _missing()
    if reason is not None:
        if IN_CI and not CANNOT_INSTALL:
            pytest.fail(f"{reason} (CI=true requires the browser test)")
        pytest.skip(reason)
    root, home = tmp_path / "lab", tmp_path / "jupyter"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / "tutorial.ipynb", root / "tutorial.ipynb")
    token, port = secrets.token_hex(16), _free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]  # fmt: skip
    log = tmp_path / "lab.log"
    with log.open("w") as sink:
        server = subprocess.Popen(command, cwd=root, env=_lab_environment(home), stdout=sink, stderr=sink)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{base}/api/status?token={token}", server, log)
        yield f"{base}/lab/tree/tutorial.ipynb?token={token}", root
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
            page.goto(url)
            page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
            # The kernel is connected (the execution indicator says "idle" even before there is one).
            expect(page.locator(".jp-StatusBar-Widget", has_text="| Idle")).to_have_count(1, timeout=90_000)
            page.locator(".lm-MenuBar-item", has_text="Run").click()
            page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
            _wait_for_every_cell(page, tmp_path)
            _check_outputs(page, expect)
            page.locator(".jp-OutputArea-output table").nth(3).scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "tables.png"))
            page.locator("svg[aria-label='Alembic revision graph']").scroll_into_view_if_needed()
            page.screenshot(path=str(tmp_path / "graph.png"))
        finally:
            browser.close()
    assert (root / "default.db").is_file() and len(list((root / "alembic" / "versions").glob("*.py"))) == 2


def _wait_for_every_cell(page: Any, shots: Path) -> None:
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
