"""Whether a revision's ``upgrade()`` only declares operations, so that running it once more in
offline mode (to lint it before ``upgrade`` applies it) does nothing but write SQL.

A revision file is read, never imported: its ``upgrade()`` qualifies when each statement is a call on
``op`` (or on the ``batch_op`` of a ``with op.batch_alter_table(...)``, inside ``with
op.get_context().autocommit_block()``), and every call in the arguments is rooted at a name imported
from SQLAlchemy or Alembic (``sa.Column``, ``postgresql.ENUM``, ``text``). ``op.get_bind()`` reads the
database, so a revision that calls it does not qualify, nor does one with imports, loops or other code
of its own (a data migration, a wait): ``upgrade`` does not lint those first.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

_LIBRARIES = ("sqlalchemy", "alembic")
_READS = {"get_bind", "get_context"}


@lru_cache(maxsize=1024)
def _cached(path: str, stamp: float) -> bool:
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return False
    roots = _imported_roots(tree) | {"op"}
    upgrade = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None)
    return upgrade is not None and _block(upgrade.body, roots, frozenset({"op"}))


def declarative(path: str | Path) -> bool:
    """Whether the revision file's ``upgrade()`` only declares operations (see the module's doc)."""
    try:
        stamp = Path(path).stat().st_mtime
    except OSError:
        return False
    return _cached(str(path), stamp)


def _imported_roots(tree: ast.Module) -> set[str]:
    roots = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            roots |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith(_LIBRARIES)}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(_LIBRARIES):
            roots |= {a.asname or a.name for a in node.names}
    return roots


def _block(body: list[ast.stmt], roots: set[str], ops: frozenset[str]) -> bool:
    for statement in body:
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # a docstring
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
            if not (_on(statement.value, ops) and _arguments(statement.value, roots)):
                return False
            continue
        if isinstance(statement, ast.With) and _with(statement, roots, ops):
            continue
        return False
    return True


def _with(statement: ast.With, roots: set[str], ops: frozenset[str]) -> bool:
    """``with op.batch_alter_table(...) as batch_op:`` or ``with op.get_context().autocommit_block():``."""
    inner = set(ops)
    for item in statement.items:
        call = item.context_expr
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute):
            return False
        if call.func.attr == "batch_alter_table" and _on(call, ops) and _arguments(call, roots):
            if isinstance(item.optional_vars, ast.Name):
                inner.add(item.optional_vars.id)
        elif call.func.attr != "autocommit_block" or not _is_context(call.func.value, ops):
            return False
    return _block(statement.body, roots, frozenset(inner))


def _is_context(node: ast.expr, ops: frozenset[str]) -> bool:
    """``op.get_context()``."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get_context"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id in ops
    )


def _on(call: ast.Call, ops: frozenset[str]) -> bool:
    """A call ``op.NAME(...)`` (or ``batch_op.NAME(...)``) that does not read the database."""
    func = call.func
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id in ops
        and func.attr not in _READS
    )


def _arguments(call: ast.Call, roots: set[str]) -> bool:
    """Every call inside the arguments is rooted at a name imported from SQLAlchemy or Alembic."""
    for argument in [*call.args, *(k.value for k in call.keywords)]:
        for node in ast.walk(argument):
            if isinstance(node, ast.Call) and _root(node.func) not in roots:
                return False
            if isinstance(node, ast.Lambda | ast.NamedExpr | ast.Await | ast.Yield):
                return False
            if isinstance(node, ast.Attribute) and node.attr in _READS:
                return False
    return True


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call):
        node = node.value if isinstance(node, ast.Attribute) else node.func
    return node.id if isinstance(node, ast.Name) else None
