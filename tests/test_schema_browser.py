"""The ER picture where readers see it: exported to HTML by nbconvert (the SVG drawn here), and in a
real JupyterLab (Mermaid, drawn by JupyterLab's own bundled renderer); no request leaves the machine."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest

from sakyum_magic._schema.er import mermaid

CELLS = [
    "%load_ext sakyum_magic",
    """import sqlalchemy as sa
m = sa.MetaData()
sa.Table("authors", m, sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(80)))
sa.Table("books", m, sa.Column("id", sa.Integer, primary_key=True),
         sa.Column("author_id", sa.Integer, sa.ForeignKey("authors.id")));""",
    "%migrate config --url sqlite:///er.db --metadata m",
    "%migrate schema --models",
]


def notebook(path: Path) -> Path:
    import nbformat

    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(source) for source in CELLS]
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, path)
    return path


@pytest.mark.notebook
@pytest.mark.slow
def test_exported_html_has_the_svg(tmp_path: Path) -> None:
    nbconvert = pytest.importorskip("nbconvert", reason="nbconvert (with jupyterlab) exports the HTML")
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(notebook(tmp_path / "er.ipynb"), as_version=4)
    NotebookClient(book, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    data = book.cells[-1].outputs[0]["data"]
    assert {"image/svg+xml", "text/plain"} <= set(data)
    assert ("text/vnd.mermaid" in data) is (mermaid([]) is not None)
    html, _resources = nbconvert.HTMLExporter().from_notebook_node(book)
    found = re.search(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', html)
    assert found is not None, "no SVG image in the exported HTML"
    drawn = base64.b64decode(found[1]).decode()
    assert 'aria-label="ER diagram"' in drawn and "authors" in drawn and "books" in drawn
    svg = data["image/svg+xml"]
    assert "href" not in svg and "<image" not in svg and "@import" not in svg  # nothing to fetch


@pytest.mark.browser
@pytest.mark.slow
def test_jupyterlab_draws_the_mermaid(lab_with_notebook: tuple[str, Path], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.test_browser import CHROMIUM, _wait_for_every_cell, open_and_run_all

    url, _root = lab_with_notebook
    requests: list[str] = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM))
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("request", lambda request: requests.append(request.url))
            open_and_run_all(page, url)
            _wait_for_every_cell(page, tmp_path)
            # JupyterLab's Mermaid renderer shows its drawing as an SVG image in a figure.
            drawn = page.locator(".jp-RenderedMermaid figure img")
            expect(drawn).to_have_count(1, timeout=60_000)
            drawn.scroll_into_view_if_needed()
            expect(drawn).to_be_visible()
            picture = unquote(drawn.get_attribute("src") or "")
            assert picture.startswith("data:image/svg+xml") and "authors" in picture and "books" in picture
            box = drawn.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 100
            page.screenshot(path=str(tmp_path / "er.png"))
        finally:
            browser.close()
    outside = [u for u in requests if not u.startswith(("http://127.0.0.1", "data:", "blob:"))]
    assert outside == [], outside


@pytest.fixture
def lab_with_notebook(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A JupyterLab server on a free local port (as test_browser's), serving the ER notebook."""
    from tests import test_browser as lab

    lab._skip_if_missing()
    root = tmp_path / "lab"
    root.mkdir()
    notebook(root / "er.ipynb")
    with lab._server("jupyterlab", root, tmp_path) as (base, token):
        yield f"{base}/lab/tree/er.ipynb?token={token}", root
