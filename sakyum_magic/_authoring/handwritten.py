"""Revisions written by hand: ``upgrade()`` (and perhaps ``downgrade()``) given as source text.

The text is checked before anything is written (:func:`check_body`); Alembic then writes the revision
file as usual (header, ids, imports), and :func:`splice` replaces the ``upgrade``/``downgrade``
functions Alembic rendered with the given ones, found with :mod:`ast`, so everything else in the file
stays as Alembic's template made it. Statements beside the functions (imports, a ``sa.table()``
used by ``op.bulk_insert``, a helper) go in just above them, as they would in a file written by hand.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from importlib.util import cache_from_source
from pathlib import Path

from .._core.errors import RevisionError

# Module-level names Alembic reads from a revision file: the options set them, the body must not.
_IDENTIFIERS = ("revision", "down_revision", "branch_labels", "depends_on")
_SHOWN = 60


@dataclass(frozen=True)
class Body:
    """Checked source of a hand-written revision: it compiles and defines ``upgrade()``."""

    source: str
    defines: frozenset[str]


def check_body(source: str) -> Body:
    """``source`` as a :class:`Body`, or a one-line RevisionError naming the line that is wrong."""
    try:
        tree = ast.parse(source)
        compile(tree, "<revision body>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise RevisionError(
            f"the revision body does not compile: {exc.msg} at line {exc.lineno}{_quoted(exc.text)}; "
            "fix it and run again (no file was written)"
        ) from None
    except ValueError:  # a NUL character (a SyntaxError from Python 3.12 on)
        raise RevisionError(
            "the revision body does not compile: it contains a NUL character; remove it (no file was written)"
        ) from None
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    upgrade = functions.get("upgrade")
    if upgrade is None or isinstance(upgrade, ast.AsyncFunctionDef):
        raise RevisionError(
            "the revision body defines no upgrade(): write def upgrade(): with its operations "
            "(op and sa are imported as in a revision file); no file was written"
        )
    for node in tree.body:
        taken = _assigned(node) & set(_IDENTIFIERS)
        if taken:
            name = sorted(taken)[0]
            raise RevisionError(
                f"the revision body sets {name} at line {node.lineno}: the revision's ids come from "
                "the options (--rev-id, --head, --branch-label, --depends-on); remove it"
            )
    return Body(source, frozenset(name for name in ("upgrade", "downgrade") if name in functions))


def note(body: Body) -> str:
    """What a revision written from ``body`` holds, and what to do next."""
    both = "downgrade" in body.defines
    functions = "upgrade() and downgrade()" if both else "upgrade() (downgrade() does nothing)"
    return f"Written with the {functions} given. Next: %migrate plan shows the SQL, %migrate upgrade runs it."


def _quoted(text: str | None) -> str:
    line = (text or "").strip()
    if not line:
        return ""
    return f" ({line[:_SHOWN]}...)" if len(line) > _SHOWN else f" ({line})"


def _assigned(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    else:
        return set()
    return {n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)}


def splice(path: Path, body: Body) -> None:
    """Rewrite the revision file at ``path`` with ``body`` in place of the functions it defines: the
    first of them rendered is replaced by the whole body, the others are removed."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    spans = sorted(
        _span(node)
        for node in ast.parse(text).body
        if isinstance(node, ast.FunctionDef) and node.name in body.defines
    )
    if not spans:  # a template without the functions: the body goes at the end
        lines += ["\n\n", _block(body.source)]
    for index, (start, end) in reversed(list(enumerate(spans))):
        lines[start:end] = [_block(body.source)] if index == 0 else []
    path.write_text("".join(lines).rstrip() + "\n", encoding="utf-8")
    _forget_bytecode(path)


def _span(node: ast.FunctionDef) -> tuple[int, int]:
    """Line indexes [start, end) of a function, with its decorators."""
    start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
    return start, node.end_lineno or node.lineno


def _block(source: str) -> str:
    return source.strip("\n") + "\n"


def _forget_bytecode(path: Path) -> None:
    """Python trusts a ``.pyc`` whose recorded size and whole-second mtime match: Alembic imported the
    file as rendered a moment ago, so its bytecode goes."""
    try:
        os.remove(cache_from_source(str(path)))
    except OSError:
        return
