"""Prototype, benchmark only: PostgreSQL upgrades whose revisions commit without waiting for the disk.

    python benchmarks/async_commit.py [--runs 5] [--n 1000] [--kind table]

sakyum-magic runs one transaction per revision (a failure leaves the database at the last good
revision); plain Alembic runs one transaction for the whole upgrade. On PostgreSQL each commit waits
for its WAL flush, so a thousand revisions wait a thousand times. This script measures, alternately
in one process, plain ``alembic upgrade head``, ``%migrate upgrade head`` as it is, and
``%migrate upgrade head`` with one more ``on_version_apply`` hook that runs
``SET LOCAL synchronous_commit = off`` in every revision's transaction but the last one's.

The hook is added here by wrapping ``sakyum_magic.execution._Run.control`` in this process only; the
package itself is not changed. Durability with the hook: each revision is still all or nothing and
still commits before the next starts; the final, synchronous commit flushes the WAL up to and
including every earlier commit, so once the upgrade returns everything is on disk. A server crash
during the run can lose only a suffix of whole revisions (WAL is replayed in commit order), never
half of one; the client dying loses nothing that was committed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cases import RACY_WAIT, Bench, _reset_schema, _server_database
from benchmarks.generate import make_project
from benchmarks.measure import reset_logging, silenced

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class AsyncCommitUntilLast:
    """``on_version_apply`` hook: every revision's commit but the last one's skips the WAL flush wait."""

    def __init__(self, total: int, connection: Any) -> None:
        self.total, self.connection, self.seen = total, connection, 0

    def __call__(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        self.seen += 1
        if self.seen < self.total and ctx.connection is self.connection:
            ctx.connection.exec_driver_sql("SET LOCAL synchronous_commit = off")


def install(enabled: list[bool]) -> None:
    """Wrap ``_Run.control`` so that, while ``enabled[0]``, PostgreSQL runs get the hook."""
    from sakyum_magic import execution

    original = execution._Run.control

    def control(self: Any, connection: Any) -> Any:
        found = original(self, connection)
        dialect = self.target.engine.dialect.name
        if enabled[0] and dialect == "postgresql" and not self.strategy.dry_run and self.name != "stamp":
            found.hooks.append(AsyncCommitUntilLast(self.recorder.total or 0, found.connection))
        return found

    execution._Run.control = control  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--kind", default="table", choices=["table", "column"])
    args = parser.parse_args()
    enabled = [False]
    install(enabled)
    with tempfile.TemporaryDirectory(prefix="sakyum-async-") as folder:
        bench = Bench(Path(folder), args.runs, POSTGRES_URL)
        project = make_project(Path(folder) / "chain", args.n, args.kind)
        time.sleep(RACY_WAIT)
        urls = {side: _server_database(POSTGRES_URL, f"sakyum_bench_{side}") for side in ("plain", "magic")}
        bench.use(project, urls["magic"])
        bench.migrate("history")

        def magic(flag: bool) -> Callable[[], Any]:
            def run() -> Any:
                enabled[0] = flag
                return bench.migrate("upgrade head")

            return run

        def plain() -> None:
            from alembic import command

            with silenced():
                command.upgrade(bench.plain_config(project, urls["plain"]), "head")

        sides: list[tuple[str, Callable[[], Any], str]] = [
            ("plain alembic upgrade head", plain, "plain"),
            ("%migrate upgrade head (as is)", magic(False), "magic"),
            ("%migrate upgrade head (+ async commit)", magic(True), "magic"),
        ]
        times: dict[str, list[float]] = {name: [] for name, _, _ in sides}
        for index in range(args.runs):
            order = sides[index % 3 :] + sides[: index % 3]
            for name, action, database in order if index % 2 == 0 else order[::-1]:
                reset_logging()
                _reset_schema(urls[database])
                bench.use(project, urls["magic"])
                start = time.perf_counter()
                action()
                times[name].append((time.perf_counter() - start) * 1000)
        bench.magics.migrator.dispose()
        _report(times, args)
    from benchmarks.cases import drop_server_databases

    drop_server_databases(POSTGRES_URL)


def _report(times: dict[str, list[float]], args: argparse.Namespace) -> None:
    plain = times["plain alembic upgrade head"]
    print(f"PostgreSQL upgrade base -> head, {args.kind} chain, N={args.n}, {args.runs} runs, alternated")
    for name, values in times.items():
        ratio = statistics.median(v / p for v, p in zip(values, plain, strict=True))
        print(f"  {name:<42} median {statistics.median(values):8.1f} ms   ratio {ratio:.3f}")


if __name__ == "__main__":
    main()
