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

from benchmarks.generate import Project, make_project, schema
from benchmarks.measure import Row, paired, quiet_alembic

RACY_WAIT = 2.1  # the revision cache content-checks files younger than two seconds
TARGET_N = 1000
TARGET_T = 500


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
                project = make_project(self.root / f"{kind}{n}", n, kind)
                self.projects[(n, kind)] = project
                self._stamp(project)
        time.sleep(RACY_WAIT)

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
            with quiet_alembic():
                getattr(command, name)(self.plain_config(project, url), *args)

        return run

    def add(
        self, group: str, case: str, plain: Callable[[], Any], magic: Callable[[], Any], **kw: Any
    ) -> Row:
        setup = kw.pop("setup", None)
        plain_ms, magic_ms, ratio = paired(plain, magic, kw.pop("runs", self.runs), setup)
        row = Row(group, case, plain_ms, magic_ms, ratio, runs=self.runs, **kw)
        self.rows.append(row)
        print(f"  {group:<26} {case:<34} {plain_ms:10.1f} {magic_ms:10.1f} {ratio:7.3f}", flush=True)
        return row


# -- read commands ---------------------------------------------------------------------------


def read_commands(bench: Bench, sizes: list[int], kinds: list[str]) -> None:
    """history (first and repeated), current, and a no-op upgrade, at every size.

    The issue states its targets at N=1000; other sizes are shown for the trend.
    """
    for kind in kinds:
        for n in sizes:
            _read_group(bench, bench.projects[(n, kind)])


def _read_group(bench: Bench, project: Project) -> None:
    bench.use(project)
    scripts = bench.magics.migrator.scripts
    group = f"{project.kind} chain, N={project.n}"

    def target(text: str) -> str:
        return text if project.n == TARGET_N else ""

    def cold() -> None:
        scripts.forget()
        bench.migrate("history")

    def run(line: str) -> Callable[[], Any]:
        return lambda: bench.migrate(line)

    history = bench.plain("history", project)
    bench.add(group, "history, first call", history, cold, target=target("<= 1.10x"))
    bench.migrate("history")
    bench.add(group, "history, repeated", history, run("history"), target=target("<= 0.10x"))
    bench.add(group, "current", bench.plain("current", project), run("current"), target=target("<= 0.03x"))
    noop = bench.plain("upgrade", project, "head")
    bench.add(group, "upgrade head, nothing to do", noop, run("upgrade head"), target=target("<= 0.10x"))


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
        setup=fresh,
        target="<= 0.75x",
    )


def _postgres_upgrade(bench: Bench, project: Project, base_url: str) -> None:
    urls = {side: _server_database(base_url, f"sakyum_bench_{side}") for side in ("plain", "magic")}

    def fresh(side: str) -> None:
        _reset_schema(urls[side])
        if side == "magic":
            bench.use(project, urls["magic"])

    bench.use(project, urls["magic"])
    bench.migrate("history")
    bench.add(
        f"{project.kind} chain, N={project.n}",
        "upgrade base → head, PostgreSQL",
        bench.plain("upgrade", project, "head", url=urls["plain"]),
        lambda: bench.migrate("upgrade head"),
        setup=fresh,
        target="<= 1.05x",
    )
    bench.magics.migrator.dispose()


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
            options = {"compare_type": True, "target_metadata": metadata}
            context = MigrationContext.configure(connection, opts=options)
            compare_metadata(context, metadata)

    migrator.diff()
    plain()
    target = "<= 1.05x" if tables == TARGET_T else ""
    bench.add(f"schema, T={tables}", f"diff, {label}", plain, migrator.diff, target=target)
    migrator.dispose()
    engine.dispose()
