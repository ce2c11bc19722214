"""PostgreSQL: squawk's rules, run on each revision's SQL as a file of its own (one squawk process for
all of them), plus what squawk cannot know: a column default whose function the server declares
volatile (``pg_proc.provolatile``), which rewrites the table however new the server is."""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from shutil import which
from typing import TYPE_CHECKING

from .._core.errors import ConfigurationError
from .findings import Hit
from .rules import SQUAWK_EXCLUDED
from .sources import RevisionSQL
from .statements import add_column_defaults, table_of

if TYPE_CHECKING:
    from .kept import LintCache

EXTRA = "migrate-lint"
MISSING = f"lint needs squawk: pip install 'sakyum-magic[{EXTRA}]' (squawk-cli and sqlglot)"
_VOLATILE_RULES = {"adding-field-with-default", "volatile-default"}


def squawk_path() -> str:
    """The squawk executable from the squawk-cli package (beside this Python's scripts, else on PATH)."""
    beside = Path(sysconfig.get_path("scripts")) / "squawk"
    found = str(beside) if beside.exists() else which("squawk")
    if found is None:
        raise ConfigurationError(MISSING)
    return found


def check(
    revisions: list[RevisionSQL],
    version: tuple[int, ...],
    volatility: Callable[[Iterable[str]], dict[str, str]],
    kept: LintCache | None = None,
) -> list[Hit]:
    """squawk's findings for each revision, with what the server says of each default's functions.

    squawk cannot know a function it has not heard of, so it reports every added column whose default
    calls one (``adding-field-with-default``). The server's ``pg_proc.provolatile`` settles it: from
    PostgreSQL 11 a default whose functions are all stable or immutable is stored once, without a
    rewrite (the finding is dropped); a volatile one rewrites the table (said in the finding).
    """
    hits = _squawk(revisions, version) if kept is None else _kept_squawk(revisions, version, kept)
    calls = {
        (r.revision, index): add_column_defaults(statement, "postgres")
        for r in revisions
        for index, statement in enumerate(r.statements)
    }
    known = volatility(name for names in calls.values() for name in names)
    judged = []
    for hit in hits:
        named = calls.get((hit.revision, hit.index), set())
        if hit.rule in _VOLATILE_RULES and named:
            volatile = sorted(n for n in named if known.get(n) == "v")
            if not volatile and named <= set(known) and version >= (11,):
                continue  # every function stable or immutable: no rewrite on this server
            if volatile:
                hit = replace(
                    hit, message=f"{', '.join(volatile)}() is volatile on this server: {hit.message}"
                )
        judged.append(hit)
    return judged + _unflagged_volatile(revisions, hits, calls, known)


def _unflagged_volatile(
    revisions: list[RevisionSQL],
    hits: list[Hit],
    calls: dict[tuple[str, int], set[str]],
    known: dict[str, str],
) -> list[Hit]:
    """A volatile default squawk did not report (one it took for a constant, say)."""
    flagged = {(h.revision, h.index) for h in hits if h.rule in _VOLATILE_RULES}
    found = []
    for r in revisions:
        for index, statement in enumerate(r.statements):
            volatile = sorted(n for n in calls[(r.revision, index)] if known.get(n) == "v")
            if volatile and (r.revision, index) not in flagged:
                message = f"the default calls {', '.join(volatile)}(), which the server declares volatile"
                table = table_of(statement, "postgres")
                found.append(Hit(r.revision, index, statement, table, "volatile-default", message))
    return found


def _kept_squawk(revisions: list[RevisionSQL], version: tuple[int, ...], kept: LintCache) -> list[Hit]:
    """squawk's findings, run only for the revisions whose statements it has not judged yet."""
    missing = [r for r in revisions if kept.hits(r, version) is None]
    found = _squawk(missing, version) if missing else []
    for revision in missing:
        kept.keep_hits(revision, version, [h for h in found if h.revision == revision.revision])
    return [hit for revision in revisions for hit in kept.hits(revision, version) or ()]


def _squawk(revisions: list[RevisionSQL], version: tuple[int, ...]) -> list[Hit]:
    """One squawk run over one file per revision; each finding mapped back to its statement."""
    with tempfile.TemporaryDirectory(prefix="sakyum-lint-", dir=_memory_folder()) as folder:
        lines: dict[str, list[int]] = {}
        for number, revision in enumerate(revisions):
            path = Path(folder) / f"{number:05d}.sql"
            text, lines[path.name] = _file_text(revision.statements)
            path.write_text(text, encoding="utf-8")
        if not lines:
            return []
        command = [squawk_path(), "--reporter", "json", "--exclude", ",".join(SQUAWK_EXCLUDED)]
        command += [f"--pg-version={'.'.join(map(str, version[:2]))}"] if version else []
        done = subprocess.run(
            [*command, *sorted(lines)], cwd=folder, capture_output=True, text=True, check=False
        )
    if not done.stdout.strip().startswith("["):
        raise ConfigurationError(f"squawk failed: {(done.stderr or done.stdout).strip()[:200]}")
    hits = []
    for found in json.loads(done.stdout):
        name = Path(found["file"]).name
        revision = revisions[int(name.split(".")[0])]
        index = _statement_at(lines[name], int(found["line"]))
        if index is None:  # the BEGIN/COMMIT written around the revision
            continue
        statement = revision.statements[index]
        hits.append(
            Hit(
                revision.revision,
                index,
                statement,
                table_of(statement, "postgres"),
                found["rule_name"],
                str(found.get("message") or ""),
            )
        )
    return hits


def _memory_folder() -> str | None:
    """/dev/shm where there is one: a hundred small files are written there in no time, where a
    disk-backed /tmp may take milliseconds for each."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _file_text(statements: tuple[str, ...]) -> tuple[str, list[int]]:
    """The revision as Alembic runs it, in a transaction; and the first line (0-based) of each statement."""
    parts, starts, line = ["BEGIN;"], [], 1
    for statement in statements:
        starts.append(line)
        parts.append(statement + ";")
        line += statement.count("\n") + 1
    parts.append("COMMIT;")
    return "\n".join(parts) + "\n", starts


def _statement_at(starts: list[int], line: int) -> int | None:
    """The statement that holds ``line``; None for the wrapping BEGIN and COMMIT."""
    if not starts or line < starts[0]:
        return None
    index = max(i for i, start in enumerate(starts) if start <= line)
    return index if line < (starts[index + 1] if index + 1 < len(starts) else starts[-1] + 10**9) else None
