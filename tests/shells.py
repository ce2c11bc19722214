"""Driving %migrate in a test shell (a line, or one that must fail with a one-line UsageError), and the
plain alembic CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError


def migrate(shell: Any, line: str) -> Any:
    """What ``%migrate line`` returns."""
    return shell.run_line_magic("migrate", line)


def one_line_error(shell: Any, line: str) -> str:
    """Run a line that must fail with exactly UsageError (IPython shows no traceback) on one line."""
    with pytest.raises(UsageError) as caught:
        migrate(shell, line)
    assert type(caught.value) is UsageError
    message = str(caught.value)
    assert "\n" not in message
    return message


def alembic(workdir: Path, *args: str, url: str | None = None) -> str:
    """Run ``alembic ARGS`` (this environment's) in ``workdir``; $DATABASE_URL is ``url`` or unset."""
    done = alembic_process(workdir, *args, url=url)
    done.check_returncode()
    return done.stdout


def alembic_process(workdir: Path, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    """The same, finished whatever its exit status (to read a failure's stderr)."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if url is not None:
        env["DATABASE_URL"] = url
    command = [sys.executable, "-m", "alembic", *args]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, check=False)
