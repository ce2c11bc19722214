"""sakyum-magic: Alembic migrations in IPython and Jupyter.

``%load_ext sakyum_magic`` adds the ``%migrate`` line magic. The same commands are available without
IPython through :class:`Migrator`, which returns data and prints nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .commands import Migrator
    from .errors import (
        ConfigurationError,
        DatabaseError,
        DropRefusedError,
        MigrationError,
        MultipleHeadsError,
        NotInitializedError,
        PendingChangesError,
        RevisionError,
        SakyumError,
    )
    from .records import (
        Binding,
        CurrentResult,
        HistoryEntry,
        InitResult,
        MigrationResult,
        Operation,
        Plan,
        RevisionInfo,
        RevisionResult,
        Step,
    )

__version__ = "0.1.0"

__all__ = [
    "Binding",
    "ConfigurationError",
    "CurrentResult",
    "DatabaseError",
    "DropRefusedError",
    "HistoryEntry",
    "InitResult",
    "MigrationError",
    "MigrationResult",
    "Migrator",
    "MultipleHeadsError",
    "NotInitializedError",
    "Operation",
    "PendingChangesError",
    "Plan",
    "RevisionError",
    "RevisionInfo",
    "RevisionResult",
    "SakyumError",
    "Step",
    "load_ipython_extension",
    "unload_ipython_extension",
]

_MAGICS_KEY = "_sakyum_magics"

# Where each public name lives; imported on first access, so that `%load_ext` stays cheap.
_EXPORTS = {
    "Migrator": "commands",
    **dict.fromkeys(
        [
            "ConfigurationError",
            "DatabaseError",
            "DropRefusedError",
            "MigrationError",
            "MultipleHeadsError",
            "NotInitializedError",
            "PendingChangesError",
            "RevisionError",
            "SakyumError",
        ],
        "errors",
    ),
    **dict.fromkeys(
        [
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
        ],
        "records",
    ),
}


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
    from .magic import MigrateMagics

    magics = MigrateMagics(shell=ipython)
    ipython.register_magics(magics)
    ipython.configurables.append(magics)  # type: ignore[arg-type]
    setattr(ipython, _MAGICS_KEY, magics)


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """Remove ``%migrate`` again (``%unload_ext sakyum_magic``)."""
    magics: Any = getattr(ipython, _MAGICS_KEY, None)
    if magics is None:
        return
    ipython.magics_manager.magics["line"].pop("migrate", None)
    ipython.magics_manager.registry.pop(type(magics).__name__, None)
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)
    magics.close()
    delattr(ipython, _MAGICS_KEY)
