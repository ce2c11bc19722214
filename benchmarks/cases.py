"""In-process cases: the read commands, upgrade and diff, each against plain Alembic's API.

The magic side goes through a real ``InteractiveShell`` (``%migrate ...``, DataFrame included); the
plain side calls ``alembic.command.*`` with a fresh ``Config``, as a script or notebook would.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.generate import Project, make_project, rev_id, schema
from benchmarks.measure import (
    Row,
    Target,
    paired,
    quiet_alembic,
    ratio_at_most,
    silenced,
    slower_by_at_most,
)

RACY_WAIT = 2.1  # the revision cache content-checks files younger than two seconds
TARGET_N = 1000
TARGET_T = 500
DIFF_TARGETS = {"SQLite": 0.90, "PostgreSQL": 0.60}
REPEATED_DIFF_TARGET = 0.30
"""A ``diff`` again on the database it just read, unchanged meanwhile (the reflection is kept)."""


class Bench:
    """A shell with the extension loaded, plus the generated projects, shared by the cases."""

    def __init__(self, root: Path, runs: int, postgres_url: str | None) -> None:
        from IPython.core.interactiveshell import InteractiveShell
        from traitlets.config import Config

        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        self.shell = InteractiveShell.instance(config=config)
        self.shell.run_line_magic("load_ext", "sakyum_magic")
        self.magics: Any = getattr(self.shell, "_sakyum_magics")  # noqa: B009
        self.magics.progress = True
        self.root, self.runs, self.postgres_url = root, runs, postgres_url
        self.projects: dict[tuple[int, str], Project] = {}
        self.rows: list[Row] = []

    def prepare(self, sizes: list[int], kinds: list[str]) -> None:
        """Generate every project up front, stamp both databases at head, then let the files age."""
        for kind in kinds:
            for n in sizes:
                self.project(n, kind, wait=False)
        time.sleep(RACY_WAIT)

    def project(self, n: int, kind: str, stamp: bool = True, wait: bool = True) -> Project:
        """The chain of ``n`` revisions of ``kind``, generated (and both databases stamped) on first use."""
        found = self.projects.get((n, kind))
        if found is None:
            found = self.projects[(n, kind)] = make_project(self.root / f"{kind}{n}", n, kind)
            if stamp:
                self._stamp(found)
            if wait:
                time.sleep(RACY_WAIT)
        return found

    def _stamp(self, project: Project) -> None:
        from alembic import command

        with quiet_alembic():
            command.stamp(self.plain_config(project), "head")
        self.use(project)
        self.migrate("stamp head")

    # -- the two sides ----------------------------------------------------------------------

    def plain_config(self, project: Project, url: str | None = None) -> Any:
        from alembic.config import Config

        config = Config(str(project.plain_ini), stdout=io.StringIO())
        if url is not None:
            config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        return config

    def use(self, project: Project, url: str | None = None, tag: str = "") -> None:
        """Point the magic at ``project`` (and at ``url``, else the project's own SQLite file)."""
        self.magics.ini = str(project.magic_ini)
        self.magics.directory = str(project.magic_dir)
        self.magics.url = url or f"sqlite:///{project.db('magic', tag)}"

    def migrate(self, line: str) -> Any:
        # The progress bar still runs (and is paid for); it just does not clutter the table.
        with contextlib.redirect_stderr(io.StringIO()):
            return self.shell.run_line_magic("migrate", line)

    def plain(self, name: str, project: Project, *args: Any, url: str | None = None) -> Callable[[], None]:
        from alembic import command

        def run() -> None:
            with silenced():
                getattr(command, name)(self.plain_config(project, url), *args)

        return run

    def add(
        self,
        group: str,
        case: str,
        plain: Callable[[], Any],
        magic: Callable[[], Any],
        target: Target | None = None,
        **kw: Any,
    ) -> Row:
        """Measure ``plain`` and ``magic`` alternately, record the row and print it."""
        runs = kw.pop("runs", self.runs)
        pair = paired(plain, magic, runs, kw.pop("setup", None))
        row = Row(group, case, pair.plain_ms, pair.magic_ms, pair.ratio, target, runs=runs, **kw)
        row.delta_ms = pair.delta_ms
        return self.record(row)

    def record(self, row: Row) -> Row:
        """Judge ``row`` against its target, keep it, and print it."""
        row.judge()
        self.rows.append(row)
        print(row.line(), flush=True)
        return row


# -- read commands ---------------------------------------------------------------------------


def read_commands(bench: Bench, sizes: list[int], kinds: list[str]) -> None:
    """history, heads and current (first call and repeated), and a no-op upgrade, at every size.

    A first call starts from nothing loaded (no revision map, no engine), as the first command of
    a session does; the magic's side renders its DataFrame, the plain side prints.
    """
    for kind in kinds:
        for n in sizes:
            _read_group(bench, bench.projects[(n, kind)])


def first_call_target(n: int) -> Target:
    """At most half of plain Alembic's time (the revision index: no file executed), except at N=10
    where 1.5 ms more than plain is allowed."""
    return slower_by_at_most(1.5) if n <= 10 else ratio_at_most(0.50)


def _read_group(bench: Bench, project: Project) -> None:
    bench.use(project)
    migrator = bench.magics.migrator
    group = f"{project.kind} chain, N={project.n}"

    def at_target(limit: float) -> Target | None:
        return ratio_at_most(limit) if project.n == TARGET_N else None

    def cold(line: str) -> Callable[[], Any]:
        def run() -> Any:
            migrator.scripts.forget()
            migrator.dispose()
            return bench.migrate(line)

        return run

    def run(line: str) -> Callable[[], Any]:
        return lambda: bench.migrate(line)

    for command in ("history", "heads", "current"):
        plain = bench.plain(command, project)
        bench.add(group, f"{command}, first call", plain, cold(command), first_call_target(project.n))
    bench.migrate("history")
    history = bench.plain("history", project)
    bench.add(group, "history, repeated", history, run("history"), at_target(0.10))
    bench.add(group, "current, repeated", bench.plain("current", project), run("current"), at_target(0.03))
    noop = bench.plain("upgrade", project, "head")
    bench.add(group, "upgrade head, nothing to do", noop, run("upgrade head"), at_target(0.10))


# -- upgrade over a whole chain --------------------------------------------------------------


def upgrades(bench: Bench, n: int, kinds: list[str], postgres: bool) -> None:
    """A full upgrade from an empty database, on SQLite and (when reachable) PostgreSQL."""
    for kind in kinds:
        project = make_project(bench.root / f"upgrade-{kind}{n}", n, kind)
        time.sleep(RACY_WAIT)
        _sqlite_upgrade(bench, project)
        if postgres and bench.postgres_url:
            _postgres_upgrade(bench, project, bench.postgres_url)


def _sqlite_upgrade(bench: Bench, project: Project) -> None:
    def fresh(side: str) -> None:
        if side == "magic":
            bench.magics.migrator.dispose()  # no pooled connection may outlive the file
            bench.use(project, tag="-up")
        path = project.db(side, "-up")
        if path.exists():
            os.remove(path)

    url = f"sqlite:///{project.db('plain', '-up')}"
    bench.use(project, tag="-up")
    bench.migrate("history")  # the notebook has seen the revisions before it upgrades
    bench.add(
        f"{project.kind} chain, N={project.n}",
        "upgrade base → head, SQLite",
        bench.plain("upgrade", project, "head", url=url),
        lambda: bench.migrate("upgrade head"),
        ratio_at_most(0.75),
        setup=fresh,
    )


def _postgres_upgrade(bench: Bench, project: Project, base_url: str) -> None:
    urls = {side: _server_database(base_url, f"sakyum_bench_{side}") for side in ("plain", "magic")}

    def fresh(side: str) -> None:
        _reset_schema(urls[side])
        if side == "magic":
            bench.use(project, urls["magic"])

    bench.use(project, urls["magic"])
    bench.migrate("history")
    plain = bench.plain("upgrade", project, "head", url=urls["plain"])
    group = f"{project.kind} chain, N={project.n}"
    upgrade = lambda: bench.migrate("upgrade head")  # noqa: E731
    bench.add(group, "upgrade base → head, PostgreSQL", plain, upgrade, ratio_at_most(1.00), setup=fresh)
    lint_off = lambda: bench.migrate("upgrade head --allow-lint")  # noqa: E731
    case = "the same, --allow-lint: no lint pass first (no target)"
    bench.add(group, case, plain, lint_off, None, setup=fresh)
    # The same without the applied-at log's row per revision: what the log costs, apart.
    bench.magics.audit = False
    try:
        bench.add(group, "the same, applied-at log off (no target)", plain, upgrade, None, setup=fresh)
    finally:
        bench.magics.audit = True
    _postgres_upgrade_from_middle(bench, project, urls)
    bench.magics.migrator.dispose()


def _postgres_upgrade_from_middle(bench: Bench, project: Project, urls: dict[str, str]) -> None:
    """From the middle of the chain, where ``upgrade`` lints the revisions it is about to apply: the
    first time in a session, and after ``%migrate lint`` looked at them (kept, not linted again)."""
    middle = rev_id(project.kind, project.n // 2 - 1)
    lint = {"first": False}

    def at_middle(side: str) -> None:
        _reset_schema(urls[side])
        if side == "plain":
            bench.plain("upgrade", project, middle, url=urls["plain"])()
            return
        bench.use(project, urls["magic"])
        bench.migrate(f"upgrade {middle}")
        bench.magics.migrator.lints.forget()  # nothing linted yet in this session
        if not lint["first"]:
            bench.migrate("lint")  # the revisions looked at before they are applied

    plain = bench.plain("upgrade", project, "head", url=urls["plain"])
    group = f"{project.kind} chain, N={project.n}"
    upgrade = lambda: bench.migrate("upgrade head")  # noqa: E731
    case = f"upgrade {project.n // 2} → head, PostgreSQL, after %migrate lint"
    bench.add(group, case, plain, upgrade, ratio_at_most(1.00), setup=at_middle)
    lint["first"] = True
    case = f"upgrade {project.n // 2} → head, PostgreSQL, linted first in the session (no target)"
    bench.add(group, case, plain, upgrade, None, setup=at_middle)
    lint_off = lambda: bench.migrate("upgrade head --allow-lint")  # noqa: E731
    case = f"upgrade {project.n // 2} → head, PostgreSQL, --allow-lint (no target)"
    bench.add(group, case, plain, lint_off, None, setup=at_middle)


def _server_database(base_url: str, name: str) -> str:
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def _reset_schema(url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with engine.connect() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def drop_server_databases(base_url: str) -> None:
    """Remove the databases the PostgreSQL cases made."""
    import sqlalchemy as sa

    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for name in ("plain", "magic", "diff"):
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "sakyum_bench_{name}" WITH (FORCE)')
    admin.dispose()


# -- comparing models with the database -------------------------------------------------------


def diffs(bench: Bench, sizes: list[int], postgres: bool) -> None:
    """``Migrator.diff`` against ``compare_metadata`` on a database that matches the models."""
    for tables in sizes:
        _diff_case(bench, "SQLite", f"sqlite:///{bench.root / f'diff{tables}.db'}", tables)
    if postgres and bench.postgres_url:
        for tables in sizes:
            url = _server_database(bench.postgres_url, "sakyum_bench_diff")
            _diff_case(bench, "PostgreSQL", url, tables)


def _diff_case(bench: Bench, label: str, url: str, tables: int) -> None:
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from sakyum_magic import Migrator

    metadata = schema(tables)
    engine = sa.create_engine(url)
    metadata.create_all(engine)
    migrator = Migrator(url, metadata=metadata, directory=bench.root / "unused")

    def plain() -> None:
        with engine.connect() as connection:
            # The options Migrator.diff uses: types and server defaults compared, as autogenerate would.
            options = {"compare_type": True, "compare_server_default": True, "target_metadata": metadata}
            context = MigrationContext.configure(connection, opts=options)
            compare_metadata(context, metadata)

    def first() -> None:
        migrator.reflections.forget()  # as on a database this session has not read yet
        migrator.diff()

    migrator.diff()
    plain()
    limit = DIFF_TARGETS[label] if tables == TARGET_T else None
    target = ratio_at_most(limit) if limit is not None else None
    bench.add(f"schema, T={tables}", f"diff, {label}", plain, first, target)
    target = ratio_at_most(REPEATED_DIFF_TARGET) if tables == TARGET_T else None
    case = f"diff again, database unchanged, {label}"
    bench.add(f"schema, T={tables}", case, plain, migrator.diff, target)
    migrator.dispose()
    engine.dispose()
