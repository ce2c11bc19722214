"""Upgrades on database servers: MariaDB from empty, both servers across a simulated network, and
upgrades beside 1,000 unrelated tables.

- "through a 1 ms proxy": the same upgrade with every connection going through
  :class:`~benchmarks.proxy.DelayProxy`, which adds 0.5 ms each way (the row's note gives the round
  trip measured through it in that run, since a loaded machine wakes the proxy up late);
- "beside 1,000 tables": the databases hold 1,000 tables the chain never touches, and an empty
  version table (a database under migration control, at base: one with tables and no version table
  is first checked for a revision it already matches, see ``baseline``). Two rows: the magic's upgrade
  there against its own upgrade in an empty database (the cost of a revision must not grow with the
  database), and against plain Alembic's there.

Plain Alembic runs through ``alembic init``'s env.py (a new connection per command, as the CLI);
the magic through ``%migrate`` with its pooled engine, as a notebook would.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks.cases import RACY_WAIT, Bench
from benchmarks.generate import Project, make_project
from benchmarks.measure import Row, ratio_at_most
from benchmarks.proxy import DelayProxy

MYSQL_URL = os.environ.get("SAKYUM_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
UNRELATED = 1000
DELAY = 0.0005


def run(bench: Bench, n: int, postgres_url: str | None, mysql: bool) -> None:
    """Every server case; ``n`` revisions in each chain."""
    project = make_project(bench.root / f"servers-table{n}", n, "table")
    time.sleep(RACY_WAIT)
    servers = [("MariaDB", MYSQL_URL)] if mysql else []
    servers += [("PostgreSQL", postgres_url)] if postgres_url else []
    for label, base in servers:
        server = Server(label, base)
        if label == "MariaDB":
            _upgrade(bench, project, server, "", ratio_at_most(1.00))
            _upgrade(bench, project, server, ", --allow-lint (no lint pass first; no target)", None)
        _remote(bench, project, server)
        _beside_tables(bench, project, server)
        server.drop_all()
    bench.magics.migrator.dispose()


class Server:
    """Databases of one server made for the benchmark, by name."""

    def __init__(self, label: str, base_url: str) -> None:
        self.label, self.base_url = label, base_url
        self.made: list[str] = []

    @property
    def mysql(self) -> bool:
        return self.label == "MariaDB"

    def database(self, name: str) -> str:
        """A new empty database ``sakyum_bench_<name>`` and its URL."""
        from sqlalchemy.engine import make_url

        full = f"sakyum_bench_{name}"
        if self.mysql:
            self._admin(f"DROP DATABASE IF EXISTS `{full}`", f"CREATE DATABASE `{full}`")
        else:
            self._admin(f'DROP DATABASE IF EXISTS "{full}" WITH (FORCE)', f'CREATE DATABASE "{full}"')
        self.made.append(full)
        return make_url(self.base_url).set(database=full).render_as_string(hide_password=False)

    def _admin(self, *statements: str) -> None:
        import sqlalchemy as sa

        engine = sa.create_engine(self.base_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        with engine.connect() as connection:
            for statement in statements:
                connection.exec_driver_sql(statement)
        engine.dispose()

    def drop_all(self) -> None:
        quote = "`{}`" if self.mysql else '"{}" WITH (FORCE)'
        self._admin(*(f"DROP DATABASE IF EXISTS {quote.format(name)}" for name in self.made))
        self.made.clear()

    def reset(self, url: str, project: Project, at_base: bool = False) -> None:
        """Drop what an upgrade of ``project`` made (its tables, the version table, the log); with
        ``at_base``, leave an empty version table: a database under migration control at base."""
        import sqlalchemy as sa

        names = [f"t_{index}" for index in range(project.n)]
        names += ["alembic_version", "sakyum_migration_log", "sakyum_in_progress"]
        cascade = "" if self.mysql else " CASCADE"
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        with engine.connect() as connection:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {', '.join(names)}{cascade}")
            if at_base:
                connection.exec_driver_sql(
                    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)"
                )
        engine.dispose()

    def fill(self, url: str, count: int) -> None:
        """``count`` unrelated tables, each with a key, two columns and an index."""
        import sqlalchemy as sa

        metadata = sa.MetaData()
        for index in range(count):
            sa.Table(
                f"unrelated_{index}",
                metadata,
                sa.Column("id", sa.Integer, primary_key=True),
                sa.Column("name", sa.String(40), index=True),
                sa.Column("value", sa.Integer),
            )
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        metadata.create_all(engine)
        engine.dispose()


@contextmanager
def _proxied(url: str) -> Iterator[tuple[str, float]]:
    """``url`` through a DelayProxy, and the extra round trip measured through it (ms)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    with DelayProxy(parsed.host or "127.0.0.1", parsed.port or 0, DELAY) as (host, port):
        through = parsed.set(host=host, port=port).render_as_string(hide_password=False)
        yield through, _round_trip_ms(through) - _round_trip_ms(url)


def _round_trip_ms(url: str, count: int = 200) -> float:
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.connect() as connection:
        started = time.perf_counter()
        for _ in range(count):
            connection.exec_driver_sql("SELECT 1").all()
        took = (time.perf_counter() - started) / count * 1000
    engine.dispose()
    return took


def _upgrade(
    bench: Bench,
    project: Project,
    server: Server,
    how: str,
    target: Any,
    urls: dict[str, str] | None = None,
    note: str = "",
    at_base: bool = False,
) -> Row:
    """Plain Alembic against the magic, each upgrading ``project`` from empty on its own database."""
    urls = urls or {side: server.database(side) for side in ("plain", "magic")}
    fresh = _fresh(bench, project, server, urls, urls, at_base)
    plain = bench.plain("upgrade", project, "head", url=urls["plain"])
    bench.use(project, urls["magic"])
    bench.migrate("history")  # the notebook has seen the revisions before it upgrades
    line = "upgrade head --allow-lint" if "allow-lint" in how else "upgrade head"
    row = bench.add(
        f"table chain, N={project.n}",
        f"upgrade base → head, {server.label}{how}",
        plain,
        lambda: bench.migrate(line),
        target,
        setup=fresh,
    )
    row.note = note
    return row


def _fresh(
    bench: Bench,
    project: Project,
    server: Server,
    urls: dict[str, str],
    admin: dict[str, str],
    at_base: bool = False,
) -> Callable[[str], None]:
    def fresh(side: str) -> None:
        server.reset(admin[side], project, at_base)
        if side == "magic":
            bench.use(project, urls["magic"])

    return fresh


def _remote(bench: Bench, project: Project, server: Server) -> None:
    """The upgrade with every connection of both sides through the proxy."""
    direct = {side: server.database(side) for side in ("plain", "magic")}
    with _proxied(direct["plain"]) as (plain_url, extra), _proxied(direct["magic"]) as (magic_url, _):
        urls = {"plain": plain_url, "magic": magic_url}
        target = ratio_at_most(1.00 if server.mysql else 0.90)
        fresh = _fresh(bench, project, server, urls, direct)
        bench.use(project, magic_url)
        bench.migrate("history")
        row = bench.add(
            f"table chain, N={project.n}",
            f"upgrade base → head, {server.label} through a 1 ms proxy",
            bench.plain("upgrade", project, "head", url=plain_url),
            lambda: bench.migrate("upgrade head"),
            target,
            setup=fresh,
        )
        row.note = f"round trip through the proxy: +{extra:.2f} ms"
        bench.magics.migrator.dispose()  # no pooled connection may outlive the proxy


def _beside_tables(bench: Bench, project: Project, server: Server) -> None:
    """The magic's upgrade beside 1,000 unrelated tables: against its own in an empty database, and
    against plain Alembic's beside the same tables."""
    urls = {side: server.database(side) for side in ("plain", "magic", "empty")}
    for side in ("plain", "magic"):
        server.fill(urls[side], UNRELATED)
    group = f"table chain, N={project.n}"

    def magic_on(key: str) -> Callable[[], Any]:
        def run() -> Any:
            bench.use(project, urls[key])
            return bench.migrate("upgrade head")

        return run

    def fresh_pair(side: str) -> None:
        server.reset(urls["empty" if side == "plain" else "magic"], project, at_base=True)

    bench.use(project, urls["empty"])
    bench.migrate("history")
    bench.add(
        group,
        f"{server.label}: beside {UNRELATED:,} tables vs empty (magic both)",
        magic_on("empty"),
        magic_on("magic"),
        ratio_at_most(1.10),
        setup=fresh_pair,
    )
    how = f" beside {UNRELATED:,} tables"
    _upgrade(bench, project, server, how, ratio_at_most(1.10), urls=urls, at_base=True)
