"""Benchmark sakyum-magic against plain Alembic (or the nearest peer) and print every case with its target.

    python benchmarks/run.py            # the full run (``make bench``), under ten minutes
    python benchmarks/run.py --quick    # fewer sizes and runs, a minute or two

Each pair is measured alternately in the same process (plain, magic, magic, plain, ...), and the
ratio column is the median of the per-pair ratios magic/plain. Every row says the target it is held
to and whether it is met; a case whose feature this checkout does not have yet says "n/a". The
table is also written to ``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import cases, features, fleet, lint, processes, scale, servers
from benchmarks.measure import HEADER, Row, machine

POSTGRES_URL = os.environ.get(
    "SAKYUM_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RESULTS = Path(__file__).with_name("results.md")
GROUPS = [
    *("read", "upgrade", "servers", "diff", "process", "scale"),
    *("graph", "complete", "plan", "test", "lint", "fleet"),
]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and runs (a smoke run)")
    parser.add_argument("--runs", type=int, help="runs per measurement (default 5, or 3 with --quick)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL cases")
    parser.add_argument("--no-mysql", action="store_true", help="skip the MariaDB cases")
    parser.add_argument("--only", nargs="*", default=None, help=f"groups: {' '.join(GROUPS)}")
    parser.add_argument("--no-write", action="store_true", help=f"do not rewrite {RESULTS.name}")
    return parser.parse_args()


def _reachable(url: str) -> bool:
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError

    engine = sa.create_engine(url)
    try:
        with engine.connect():
            return True
    except DBAPIError:
        return False
    finally:
        engine.dispose()


def main() -> None:
    args = _arguments()
    runs = args.runs or (3 if args.quick else 5)
    sizes = [10, 100, 1000] if args.quick else [10, 100, 1000, 3000]
    kinds = ["table"] if args.quick else ["table", "column"]
    only = set(args.only or GROUPS)
    postgres = not args.no_postgres and _reachable(POSTGRES_URL)
    started, load = time.perf_counter(), os.getloadavg()
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory(prefix="sakyum-bench-") as folder:
        bench = cases.Bench(Path(folder), runs, POSTGRES_URL if postgres else None)
        _run(bench, args.quick, sizes, kinds, only, postgres)
        if "servers" in only:
            mysql = not args.no_mysql and _reachable(servers.MYSQL_URL)
            servers.run(bench, 30 if args.quick else 100, POSTGRES_URL if postgres else None, mysql)
        if postgres:
            cases.drop_server_databases(POSTGRES_URL)
    text = report(bench.rows, runs, args.quick, postgres, time.perf_counter() - started)
    text += _load_note(load)
    print("\n" + text)
    if not args.no_write:
        RESULTS.write_text(text)


def _run(
    bench: cases.Bench, quick: bool, sizes: list[int], kinds: list[str], only: set[str], pg: bool
) -> None:
    if only & {"read", "process"}:
        bench.prepare(sizes, kinds)
    if "process" in only:
        processes.byte_compile()
        bench.record(processes.load_ext(bench.runs))
    if "read" in only:
        cases.read_commands(bench, sizes, kinds)
    if "graph" in only:
        features.graph(bench, bench.project(1000, "table"))
    if "complete" in only:
        features.completion(bench, bench.project(1000, "table"))
    if "upgrade" in only:
        cases.upgrades(bench, 100 if quick else 1000, kinds, pg)
    if "diff" in only:
        cases.diffs(bench, [10, 100] if quick else [10, 100, 500], pg)
    if "test" in only:
        features.migrate_test(bench, 100)
    if "plan" in only:
        features.plan(bench, features.PLAN_QUICK_MB if quick else features.PLAN_MB)
    if "lint" in only:
        lint.run(bench)
    if "process" in only:
        for row in processes.workflow(bench.root, bench.runs):
            bench.record(row)
    if "scale" in only:
        scale.run(bench, quick)
    if "fleet" in only:
        fleet.run(bench, quick)


def _load_note(start: tuple[float, float, float]) -> str:
    """The machine's load average at the start and end of the run: other work on it skews times."""
    end = os.getloadavg()
    return (
        f"- load average (1 min) at start / end: {start[0]:.2f} / {end[0]:.2f} "
        f"on {os.cpu_count()} cores (shared: other work running meanwhile makes every time longer)\n"
    )


def previous_ratios(text: str) -> dict[tuple[str, str], str]:
    """The ratio of each (group, case) in an earlier results table (empty when there is none)."""
    found: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) >= 7 and cells[0] not in {"group", "---"}:
            found[(cells[0], cells[1])] = cells[4] or cells[3]
    return found


def report(rows: list[Row], runs: int, quick: bool, postgres: bool, seconds: float) -> str:
    """The results as a Markdown table, with the machine and versions, and each case's ratio in the
    previous run (the results file this run replaces) beside the new one."""
    previous = previous_ratios(RESULTS.read_text()) if RESULTS.exists() else {}
    judged = [row for row in rows if row.met is not None]
    missed = [row for row in judged if not row.met]
    lines = [
        f"Medians of {runs} runs per side{' (--quick)' if quick else ''}; ratio = median of per-pair "
        f"magic/plain ratios, measured alternately. PostgreSQL cases: {'run' if postgres else 'skipped'}. "
        f"Whole run: {seconds:.0f} s. Targets met: {len(judged) - len(missed)} of {len(judged)}.",
        "",
        "| group | case | plain / peer | sakyum-magic | ratio | previous run | target | met |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        plain = f"{row.plain_ms:.1f}" if row.plain_ms is not None else ""
        magic = f"{row.magic_ms:.1f}" if row.magic_ms is not None else row.note or "n/a"
        ratio = f"{row.ratio:.3f}" if row.ratio is not None else ""
        verdict = {"no": "**no**"}.get(row.verdict, row.verdict)
        target = row.target.text if row.target else ""
        before = previous.get((row.group, row.case), "")
        cells = [row.group, row.case, plain, magic, ratio, before, target, verdict]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {r.group}, {r.case}: {r.note}" for r in rows if r.note and r.magic_ms is not None]
    lines += ["", "Notes:", "", *notes] if notes else []
    lines += ["", "Times in ms unless the case says otherwise. Machine and versions:", ""]
    lines += [f"- {key}: {value}" for key, value in machine().items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
