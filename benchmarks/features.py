"""Cases for the newer commands, each against its nearest peer: graph, completion, test and plan.

A case whose feature this checkout does not have yet is reported as "not available" (never
judged), so the table shows every case of the issue whether or not its code has landed.
"""

from __future__ import annotations

import importlib
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from IPython.core.completer import provisionalcompleter
from IPython.core.error import UsageError

from benchmarks.cases import RACY_WAIT, Bench
from benchmarks.generate import Project, chain_metadata, make_project, rev_id
from benchmarks.measure import below, not_available, ratio_at_most, silenced

PLAN_MB = 1024
PLAN_QUICK_MB = 100
PLAN_CHAIN, PLAN_AT = 10, 5  # a 10-revision chain, the database at revision 5: plan previews 5 steps


def _feature(module: str, name: str) -> bool:
    try:
        found = importlib.import_module(module)
    except ImportError:
        return False
    return hasattr(found, name)


def _subcommand(bench: Bench, name: str) -> bool:
    """Whether ``%migrate NAME`` is a command here (its ``-h`` answers instead of a usage error)."""
    try:
        bench.migrate(f"{name} -h")
    except UsageError:
        return False
    return True


# -- graph -----------------------------------------------------------------------------------


def graph(bench: Bench, project: Project) -> None:
    """The revision graph at 1,000 revisions, first call (map not loaded), drawn as Jupyter would.

    Through ``%migrate graph`` when the command exists; else through ``revision_graph`` on the
    migrator's map, with the same display formatting (SVG and HTML).
    """
    group, case = f"{project.kind} chain, N={project.n}", "graph, first call (peer: history)"
    bench.use(project)
    if not _feature("sakyum_magic._features.graph", "revision_graph"):
        missing = "no sakyum_magic._features.graph.revision_graph"
        bench.record(not_available(group, case, below(1000), missing))
        return
    migrator = bench.magics.migrator
    formatter: Any = bench.shell.display_formatter  # IPython's formatter is untyped
    draw = _graph_command(bench) if _subcommand(bench, "graph") else _graph_core(bench)
    if not _subcommand(bench, "graph"):
        case = "graph (core + drawing), first call (peer: history)"

    def magic() -> None:
        migrator.scripts.forget()
        formatter.format(draw())

    bench.add(group, case, bench.plain("history", project), magic, below(1000))


def _graph_command(bench: Bench) -> Callable[[], Any]:
    return lambda: bench.migrate("graph")


def _graph_core(bench: Bench) -> Callable[[], Any]:
    from sakyum_magic._features.graph import revision_graph

    migrator = bench.magics.migrator
    return lambda: revision_graph(migrator.script_directory())


# -- completion ------------------------------------------------------------------------------


def completion(bench: Bench, project: Project) -> None:
    """Completing a revision prefix (``%migrate upgrade 1f<TAB>``) at 1,000 revisions, map loaded.

    The peer is IPython completing another magic's argument (``%config MigrateMagics.pro<TAB>``).
    """
    group, case = f"{project.kind} chain, N={project.n}", "complete a revision prefix"
    bench.use(project)
    bench.migrate("history")  # a keystroke comes after the notebook has used the directory
    wanted = rev_id(project.kind, project.n // 2)
    line = f"%migrate upgrade {wanted[:2]}"
    completer = bench.shell.Completer

    def complete(text: str) -> Callable[[], list[Any]]:
        def run() -> list[Any]:
            with provisionalcompleter():
                return list(completer.completions(text, len(text)))

        return run

    offered = {c.text for c in complete(line)()}
    if not any(text.endswith(wanted) for text in offered):
        why = "%migrate offers no revision ids to IPython's completer"
        bench.record(not_available(group, case, below(50), why))
        return
    bench.add(group, case, complete("%config MigrateMagics.pro"), complete(line), below(50))


def _completer(bench: Bench, text: str) -> Callable[[], list[Any]]:
    completer = bench.shell.Completer

    def run() -> list[Any]:
        with provisionalcompleter():
            return list(completer.completions(text, len(text)))

    return run


def completion_at_scale(bench: Bench, project: Project) -> None:
    """The first Tab in a ``%migrate`` revision argument with the map not read yet, and later ones,
    at 10,000 revisions (reading them takes seconds: it must not hold the keystroke up).

    First Tab: each run starts from nothing read (the names forgotten, the map dropped), and the
    background read it starts is waited for, untimed, before the next run. Peer: IPython completing
    another magic's argument (``%config MigrateMagics.pro<TAB>``).
    """
    group = f"{project.kind} chain, N={project.n:,}"
    first_case, later_case = "complete, first Tab (map not read yet)", "complete, later Tab (names read)"
    bench.use(project)
    magics = bench.magics
    wanted = rev_id(project.kind, project.n // 2)
    line, peer = (
        _completer(bench, f"%migrate upgrade {wanted[:3]}"),
        _completer(bench, "%config MigrateMagics.pro"),
    )
    if not hasattr(magics, "completion_names"):
        for case, limit in ((first_case, 500), (later_case, 50)):
            bench.record(
                not_available(group, case, below(limit), "completion reads the map on the kernel's thread")
            )
        return

    def nothing_read(side: str) -> None:
        if side == "magic":
            if magics.completion_names is not None:
                magics.completion_names.forget()  # waits for the read under way first
            magics.migrator.scripts.forget()

    bench.add(group, first_case, peer, line, below(500), setup=nothing_read)
    line()
    magics.completion_names.settle()
    line()  # the names are read: later Tabs answer from them
    if not any(c.text.endswith(wanted) for c in line()):
        bench.record(not_available(group, later_case, below(50), "no revision ids offered once read"))
        return
    bench.add(group, later_case, peer, line, below(50))


# -- %migrate test -----------------------------------------------------------------------------


def migrate_test(bench: Bench, n: int) -> None:
    """``%migrate test`` against pytest-alembic's own four checks, on the same directory and models."""
    group, case = f"table chain, N={n}", "test (peer: pytest-alembic)"
    project = bench.project(n, "table", stamp=False)
    bench.use(project)
    if not _subcommand(bench, "test"):
        bench.record(not_available(group, case, ratio_at_most(1.00), "no %migrate test command"))
        return
    metadata = chain_metadata(n, "table")
    bench.shell.user_ns["bench_metadata"] = metadata
    bench.magics.metadata = "bench_metadata"
    scratch = bench.root / "pytest-alembic.db"

    def fresh(side: str) -> None:
        scratch.unlink(missing_ok=True)

    try:
        bench.add(
            group,
            case,
            lambda: _pytest_alembic(bench, metadata, f"sqlite:///{scratch}"),
            lambda: bench.migrate("test"),
            ratio_at_most(1.00),
            setup=fresh,
        )
    finally:
        bench.magics.metadata = None


def _pytest_alembic(bench: Bench, metadata: Any, url: str) -> None:
    import pytest_alembic
    import sqlalchemy as sa
    from pytest_alembic.config import Config
    from pytest_alembic.tests import (
        test_model_definitions_match_ddl,
        test_single_head_revision,
        test_up_down_consistency,
        test_upgrade,
    )

    engine = sa.create_engine(url)
    config = Config(
        config_options={"target_metadata": metadata}, alembic_config=bench.magics.migrator.config()
    )
    with silenced(), pytest_alembic.runner(config=config, engine=engine) as runner:
        test_single_head_revision(runner)
        test_upgrade(runner)
        test_model_definitions_match_ddl(runner)
        test_up_down_consistency(runner)
    engine.dispose()


# -- plan on a large SQLite file -------------------------------------------------------------


def plan(bench: Bench, megabytes: int) -> None:
    """``%migrate plan`` on a SQLite file of ``megabytes`` against the ``%migrate upgrade`` it previews."""
    group, case = f"SQLite file, {megabytes:,} MB", "plan (peer: the upgrade it previews)"
    project = make_project(bench.root / "plan", PLAN_CHAIN, "table")
    time.sleep(RACY_WAIT)
    database = project.db("magic", "-plan")
    bench.use(project, tag="-plan")
    start = rev_id("table", PLAN_AT - 1)
    bench.migrate(f"upgrade {start}")
    bench.magics.migrator.dispose()
    _fill(database, megabytes)

    def at_start(side: str) -> None:
        if bench.magics.migrator.current().revisions[0].revision != start:
            bench.migrate(f"downgrade {start}")

    try:
        bench.add(
            group,
            case,
            lambda: bench.migrate("upgrade head"),
            lambda: bench.migrate("plan head"),
            ratio_at_most(2.00),
            setup=at_start,
        )
    finally:
        bench.magics.migrator.dispose()
        shutil.rmtree(project.root, ignore_errors=True)


def _fill(path: Path, megabytes: int) -> None:
    """Add a table of ``megabytes`` of random 1 KB rows to the SQLite file (not part of any model)."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA synchronous = OFF")
        connection.execute("CREATE TABLE payload (id INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        connection.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO payload (data) SELECT randomblob(1000) FROM n",
            (megabytes * 1024,),
        )
    connection.close()
