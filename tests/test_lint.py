"""``lint``: each rule found with its lock and the live table's rows, per revision, on real servers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sakyum_magic import ConfigurationError, LintError, Migrator
from sakyum_magic._display.lint import LINT_COLUMNS
from tests.shells import migrate, one_line_error

pytest.importorskip("sqlglot", reason="lint's checkers need the migrate-lint extra (sqlglot, squawk-cli)")

BIG, SMALL = 2_000, 5  # rows; --large 1000 makes BIG an error and SMALL a note

PG_BASE = """
def upgrade():
    op.execute("CREATE FUNCTION pick() RETURNS integer LANGUAGE sql VOLATILE AS 'SELECT 1'")
    op.execute("CREATE FUNCTION steady() RETURNS integer LANGUAGE sql STABLE AS 'SELECT 1'")
    op.execute("CREATE TYPE mood AS ENUM ('sad', 'ok')")
    op.create_table('big', sa.Column('id', sa.Integer, primary_key=True), sa.Column('a', sa.Integer),
                    sa.Column('v', sa.String(20)), sa.Column('old', sa.Integer))
    op.create_table('small', sa.Column('id', sa.Integer, primary_key=True), sa.Column('a', sa.Integer))
    op.create_table('gone', sa.Column('id', sa.Integer, primary_key=True))
"""

# One revision per risky change: (revision body, the rule, the table, its lock).
PG_CASES = [
    ("op.create_index('ix_big_a', 'big', ['a'])", "require-concurrent-index-creation", "big", "SHARE"),
    ("op.alter_column('big', 'a', nullable=False)", "adding-not-nullable-field", "big", "ACCESS EXCLUSIVE"),
    ("op.alter_column('big', 'a', type_=sa.Text)", "changing-column-type", "big", "ACCESS EXCLUSIVE"),
    (
        "op.create_foreign_key('fk_big_small', 'big', 'small', ['a'], ['id'])",
        "adding-foreign-key-constraint",
        "big",
        "SHARE ROW EXCLUSIVE",
    ),
    (
        "op.create_check_constraint('ck_a', 'big', 'a > 0')",
        "constraint-missing-not-valid",
        "big",
        "ACCESS EXCLUSIVE",
    ),
    (
        "op.create_unique_constraint('uq_big_a', 'big', ['a'])",
        "disallowed-unique-constraint",
        "big",
        "ACCESS EXCLUSIVE",
    ),
    (
        "op.add_column('big', sa.Column('r', sa.Float, server_default=sa.text('random()')))",
        "adding-field-with-default",
        "big",
        "ACCESS EXCLUSIVE",
    ),
    (
        "op.alter_column('big', 'v', type_=sa.String(10), existing_type=sa.String(20))",
        "prefer-text-field",
        "big",
        "ACCESS EXCLUSIVE",
    ),
    ("op.alter_column('big', 'old', new_column_name='older')", "renaming-column", "big", "ACCESS EXCLUSIVE"),
    ("op.rename_table('small', 'little')", "renaming-table", "small", "ACCESS EXCLUSIVE"),
    ("op.drop_column('big', 'v')", "ban-drop-column", "big", "ACCESS EXCLUSIVE"),
    ("op.drop_table('gone')", "ban-drop-table", "gone", "ACCESS EXCLUSIVE"),
    ("op.execute(\"ALTER TYPE mood ADD VALUE 'happy'\")", "require-enum-value-ordering", None, ""),
    (
        "op.add_column('big', sa.Column('req', sa.Integer, nullable=False))",
        "adding-required-field",
        "big",
        "ACCESS EXCLUSIVE",
    ),
]


def body(line: str) -> str:
    return f"def upgrade():\n    {line}\n"


def fill(url: str, counts: dict[str, int], analyze: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        for table, count in counts.items():
            for start in range(0, count, 1000):
                values = [{"id": n + 1, "a": n + 1} for n in range(start, min(count, start + 1000))]
                connection.execute(sa.text(f"INSERT INTO {table} (id, a) VALUES (:id, :a)"), values)
        for table in counts:
            connection.exec_driver_sql(analyze.format(table))
    engine.dispose()


def at_base(url: str, base: str) -> Migrator:
    migrator = Migrator(url=url)
    migrator.init()
    migrator.revision("base", body=base)
    migrator.upgrade()
    return migrator


def revisions(migrator: Migrator, bodies: list[str]) -> list[str]:
    return [migrator.revision(f"change {n}", body=b).revisions[0].revision for n, b in enumerate(bodies)]


@pytest.mark.postgres
def test_postgres_rules_with_lock_and_rows(postgres_url: str) -> None:
    migrator = at_base(postgres_url, PG_BASE)
    fill(postgres_url, {"big": BIG, "small": SMALL}, "ANALYZE {}")
    made = revisions(migrator, [body(case[0]) for case in PG_CASES])
    result = migrator.lint(large=1000)
    assert result.revisions == tuple(made)  # each pending revision, none applied
    by_revision = {
        f.revision: [x for x in result.findings if x.revision == f.revision] for f in result.findings
    }
    for revision, (_code, rule, table, lock) in zip(made, PG_CASES, strict=True):
        found = [f for f in by_revision.get(revision, []) if f.rule == rule]
        assert found, f"{rule} not found in {by_revision.get(revision)}"
        assert (found[0].table, found[0].lock) == (table, lock)
        rows = {"big": BIG, "small": SMALL, "gone": 0}.get(table or "")
        assert found[0].rows == rows
        assert found[0].link.endswith(rule) or found[0].source == "sakyum"
    sizes = {f.rule: f.severity for f in result.findings}
    assert sizes["require-concurrent-index-creation"] == "error"  # 2 000 rows >= --large 1000
    assert len({f.rule for f in result.findings}) >= 14


@pytest.mark.postgres
def test_the_server_says_which_defaults_rewrite(postgres_url: str) -> None:
    """squawk cannot know pick() and steady(); pg_proc.provolatile says pick() rewrites, steady() not."""
    migrator = at_base(postgres_url, PG_BASE)
    fill(postgres_url, {"big": BIG}, "ANALYZE {}")
    volatile, stable = revisions(
        migrator,
        [
            body("op.add_column('big', sa.Column('p', sa.Integer, server_default=sa.text('pick()')))"),
            body("op.add_column('big', sa.Column('q', sa.Integer, server_default=sa.text('steady()')))"),
        ],
    )
    findings = migrator.lint(large=1000).findings
    (rewrite,) = [f for f in findings if f.revision == volatile]
    assert (rewrite.rule, rewrite.effect, rewrite.severity) == (
        "adding-field-with-default",
        "rewrite",
        "error",
    )
    assert "pick() is volatile" in rewrite.message
    assert [f for f in findings if f.revision == stable] == []


@pytest.mark.postgres
def test_severity_follows_the_rows(postgres_url: str) -> None:
    migrator = at_base(postgres_url, PG_BASE)
    fill(postgres_url, {"big": BIG, "small": SMALL}, "ANALYZE {}")
    revisions(
        migrator,
        [body("op.create_index('ix_big_a', 'big', ['a'])\n    op.create_index('ix_s', 'small', ['a'])")],
    )
    found = {f.table: f for f in migrator.lint(large=1000).findings}
    assert (found["big"].severity, found["small"].severity) == ("error", "note")
    assert (found["big"].rows, found["small"].rows) == (BIG, SMALL)
    assert {f.severity for f in migrator.lint().findings} == {"note"}  # default: 1 000 000


@pytest.mark.postgres
def test_new_table_in_the_same_revision_is_exempt_and_allowed_is_shown(postgres_url: str) -> None:
    migrator = at_base(postgres_url, PG_BASE)
    fill(postgres_url, {"big": BIG}, "ANALYZE {}")
    fresh = (
        "op.create_table('fresh', sa.Column('id', sa.Integer, primary_key=True), sa.Column('a', sa.Integer))"
    )
    exempt, allowed = revisions(
        migrator,
        [
            body(
                f"{fresh}\n    op.create_index('ix_fresh', 'fresh', ['a'])\n    op.add_column('fresh', "
                "sa.Column('b', sa.Integer, nullable=False))"
            ),
            "# lint: allow require-concurrent-index-creation\n"
            + body("op.create_index('ix_big_a', 'big', ['a'])"),
        ],
    )
    result = migrator.lint(large=1000)
    assert [f for f in result.findings if f.revision == exempt] == []
    (shown,) = [f for f in result.findings if f.revision == allowed]
    assert (shown.rule, shown.severity, shown.allowed) == ("require-concurrent-index-creation", "error", True)
    assert result.errors == ()


@pytest.mark.postgres
def test_lint_range_options_and_table(postgres_url: str, shell: object) -> None:
    migrator = at_base(postgres_url, PG_BASE)
    first, second = revisions(migrator, [body("op.drop_column('big', 'v')"), body("op.drop_table('gone')")])
    migrator.upgrade(first)
    assert migrator.lint().revisions == (second,)
    assert migrator.lint(since=first).revisions == (second,)
    assert len(migrator.lint(show_all=True).revisions) == 3
    with pytest.raises(ConfigurationError, match="one of --all"):
        migrator.lint(show_all=True, since=first)
    migrate(shell, f"config --url {postgres_url}")
    table = migrate(shell, "lint --all --large 1000")
    assert list(table.columns) == LINT_COLUMNS
    assert set(table["rule"]) >= {"ban-drop-column", "ban-drop-table"}
    assert str(table["rows"].dtype) == "Int64"


MY_BASE = """
def upgrade():
    op.create_table('big', sa.Column('id', sa.Integer, primary_key=True), sa.Column('a', sa.Integer),
                    sa.Column('s', sa.Enum('x', 'y', name='s')), sa.Column('v', sa.String(20)))
    op.create_table('small', sa.Column('id', sa.Integer, primary_key=True), sa.Column('a', sa.Integer))
    op.create_table('nokey', sa.Column('id', sa.Integer, nullable=False), sa.Column('a', sa.Integer))
"""

MY_CASES = [
    ("op.alter_column('big', 'a', type_=sa.BigInteger)", "mysql-copy-column-type", "big"),
    (
        "op.alter_column('big', 'v', existing_type=sa.String(20), nullable=False)",
        "mysql-not-null-existing",
        "big",
    ),
    ("op.alter_column('big', 's', type_=sa.Enum('w', 'x', 'y', name='s'))", "mysql-enum-not-append", "big"),
    ("op.create_foreign_key('fk_big_small', 'big', 'small', ['a'], ['id'])", "mysql-foreign-key-copy", "big"),
    ("op.create_primary_key('pk_nokey', 'nokey', ['id'])", "mysql-add-primary-key", "nokey"),
]


@pytest.mark.mysql
def test_mysql_copy_and_rebuild(mysql_url: str) -> None:
    migrator = at_base(mysql_url, MY_BASE)
    fill(mysql_url, {"big": BIG, "small": SMALL, "nokey": SMALL}, "ANALYZE TABLE {}")
    appended = "op.alter_column('big', 's', type_=sa.Enum('w', 'x', 'y', 'z', name='s'))"  # after w, x, y
    made = revisions(migrator, [body(case[0]) for case in MY_CASES] + [body(appended)])
    result = migrator.lint(large=1000)
    for revision, (_code, rule, table) in zip(made, MY_CASES, strict=False):
        found = [f for f in result.findings if f.revision == revision and f.rule == rule]
        assert found, f"{rule} not in {[f for f in result.findings if f.revision == revision]}"
        assert found[0].table == table and found[0].rows is not None
    assert [f for f in result.findings if f.revision == made[-1]] == []  # an ENUM value appended: in place
    big = [f for f in result.findings if f.table == "big"]
    assert all(f.severity == "error" and f.blocks for f in big if f.effect == "table copy")


def test_sqlite_batch_rebuild_named_with_rows(sqlite_url: str) -> None:
    migrator = at_base(
        sqlite_url,
        "def upgrade():\n    op.create_table('t', sa.Column('id', sa.Integer, "
        "primary_key=True), sa.Column('a', sa.Integer))\n",
    )
    fill(sqlite_url, {"t": 25}, "ANALYZE {}")
    revisions(
        migrator, [body("with op.batch_alter_table('t') as b:\n        b.alter_column('a', type_=sa.Text)")]
    )
    (finding,) = migrator.lint().findings
    assert (finding.rule, finding.table, finding.rows, finding.severity) == (
        "sqlite-batch-rebuild",
        "t",
        25,
        "note",
    )
    with pytest.raises(ConfigurationError, match="leave out --all"):
        migrator.lint(show_all=True)


@pytest.mark.postgres
def test_check_lint_fails_on_errors_for_ci(postgres_url: str, shell: object) -> None:
    migrator = at_base(postgres_url, PG_BASE)
    fill(postgres_url, {"big": BIG}, "ANALYZE {}")
    (risky,) = revisions(migrator, [body("op.create_index('ix_big_a', 'big', ['a'])")])
    assert migrator.check(lint=True) == []  # 2 000 rows: a note under the default size
    with pytest.raises(LintError) as caught:
        migrator.check(lint=True, large=1000)
    assert [f.rule for f in caught.value.result.errors] == ["require-concurrent-index-creation"]
    migrate(shell, f"config --url {postgres_url}")
    shown = one_line_error(shell, "check --lint --large 1000")
    assert risky in shown and "require-concurrent-index-creation on big, 2,000 rows" in shown
    assert "CONCURRENTLY" in shown and "# lint: allow require-concurrent-index-creation" in shown
