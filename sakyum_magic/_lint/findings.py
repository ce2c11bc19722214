"""What ``lint`` returns: one :class:`Finding` per rule a statement breaks, in a :class:`LintResult`."""

from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("error", "warning", "note")


@dataclass(frozen=True)
class Hit:
    """A rule a statement breaks, as a dialect's checker reports it (before sizes and suppression).

    ``index`` is the statement's place in its revision; ``table`` the table it acts on, if one.
    """

    revision: str
    index: int
    statement: str
    table: str | None
    rule: str
    message: str = ""


@dataclass(frozen=True)
class Finding:
    """One finding: the statement, its table and rows, the lock and what it blocks, the rule and the
    safer pattern. ``allowed``: the revision file says ``# lint: allow RULE``."""

    revision: str
    statement: str
    table: str | None
    rows: int | None
    lock: str
    blocks: str
    effect: str
    rule: str
    source: str
    severity: str
    safer: str
    allowed: bool
    message: str
    link: str


@dataclass(frozen=True)
class LintResult:
    """``lint``: the findings over ``revisions`` (linted one at a time) on the bound server."""

    url: str
    dialect: str
    server_version: str
    revisions: tuple[str, ...]
    findings: tuple[Finding, ...]
    large: int

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings that fail ``check --lint``: errors not allowed in the revision file."""
        return tuple(f for f in self.findings if f.severity == "error" and not f.allowed)
