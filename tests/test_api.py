"""The public API is curated: ``__all__`` is pinned, and loading the extension stays cheap."""

from __future__ import annotations

import subprocess
import sys

import sakyum_magic


def test_all_is_pinned() -> None:
    assert sorted(sakyum_magic.__all__) == [
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
    for name in sakyum_magic.__all__:
        assert hasattr(sakyum_magic, name)


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
        "heavy = sorted(loaded & {'alembic', 'pandas', 'sqlalchemy', 'tqdm'})\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
