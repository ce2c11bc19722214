"""Execute a notebook headless with a real Jupyter kernel and print what each cell showed.

Usage: python notebooks/run.py notebooks/quickstart.ipynb [--workdir DIR]

The notebook runs in a fresh working directory (default notebooks/.demo/), so its default SQLite
database, default.db, and the alembic/ directory it creates start empty every time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient


def execute(path: Path, workdir: Path) -> Any:
    """Run every cell of the notebook at ``path`` inside ``workdir``; raises on the first failing cell."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    notebook = nbformat.read(path, as_version=4)
    # The `!alembic` cells run the alembic installed beside this interpreter, activated or not.
    tools = str(Path(sys.executable).parent)
    if tools not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"
    # IPC sockets (local, so the kernel has no plain-TCP warning to print on a newcomer's terminal), at
    # an absolute path: the kernel runs in workdir, and a relative one would be another socket there.
    with tempfile.TemporaryDirectory(prefix="sakyum-demo-") as sockets:
        kernel = KernelManager(transport="ipc", ip=str(Path(sockets) / "kernel"))
        resources = {"metadata": {"path": str(workdir)}}
        try:
            NotebookClient(notebook, km=kernel, timeout=300, resources=resources).execute()
        finally:  # a kernel given to nbclient is ours to stop
            if kernel.has_kernel:
                kernel.shutdown_kernel()
    return notebook


def shown(output: Any) -> str:
    """What a person would read from one output in a terminal."""
    if output.output_type == "stream":
        return str(output.text).rstrip()
    if output.output_type == "error":
        return f"{output.ename}: {output.evalue}"
    data = output.get("data", {})
    return str(data.get("text/plain", "")).rstrip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / ".demo")
    args = parser.parse_args()
    notebook = execute(args.notebook, args.workdir)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        print(f"In  > {cell.source.splitlines()[0]}")
        for output in cell.outputs:
            text = shown(output)
            if text:
                print(text)
        print()
    print(f"Ran {args.notebook} in {args.workdir} against sqlite:///default.db")


if __name__ == "__main__":
    main()
