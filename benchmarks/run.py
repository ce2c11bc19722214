"""Benchmark sakyum-magic against plain Alembic and print a table of medians and ratios.

    python benchmarks/run.py            # the full run (``make bench``), a few minutes
    python benchmarks/run.py --quick    # fewer sizes and runs, about a minute

Each pair is measured alternately in the same process (plain, magic, magic, plain, ...), and the
ratio column is the median of the per-pair ratios magic/plain. The table is also written to
``benchmarks/results.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import cases, processes
from benchmarks.measure import Row, machine

POSTGRES_URL = os.environ.get(
    "SAKYUM_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RESULTS = Path(__file__).with_name("results.md")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and runs (a smoke run)")
    parser.add_argument("--runs", type=int, help="runs per measurement (default 5, or 3 with --quick)")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL cases")
    parser.add_argument("--only", nargs="*", default=None, help="groups: read upgrade diff process")
    return parser.parse_args()


def _postgres_reachable() -> bool:
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError

    engine = sa.create_engine(POSTGRES_URL)
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
    only = set(args.only or ["read", "upgrade", "diff", "process"])
    postgres = not args.no_postgres and _postgres_reachable()
    started = time.perf_counter()
    print(f"{'':2}{'group':<26} {'case':<34} {'plain ms':>10} {'magic ms':>10} {'ratio':>7}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sakyum-bench-") as folder:
        bench = cases.Bench(Path(folder), runs, POSTGRES_URL if postgres else None)
        _run(bench, args.quick, sizes, kinds, only, postgres)
        if postgres:
            cases.drop_server_databases(POSTGRES_URL)
    rows = _judge(bench.rows, sizes)
    text = report(rows, runs, args.quick, postgres, time.perf_counter() - started)
    print("\n" + text)
    RESULTS.write_text(text)


def _run(
    bench: cases.Bench, quick: bool, sizes: list[int], kinds: list[str], only: set[str], pg: bool
) -> None:
    if "read" in only or "process" in only:
        bench.prepare(sizes, kinds)
    if "process" in only:
        processes.byte_compile()
        _add(bench, processes.load_ext(bench.runs))
    if "read" in only:
        cases.read_commands(bench, sizes, kinds)
    if "upgrade" in only:
        cases.upgrades(bench, 100 if quick else 1000, kinds, pg)
    if "diff" in only:
        cases.diffs(bench, [10, 100] if quick else [10, 100, 500], pg)
    if "process" in only:
        for row in processes.workflow(bench.root, bench.runs):
            _add(bench, row)
        _add(bench, processes.memory(bench.projects[(sizes[-1], kinds[0])]))


def _add(bench: cases.Bench, row: Row) -> None:
    bench.rows.append(row)
    plain = f"{row.plain_ms:10.1f}" if row.plain_ms is not None else " " * 10
    print(f"  {row.group:<26} {row.case:<34} {plain} {row.magic_ms:10.1f} {row.ratio or 0:7.3f}", flush=True)


def _judge(rows: list[Row], sizes: list[int]) -> list[Row]:
    """Mark each row against its target, and add the linearity rows for ``current``."""
    for row in rows:
        limit = re.search(r"<= ([\d.]+)x", row.target)
        if row.met is None and limit and row.ratio is not None:
            row.met = row.ratio <= float(limit.group(1))
    if len(sizes) >= 2 and sizes[-1] == 3 * sizes[-2]:
        for kind in ("table", "column"):
            times = {
                r.group: r.magic_ms for r in rows if r.case == "current" and r.group.startswith(f"{kind} ")
            }
            big, small = times.get(f"{kind} chain, N={sizes[-1]}"), times.get(f"{kind} chain, N={sizes[-2]}")
            if big and small:
                scale = big / small
                label = f"current, N={sizes[-1]} ÷ N={sizes[-2]}"
                rows.append(
                    Row(f"{kind} chain", label, None, big, scale, "<= 3.5", scale <= 3.5, note="linear")
                )
    return rows


def report(rows: list[Row], runs: int, quick: bool, postgres: bool, seconds: float) -> str:
    """The results as a Markdown table, with the machine and versions."""
    lines = [
        f"Medians of {runs} runs per side{' (--quick)' if quick else ''}; ratio = median of per-pair "
        f"magic/plain ratios. PostgreSQL cases: {'run' if postgres else 'skipped'}. "
        f"Whole run: {seconds:.0f} s.",
        "",
        "| group | case | plain Alembic | sakyum-magic | ratio | target | met |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for row in rows:
        plain = f"{row.plain_ms:.1f}" if row.plain_ms is not None else ""
        ratio = f"{row.ratio:.3f}" if row.ratio is not None else ""
        met = {True: "yes", False: "**no**", None: ""}[row.met]
        lines.append(
            f"| {row.group} | {row.case} | {plain} | {row.magic_ms:.1f} | {ratio} | {row.target} | {met} |"
        )
    lines += ["", "Times in ms unless the case says otherwise. Machine and versions:", ""]
    lines += [f"- {key}: {value}" for key, value in machine().items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
