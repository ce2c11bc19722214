"""The package's layers (CONTRIBUTING.md): no two modules import each other, counting imports inside
functions, and the lower layers never import the upper ones."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import sakyum_magic

PACKAGE = Path(sakyum_magic.__file__).resolve().parent

# A layer may import the ones after it, never those before it ("_core" base: errors, records, ...).
UPPER_ONLY = {
    "_frontend": "the IPython front end",
    "_commands": "the command table",
}
RUN_PATH = ("_run", "_guards", "_authoring")
FEATURES = ("_features", "_lint", "_schema", "_fleet")
CORE_BASE = ("errors", "records", "binding", "compat", "settings", "configuration", "translation")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(inner) for statement in node.body for inner in ast.walk(statement))
    return skipped


def _imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The package's modules that ``name`` imports, anywhere in it (type-checking imports aside)."""
    tree = ast.parse(path.read_text())
    skipped = _type_checking_nodes(tree)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped or not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
        elif node.module and node.module.startswith("sakyum_magic"):
            base = node.module
        else:
            continue
        for alias in node.names:
            target = f"{base}.{alias.name}"
            found.add(target if target in modules else base)
    return {m for m in found if m in modules and m not in {name, "sakyum_magic"}}


def _graph() -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: _imports(path, name, set(paths)) for name, path in paths.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else ""


def test_no_two_modules_import_each_other() -> None:
    assert _cycles(_graph()) == []


def test_only_the_front_end_imports_the_front_end_and_the_command_table() -> None:
    for module, imported in _graph().items():
        for target in imported:
            layer = _layer(target)
            if layer in UPPER_ONLY and _layer(module) not in {layer, "_frontend", ""}:
                raise AssertionError(f"{module} imports {target} ({UPPER_ONLY[layer]})")


def test_the_run_path_imports_no_feature_and_the_base_imports_nothing_above_it() -> None:
    for module, imported in _graph().items():
        layer = _layer(module)
        for target in imported:
            if layer in RUN_PATH:
                assert _layer(target) not in (*FEATURES, "_frontend", "_commands"), (module, target)
            if layer == "_core" and module.rsplit(".", 1)[-1] in CORE_BASE:
                assert _layer(target) == "_core", (module, target)


def test_the_command_table_imports_no_pandas() -> None:
    code = "import sys, sakyum_magic._commands.table; print('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
