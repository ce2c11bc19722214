"""ipywidgets for one test run only, in a folder of its own: the same environment runs a kernel with
them (that folder on PYTHONPATH, its share/jupyter on JUPYTER_PATH for JupyterLab's widget manager)
and without them (as installed: the package's dependencies do not include them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI

PACKAGES = ("ipywidgets>=8", "jupyterlab_widgets>=3", "widgetsnbextension>=4")


def install(target: Path) -> Path:
    """ipywidgets installed under ``target`` (once a test session); skips (fails under CI) if pip cannot."""
    if (target / "ipywidgets").is_dir():
        return target
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), *PACKAGES],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        reason = f"could not install ipywidgets for the widget tests: {done.stderr.strip()[-300:]}"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    return target


def environment(target: Path | None, env: dict[str, str]) -> dict[str, str]:
    """``env`` with the widgets of ``target`` visible to Python and to Jupyter (unchanged for None)."""
    if target is None:
        return env
    joined = {
        "PYTHONPATH": str(target),
        "JUPYTER_PATH": str(target / "share" / "jupyter"),
    }
    for name, value in joined.items():
        env[name] = os.pathsep.join(filter(None, [value, env.get(name, "")]))
    return env
