"""The public API is curated: ``__all__`` is pinned, and loading the extension stays cheap."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sakyum_magic
from sakyum_magic._core import errors, records
from sakyum_magic._core import migrator as commands
from sakyum_magic._core.bound import Bound
from sakyum_magic._display import results


def test_all_is_pinned() -> None:
    assert sorted(sakyum_magic.__all__) == [
        "Binding",
        "CheckResult",
        "ConfigurationError",
        "CurrentResult",
        "DatabaseError",
        "DropRefusedError",
        "FleetResult",
        "FleetTarget",
        "HistoryEntry",
        "InitResult",
        "LintError",
        "LintResult",
        "LogEntry",
        "MigrationError",
        "MigrationResult",
        "Migrator",
        "MultipleHeadsError",
        "NotInitializedError",
        "Operation",
        "PendingChangesError",
        "Plan",
        "ResultFrame",
        "ResultText",
        "RevisionError",
        "RevisionGraph",
        "RevisionInfo",
        "RevisionResult",
        "SakyumError",
        "SchemaDiagram",
        "ScratchError",
        "Squash",
        "Step",
        "TargetRow",
        "load_ipython_extension",
        "register_command",
        "unload_ipython_extension",
    ]
    for name in sakyum_magic.__all__:
        assert hasattr(sakyum_magic, name)


def test_exports_and_their_type_checking_imports_agree() -> None:
    """The lazy map and the re-exports for type checkers name the same things from the same modules."""
    tree = ast.parse(Path(sakyum_magic.__file__).read_text())
    guarded = next(n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    imported = {
        alias.name: (node.module or "")
        for node in guarded.body
        if isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names
        if alias.asname == alias.name  # an explicit re-export
    }
    assert imported == sakyum_magic._EXPORTS


@pytest.mark.parametrize("module", [errors, records, results], ids=lambda m: m.__name__)
def test_every_public_class_is_exported(module: object) -> None:
    """A class users receive (a record, a result, an error) cannot be left out of __all__."""
    defined = [
        name
        for name, value in vars(module).items()
        if inspect.isclass(value) and value.__module__ == getattr(module, "__name__", "") and name[0] != "_"
    ]
    assert defined and set(defined) <= set(sakyum_magic.__all__)


def _package_classes() -> dict[str, type]:
    """Every public class the package defines, by name, from all of its modules."""
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(sakyum_magic.__path__, "sakyum_magic."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and value.__module__ == info.name and not name.startswith("_"):
                found[name] = value
    return found


def test_migrator_returns_exported_types() -> None:
    """Whatever a Migrator method returns that the package defines is exported, wherever it is defined."""
    defined = _package_classes()
    command_classes = {
        c.__name__ for c in commands.Migrator.__mro__ if issubclass(c, Bound) and c is not Bound
    }
    assert command_classes == {"Migrator", "ExploreCommands", "ReadCommands"}
    for name, method in inspect.getmembers(commands.Migrator, inspect.isfunction):
        if name.startswith("_") or method.__qualname__.split(".")[0] not in command_classes:
            continue  # the bound resources (engine, snapshot, ...) are not command results
        annotation = str(inspect.signature(method).return_annotation)
        for word in re.findall(r"[A-Za-z_]\w*", annotation):
            if word in defined:
                assert word in sakyum_magic.__all__, (name, word)


def test_every_error_is_a_sakyum_error() -> None:
    for name in sakyum_magic.__all__:
        value = getattr(sakyum_magic, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, sakyum_magic.SakyumError)


def test_load_ext_imports_no_heavy_modules() -> None:
    code = (
        "import sys\nfrom IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell.instance()\nip.run_line_magic('load_ext', 'sakyum_magic')\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "heavy = sorted(loaded & {'alembic', 'pandas', 'sqlalchemy', 'ipywidgets'})\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
