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
import symtable
from dataclasses import dataclass
from importlib.util import cache_from_source
from pathlib import Path

from .._core.errors import RevisionError
from .._core.translation import CODE_ERRORS

# Module-level names Alembic reads from a revision file: the options set them, the body must not.
IDENTIFIERS = ("revision", "down_revision", "branch_labels", "depends_on")
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
    except (SyntaxError, ValueError) as exc:  # ValueError: a NUL character before Python 3.11.4
        raise _not_compiling(source, exc) from None
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    upgrade = functions.get("upgrade")
    if upgrade is None or isinstance(upgrade, ast.AsyncFunctionDef):
        raise RevisionError(
            "the revision body defines no upgrade(): write def upgrade(): with its operations "
            "(op and sa are imported as in a revision file); no file was written"
        )
    _refuse_identifiers(source, tree)
    return Body(source, frozenset(name for name in ("upgrade", "downgrade") if name in functions))


def _not_compiling(source: str, exc: SyntaxError | ValueError) -> RevisionError:
    """The one-line error for a body that does not compile, naming its line."""
    if "\x00" in source:  # Python gives no line for it (None, or a bare ValueError)
        line = source.count("\n", 0, source.index("\x00")) + 1
        return RevisionError(
            f"the revision body does not compile: it contains a NUL character at line {line}; "
            "remove it (no file was written)"
        )
    message, at = (exc.msg, exc.lineno) if isinstance(exc, SyntaxError) else (str(exc), None)
    where = f" at line {at}" if at is not None else ""
    text = exc.text if isinstance(exc, SyntaxError) else None
    return RevisionError(
        f"the revision body does not compile: {message}{where}{_quoted(text)}; "
        "fix it and run again (no file was written)"
    )


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


def _refuse_identifiers(source: str, tree: ast.Module) -> None:
    """A body may not bind a module-level name Alembic reads, in any form: an assignment, a ``for``
    target, ``:=``, ``import ... as``, ``def``/``class``, ``with ... as``, ``global`` in a function,
    or a write through ``globals()``/``vars()``."""
    import symtable

    module = symtable.symtable(source, "<revision body>", "exec")
    literal, unknown = _dynamic_writes(tree)
    for name in IDENTIFIERS:
        if _binds(module, name) or name in literal:
            line = literal.get(name) or _line_of(tree, name)
            raise RevisionError(
                f"the revision body sets {name}{f' at line {line}' if line else ''}: the revision's ids "
                "come from the options (--rev-id, --head, --branch-label, --depends-on); remove it "
                "(no file was written)"
            )
    if unknown is not None:
        function, line = unknown
        raise RevisionError(
            f"the revision body writes module-level names through {function}() at line {line}, which "
            "could set the revision's ids: assign those names directly instead (no file was written)"
        )


def _binds(table: symtable.SymbolTable, name: str) -> bool:
    """Whether ``name`` is bound at module level by the table (the module) or any nested scope."""
    try:
        symbol = table.lookup(name)
    except KeyError:
        symbol = None
    if symbol is not None:
        at_module = table.get_type() == "module"
        if (symbol.is_assigned() or symbol.is_imported()) and (at_module or symbol.is_declared_global()):
            return True
    return any(_binds(child, name) for child in table.get_children())


_NAMESPACES = frozenset({"globals", "vars", "locals"})


def _dynamic_writes(tree: ast.Module) -> tuple[dict[str, int], tuple[str, int] | None]:
    """Names written through ``globals()[...]`` with a literal key (and their lines), and the first
    write whose names cannot be read from the text (a computed key, ``vars().update(...)``)."""
    literal: dict[str, int] = {}
    unknown: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store | ast.Del):
            key, call = node.slice, _namespace_call(node.value)
            if call is not None and isinstance(key, ast.Constant) and isinstance(key.value, str):
                literal.setdefault(key.value, node.lineno)
            elif call is not None:
                unknown.append((node.lineno, call))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            call = _namespace_call(node.func.value)
            if call is not None and node.func.attr in {"update", "setdefault", "__setitem__"}:
                unknown.append((node.lineno, call))
    first = min(unknown) if unknown else None
    return literal, (first[1], first[0]) if first is not None else None


def _namespace_call(node: ast.expr) -> str | None:
    """``globals``, ``vars`` or ``locals`` when ``node`` calls one of them."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _NAMESPACES:
        return node.func.id
    return None


def _line_of(tree: ast.Module, name: str) -> int | None:
    """The first line that binds or mentions ``name`` (for the message)."""
    names = ("id", "asname", "name")
    lines = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.stmt | ast.expr)
        and (name in {getattr(node, key, None) for key in names} or getattr(node, "value", None) == name)
    ]
    lines += [node.lineno for node in ast.walk(tree) if isinstance(node, ast.alias) and node.asname == name]
    return min(lines) if lines else None


def check_written(path: Path, expected: dict[str, object]) -> None:
    """The file as written loads and declares the ids the options gave (a body could still change
    them in a way no reading of its text finds); otherwise a RevisionError, and the caller removes it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_sakyum_check_{path.stem}", path)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except CODE_ERRORS as exc:  # the written file's own code failing to load
        raise RevisionError(
            f"the revision file written from the body does not load ({type(exc).__name__}: {exc}); "
            "module-level code runs whenever the revisions are read: keep it inside upgrade() "
            "(no file was kept)"
        ) from exc
    for name, value in expected.items():
        if getattr(module, name, None) != value:
            raise RevisionError(
                f"the revision body changes {name} when the file loads ({getattr(module, name, None)!r}, "
                f"not {value!r}): the revision's ids come from the options; remove that code "
                "(no file was kept)"
            )


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
