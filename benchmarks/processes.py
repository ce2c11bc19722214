"""Cases that need fresh processes: ``%load_ext`` cost, the notebook workflow, and peak memory."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.generate import Project
from benchmarks.measure import Measured, Row, at_most, paired, python_ms, ratio_at_most, times_faster, wall_ms

IMPORT_ALEMBIC = """
import time
start = time.perf_counter()
import alembic.command
print((time.perf_counter() - start) * 1000)
"""

LOAD_EXT = """
import sys, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
start = time.perf_counter()
shell.run_line_magic("load_ext", "sakyum_magic")
elapsed = (time.perf_counter() - start) * 1000
eager = [name for name in ("alembic", "sqlalchemy", "pandas") if name in sys.modules]
assert not eager, f"imported at load_ext: {eager}"
print(elapsed)
"""

MODELS = """
import sqlalchemy as sa

metadata = sa.MetaData()
for i in range(10):
    parent = [sa.Column("p", sa.ForeignKey(f"w_{i - 1}.id"))] if i else []
    sa.Table(
        f"w_{i}",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50), index=True),
        *parent,
    )
"""

NOTEBOOK = """
import os, time
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
lines = [
    "config --url sqlite:///workflow.db --metadata metadata",
    "init",
    "revision --autogenerate -m initial",
    "upgrade head",
    "current",
    "history",
    "downgrade base",
]
start = time.perf_counter()
shell.run_line_magic("load_ext", "sakyum_magic")
shell.run_cell("from models import metadata", store_history=False)
times = []
for folder in ("first", "second"):
    os.mkdir(folder)
    os.chdir(folder)
    for line in lines:
        # A kernel shows every result: format it as Jupyter would (HTML and text).
        shell.display_formatter.format(shell.run_line_magic("migrate", line))
    os.chdir("..")
    times.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
print(times[0], times[1])
"""

CLI_STEPS = [
    ["revision", "--autogenerate", "-m", "initial"],
    ["upgrade", "head"],
    ["current"],
    ["history"],
    ["downgrade", "base"],
]


def byte_compile() -> None:
    """Byte-compile the package, as ``pip install`` does, so no fresh process compiles it from source.

    Alembic, SQLAlchemy and pandas were byte-compiled when installed; under PYTHONDONTWRITEBYTECODE
    an editable install of this package never would be, which would bill %load_ext for compiling.
    """
    import compileall

    import sakyum_magic

    compileall.compile_dir(str(Path(sakyum_magic.__file__).parent), quiet=1)


def load_ext(runs: int) -> Row:
    """``%load_ext sakyum_magic`` in a fresh process against ``import alembic.command``."""
    plain = Measured(lambda: python_ms(IMPORT_ALEMBIC))
    magic = Measured(lambda: python_ms(LOAD_EXT))
    pair = paired(plain, magic, runs)
    case = "%load_ext vs import alembic.command"
    return Row(
        "fresh process", case, pair.plain_ms, pair.magic_ms, pair.ratio, ratio_at_most(0.05), runs=runs
    )


def _alembic() -> str:
    return str(Path(sys.executable).with_name("alembic"))


def _fresh_dir(root: Path, name: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=name, dir=root))
    (path / "models.py").write_text(MODELS)
    return path


def _cli_workflow(root: Path) -> float:
    """The chapter by hand: ``alembic init``, two file edits (untimed), then five commands."""
    folder = _fresh_dir(root, "cli-")
    env = {**os.environ, "PYTHONPATH": str(folder)}
    env.pop("DATABASE_URL", None)
    elapsed = wall_ms([[_alembic(), "init", "alembic"]], str(folder), env)
    ini = folder / "alembic.ini"
    ini.write_text(ini.read_text().replace("driver://user:pass@localhost/dbname", "sqlite:///workflow.db"))
    env_py = folder / "alembic" / "env.py"
    env_py.write_text(
        env_py.read_text().replace("target_metadata = None", "from models import metadata as target_metadata")
    )
    elapsed += wall_ms([[_alembic(), *step] for step in CLI_STEPS], str(folder), env)
    shutil.rmtree(folder)
    return elapsed


def _notebook_workflow(root: Path) -> tuple[float, float]:
    """The same steps in one kernel-like process: first use (imports included), then again."""
    folder = _fresh_dir(root, "nb-")
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["PYTHONPATH"] = str(folder)
    done = subprocess.run(
        [sys.executable, "-c", NOTEBOOK], cwd=folder, env=env, capture_output=True, text=True, check=True
    )
    first, again = (float(value) for value in done.stdout.split()[-2:])
    shutil.rmtree(folder)
    return first, again


def workflow(root: Path, runs: int) -> list[Row]:
    """init, revision --autogenerate, upgrade, current, history, downgrade: CLI processes vs magic.

    Two magic figures: the first run in a fresh kernel, which pays for importing alembic, SQLAlchemy
    and pandas, and a second run in the same kernel (a new directory and database).
    """
    again: list[float] = []

    def first() -> float:
        cold, warm = _notebook_workflow(root)
        again.append(warm)
        return cold

    pair = paired(Measured(lambda: _cli_workflow(root)), Measured(first), runs)
    warm_ms = statistics.median(again)
    target = times_faster(5)
    return [
        Row(
            "notebook workflow",
            "6 steps, fresh kernel (first use)",
            pair.plain_ms,
            pair.magic_ms,
            pair.ratio,
            target,
            runs=runs,
        ),
        Row(
            "notebook workflow",
            "6 steps, kernel already used",
            pair.plain_ms,
            warm_ms,
            warm_ms / pair.plain_ms,
            target,
            runs=runs,
        ),
    ]


MEMORY = """
import io, sys
import alembic.command, pandas, sqlalchemy
from alembic.config import Config
from IPython.core.interactiveshell import InteractiveShell

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024

side, ini, directory = sys.argv[1:4]
shell = InteractiveShell.instance()
shell.run_line_magic("load_ext", "sakyum_magic")
magics = shell._sakyum_magics
magics.ini, magics.directory = ini, directory
before = status("VmRSS:")
with open("/proc/self/clear_refs", "w") as reset:
    reset.write("5")  # restart the peak (VmHWM) from the current RSS
if side == "magic":
    shell.display_formatter.format(shell.run_line_magic("migrate", "history"))
else:
    alembic.command.history(Config(ini, stdout=io.StringIO()))
print(status("VmHWM:") - before)
"""


def memory(project: Project) -> Row:
    """Peak RSS added by one ``history`` over the chain, in a process that has imported everything."""

    def peak(side: str) -> float:
        ini, directory = (
            (project.magic_ini, project.magic_dir)
            if side == "magic"
            else (project.plain_ini, project.plain_ini.parent / "alembic")
        )
        done = subprocess.run(
            [sys.executable, "-c", MEMORY, side, str(ini), str(directory)],
            capture_output=True,
            text=True,
            check=True,
        )
        return float(done.stdout.strip().splitlines()[-1])

    plain_mb, magic_mb = peak("plain"), peak("magic")
    return Row(
        f"{project.kind} chain, N={project.n}",
        "history: peak RSS added (MB)",
        plain_mb,
        magic_mb,
        magic_mb / plain_mb if plain_mb else None,
        at_most(100, "MB"),
        runs=1,
        note="values in MB, not ms",
    )
