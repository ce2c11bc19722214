"""sakyum-magic: Alembic migrations in IPython and Jupyter.

``%load_ext sakyum_magic`` adds the ``%migrate`` line magic, whose tables are :class:`ResultFrame`
(pandas DataFrames) and whose other results are :class:`ResultText`. The same commands are
available without IPython through :class:`Migrator`, which returns data and prints nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from ._commands.table import register_command as register_command
    from ._core.errors import ConfigurationError as ConfigurationError
    from ._core.errors import DatabaseError as DatabaseError
    from ._core.errors import DropRefusedError as DropRefusedError
    from ._core.errors import LintError as LintError
    from ._core.errors import MigrationError as MigrationError
    from ._core.errors import MultipleHeadsError as MultipleHeadsError
    from ._core.errors import NotInitializedError as NotInitializedError
    from ._core.errors import PendingChangesError as PendingChangesError
    from ._core.errors import RevisionError as RevisionError
    from ._core.errors import SakyumError as SakyumError
    from ._core.errors import ScratchError as ScratchError

    # The names of _EXPORTS again, re-exported for type checkers (tests/test_api.py compares them).
    from ._core.migrator import Migrator as Migrator
    from ._core.records import Binding as Binding
    from ._core.records import CurrentResult as CurrentResult
    from ._core.records import HistoryEntry as HistoryEntry
    from ._core.records import InitResult as InitResult
    from ._core.records import MigrationResult as MigrationResult
    from ._core.records import Operation as Operation
    from ._core.records import Plan as Plan
    from ._core.records import RevisionInfo as RevisionInfo
    from ._core.records import RevisionResult as RevisionResult
    from ._core.records import Step as Step
    from ._display.results import ResultFrame as ResultFrame
    from ._display.results import ResultText as ResultText
    from ._features.checks import CheckResult as CheckResult
    from ._features.graph import RevisionGraph as RevisionGraph
    from ._fleet.records import FleetResult as FleetResult
    from ._fleet.records import TargetRow as TargetRow
    from ._fleet.targets import FleetTarget as FleetTarget
    from ._guards.audit import LogEntry as LogEntry
    from ._lint.findings import LintResult as LintResult
    from ._schema.er import SchemaDiagram as SchemaDiagram
    from ._schema.squash import Squash as Squash

__version__ = "0.1.0"

_MAGICS_KEY = "_sakyum_magics"

# Where each public name lives; imported on first access, so that `%load_ext` stays cheap.
_EXPORTS = {
    name: module
    for module, names in {
        "_core.migrator": ("Migrator",),
        "_core.errors": (
            "ConfigurationError",
            "DatabaseError",
            "DropRefusedError",
            "LintError",
            "MigrationError",
            "MultipleHeadsError",
            "NotInitializedError",
            "PendingChangesError",
            "RevisionError",
            "SakyumError",
            "ScratchError",
        ),
        "_core.records": (
            "Binding",
            "CurrentResult",
            "HistoryEntry",
            "InitResult",
            "MigrationResult",
            "Operation",
            "Plan",
            "RevisionInfo",
            "RevisionResult",
            "Step",
        ),
        "_display.results": ("ResultFrame", "ResultText"),
        "_commands.table": ("register_command",),
        "_guards.audit": ("LogEntry",),
        "_features.checks": ("CheckResult",),
        "_features.graph": ("RevisionGraph",),
        "_fleet.records": ("FleetResult", "TargetRow"),
        "_fleet.targets": ("FleetTarget",),
        "_lint.findings": ("LintResult",),
        "_schema.er": ("SchemaDiagram",),
        "_schema.squash": ("Squash",),
    }.items()
    for name in names
}

__all__ = sorted([*_EXPORTS, "load_ipython_extension", "unload_ipython_extension"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sakyum_magic' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Register one ``%migrate`` magic on the shell (``%load_ext sakyum_magic``)."""
    from ._frontend.magic import MigrateCompleter, MigrateMagics

    magics = MigrateMagics(shell=ipython)
    ipython.register_magics(magics)
    ipython.configurables.append(magics)  # type: ignore[arg-type]
    setattr(ipython, _MAGICS_KEY, magics)
    completer = getattr(ipython, "Completer", None)
    if completer is not None:
        completer.custom_matchers.append(MigrateCompleter(magics))


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """Remove ``%migrate`` again (``%unload_ext sakyum_magic``)."""
    magics: Any = getattr(ipython, _MAGICS_KEY, None)
    if magics is None:
        return
    ipython.magics_manager.magics["line"].pop("migrate", None)
    ipython.magics_manager.registry.pop(type(magics).__name__, None)
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)
    completer = getattr(ipython, "Completer", None)
    if completer is not None:
        completer.custom_matchers[:] = [
            m for m in completer.custom_matchers if getattr(m, "magics", None) is not magics
        ]
    magics.close()
    delattr(ipython, _MAGICS_KEY)
