"""Driving %migrate in a test shell: run a line, or run one that must fail with a one-line UsageError."""

from __future__ import annotations

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
