"""``lint``'s table: one row per finding, with fixed columns (:data:`LINT_COLUMNS`) and dtypes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from .render import plural
from .results import TEXT_DTYPE, ResultFrame

if TYPE_CHECKING:
    from .._lint import LintResult

# The verdict first (a narrow terminal drops the columns on the right, and says which).
LINT_COLUMNS = [
    "revision",
    "severity",
    "rule",
    "table",
    "rows",
    "lock",
    "blocks",
    "effect",
    "statement",
    "safer",
    "allowed",
    "source",
    "detail",
    "link",
]
_FIELDS = {"detail": "message"}  # the finding's message; "message" is a revision's elsewhere
_DTYPES = {"rows": "Int64", "allowed": "bool"}
_SERVERS = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB", "sqlite": "SQLite"}


def lint(result: LintResult) -> ResultFrame:
    """``lint``: the findings, revision by revision; the title counts the errors (``check --lint`` fails)."""
    import pandas as pd

    rows = [[getattr(f, _FIELDS.get(name, name)) for name in LINT_COLUMNS] for f in result.findings]
    data = {
        name: pd.array([row[k] for row in rows], dtype=cast(Any, _DTYPES.get(name, TEXT_DTYPE)))
        for k, name in enumerate(LINT_COLUMNS)
    }
    server = f"{_SERVERS.get(result.dialect, result.dialect)} {result.server_version}".strip()
    linted = plural(len(result.revisions), "revision")
    errors = len(result.errors)
    title = f"Lint: {plural(len(result.findings), 'finding')} in {linted} on {server}" + (
        f", {plural(errors, 'error')}" if errors else ""
    )
    notes = [
        f"Each revision's SQL linted on its own; rows from the live database. A rule whose cost grows with "
        f"the table is an error from {result.large:,} rows, a warning from {result.large // 100:,}.",
    ]
    if any(f.allowed for f in result.findings):
        notes.append("allowed: the revision file says # lint: allow RULE; never an error.")
    empty = (
        f"No findings in {linted} on {server}."
        if result.revisions
        else "Nothing to lint: every revision is applied (lint --all reads them all)."
    )
    frame = ResultFrame(data, columns=LINT_COLUMNS)
    return frame.describe_with(title=title if rows else "", notes=notes if rows else (), empty_note=empty)
