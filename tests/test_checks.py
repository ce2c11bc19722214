"""%migrate test: pytest-alembic's checks on scratch databases, through the core and a real shell."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import Migrator
from sakyum_magic._features.checks import CHECKS, CheckResult
from sakyum_magic._features.scratch import SCRATCH_PREFIX
from tests.directories import fingerprint
from tests.revisions import chain, sync_url, table_with_rows, version, write
from tests.shells import alembic, migrate, one_line_error

# Each upgrade records the database it ran on, so a test can see where the checks ran.
SEEN = "seen.txt"
RECORD = f"open({SEEN!r}, 'a').write(op.get_bind().engine.url.render_as_string(False) + '\\n')"


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest) -> str:
    """SQLite and PostgreSQL, each a database of the test's own."""
    return str(request.getfixturevalue(f"{request.param}_url"))


def models(count: int) -> sa.MetaData:
    """The models the chain of ``count`` revisions builds (tests.revisions.chain)."""
    metadata = sa.MetaData()
    for k in range(1, count + 1):
        sa.Table(
            f"t{k}", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("note", sa.String(20))
        )
    return metadata


def migrator(url: str, metadata: Any = None) -> Migrator:
    made = Migrator(url=url, metadata=metadata, directory="mig", progress=False)
    made.init()
    return made


def by_check(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.check: result for result in results}


def test_a_correct_chain_passes_and_the_bound_database_is_untouched(url: str, workdir: Path) -> None:
    core = migrator(url, models(4))
    chain(workdir / "mig", 4)
    core.upgrade("r2")
    before = fingerprint(url)
    results = core.test()
    assert [r.check for r in results] == list(CHECKS)
    assert all(r.ok is True for r in results), results
    assert by_check(results)["upgrade"].detail == "base → r4: 4 revision(s) applied"
    assert all(r.seconds >= 0 for r in results)
    assert fingerprint(url) == before and version(url) == ("r2",)


def test_a_downgrade_that_drops_the_wrong_table_is_found(url: str, workdir: Path) -> None:
    core = migrator(url, models(4))
    chain(workdir / "mig", 4)
    write(workdir / "mig", "r3", "r2", table_with_rows(3), 'op.drop_table("t2")')  # should drop t3
    results = by_check(core.test())
    assert results["upgrade"].ok and results["model_definitions_match_ddl"].ok
    failed = results["up_down_consistency"]
    assert failed.ok is False
    # The revision whose downgrade is wrong, and the statement that showed it.
    assert failed.detail.startswith("revision r3, upgrade after its downgrade: ")
    assert "CREATE TABLE t3" in failed.detail
    assert version(url) == ()


def test_a_downgrade_that_misses_a_table_is_found(url: str, workdir: Path) -> None:
    core = migrator(url)
    write(workdir / "mig", "r1", None, _creates(1), 'op.drop_table("t1")')
    write(workdir / "mig", "r2", "r1", body_two_tables(), 'op.drop_table("t2")')  # forgets t2b
    write(workdir / "mig", "r3", "r2", _creates(3), 'op.drop_table("t3")')
    failed = by_check(core.test(["up_down_consistency"]))["up_down_consistency"]
    assert failed.ok is False
    assert failed.detail.startswith("revision r2, upgrade after its downgrade: ")
    assert "CREATE TABLE t2b" in failed.detail


def test_a_downgrade_that_fails_names_its_revision_and_statement(url: str, workdir: Path) -> None:
    core = migrator(url)
    write(workdir / "mig", "r1", None, _creates(1), 'op.drop_table("t1")')
    write(workdir / "mig", "r2", "r1", _creates(2), 'op.drop_table("no_such_table")')
    failed = by_check(core.test(["up_down_consistency"]))["up_down_consistency"]
    assert failed.ok is False
    assert failed.detail.startswith("revision r2, downgrade: ")
    assert "no_such_table" in failed.detail


def test_the_scratch_databases_are_gone_afterwards(url: str, workdir: Path) -> None:
    core = migrator(url)
    write(workdir / "mig", "r1", None, f"{RECORD}\n{_creates(1)}", 'op.drop_table("t1")')
    core.test()
    seen = set((workdir / SEEN).read_text().split())
    assert len(seen) == 2  # one scratch database for upgrade, one for up/down consistency
    assert sync_url(url) not in {sync_url(s) for s in seen}
    for scratch in seen:
        assert not _exists(scratch), scratch


def _exists(url: str) -> bool:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return Path(parsed.database or "").exists() or Path(parsed.database or "").parent.exists()
    assert (parsed.database or "").startswith(SCRATCH_PREFIX)
    engine = sa.create_engine(sync_url(url).replace(f"/{parsed.database}", "/postgres"))
    try:
        with engine.connect() as connection:
            found = connection.execute(
                sa.text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            )
            return bool(found.scalar_one())
    finally:
        engine.dispose()


def test_models_that_differ_from_the_revisions_fail(sqlite_url: str, workdir: Path) -> None:
    metadata = models(2)
    sa.Table("notes", metadata, sa.Column("id", sa.Integer, primary_key=True))
    core = migrator(sqlite_url, metadata)
    chain(workdir / "mig", 2)
    failed = by_check(core.test(["model_definitions_match_ddl"]))["model_definitions_match_ddl"]
    assert failed.ok is False
    assert failed.detail.startswith("1 difference(s) no revision covers: add_table notes")


def test_models_are_skipped_when_none_are_bound(sqlite_url: str, workdir: Path) -> None:
    core = migrator(sqlite_url)
    chain(workdir / "mig", 1)
    skipped = by_check(core.test())["model_definitions_match_ddl"]
    assert skipped.ok is None and skipped.detail.startswith("not run: no models are bound")


def test_several_heads_and_a_failing_upgrade(sqlite_url: str, workdir: Path) -> None:
    core = migrator(sqlite_url, models(1))
    write(workdir / "mig", "r1", None, _creates(1), 'op.drop_table("t1")')
    write(workdir / "mig", "b1", "r1", 'op.execute("SELECT * FROM no_such_table")')
    write(workdir / "mig", "b2", "r1", "pass")
    results = by_check(core.test())
    assert results["single_head_revision"].ok is False
    assert results["single_head_revision"].detail.startswith("2 heads (b1, b2)")
    assert results["upgrade"].ok is False
    assert "revision b1 while running 'SELECT * FROM no_such_table'" in results["upgrade"].detail
    assert results["model_definitions_match_ddl"].ok is None


def test_branches_and_merges_go_up_and_down(sqlite_url: str, workdir: Path) -> None:
    core = migrator(sqlite_url)
    write(workdir / "mig", "a", None, _creates(1), 'op.drop_table("t1")')
    write(workdir / "mig", "b", "a", _creates(2), 'op.drop_table("t2")')
    write(workdir / "mig", "c", "a", _creates(3), 'op.drop_table("t3")')
    (workdir / "mig" / "versions" / "m.py").write_text(
        "revision = 'm'\ndown_revision = ('b', 'c')\nbranch_labels = None\ndepends_on = None\n\n"
        "def upgrade():\n    pass\n\ndef downgrade():\n    pass\n"
    )
    write(workdir / "mig", "d", "m", _creates(4), 'op.drop_table("t4")')
    result = by_check(core.test(["up_down_consistency"]))["up_down_consistency"]
    assert result.ok is True, result.detail


def test_a_downgrade_that_is_not_implemented_is_noted(sqlite_url: str, workdir: Path) -> None:
    core = migrator(sqlite_url)
    write(workdir / "mig", "r1", None, _creates(1), 'op.drop_table("t1")')
    write(workdir / "mig", "r2", "r1", _creates(2), "raise NotImplementedError()")
    write(workdir / "mig", "r3", "r2", _creates(3), 'op.drop_table("t3")')
    result = by_check(core.test(["up_down_consistency"]))["up_down_consistency"]
    assert result.ok is True
    assert result.detail.endswith("downgrade not implemented (NotImplementedError): r2")


def test_an_error_in_revision_code_names_the_revision(sqlite_url: str, workdir: Path) -> None:
    core = migrator(sqlite_url)
    write(workdir / "mig", "r1", None, _creates(1), 'op.drop_table("t1")')
    write(workdir / "mig", "r2", "r1", "undefined_helper()")
    results = by_check(core.test(["upgrade", "up_down_consistency"]))
    assert results["upgrade"].detail.startswith("upgrade failed in revision r2 (line ")
    assert "NameError" in results["upgrade"].detail
    # The same report as the command's own, after the revision and direction the walk was at.
    assert results["up_down_consistency"].detail.startswith(
        "revision r2, upgrade: upgrade failed in revision r2 (line 16 of r2.py): NameError: "
    )


def test_an_interrupt_ends_the_checks_and_removes_the_scratch_database(
    sqlite_url: str, workdir: Path
) -> None:
    from sakyum_magic import MigrationError

    core = migrator(sqlite_url)
    write(workdir / "mig", "r1", None, f"{RECORD}\n{_creates(1)}", 'op.drop_table("t1")')
    write(workdir / "mig", "r2", "r1", "raise KeyboardInterrupt")  # as Ctrl-C would, mid-run
    with pytest.raises(MigrationError, match="upgrade interrupted"):
        core.test()
    (seen,) = set((workdir / SEEN).read_text().split())
    assert not _exists(seen)


def test_no_revisions_yet(sqlite_url: str) -> None:
    results = migrator(sqlite_url).test()
    assert [(r.ok, r.detail) for r in results] == [(None, "no revisions yet: nothing to check")] * 4


def test_an_env_py_with_a_database_of_its_own_is_refused(sqlite_url: str, workdir: Path) -> None:
    """A stock env.py that sets its own URL would migrate that database, not the scratch one."""
    alembic(workdir, "init", "mig")
    own = workdir / "own.db"
    env = workdir / "mig" / "env.py"
    env.write_text(
        env.read_text().replace(
            "config = context.config\n",
            f"config = context.config\nconfig.set_main_option('sqlalchemy.url', 'sqlite:///{own}')\n",
        )
    )
    write(workdir / "mig", "r1", None, _creates(1), 'op.drop_table("t1")')
    core = Migrator(url=sqlite_url, directory="mig", progress=False)
    from sakyum_magic import ConfigurationError

    with pytest.raises(
        ConfigurationError, match=r"migrates sqlite:///.*own\.db, not only the database it is given"
    ):
        core.test()
    assert version(f"sqlite:///{own}") == ()  # only read, never migrated


def test_a_stock_env_py_with_its_own_models(
    sqlite_url: str, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alembic init's env.py, given target_metadata: its models are compared through env.py."""
    alembic(workdir, "init", "mig")
    (workdir / "envmodels.py").write_text(
        "import sqlalchemy as sa\nmetadata = sa.MetaData()\n"
        "sa.Table('t1', metadata, sa.Column('id', sa.Integer, primary_key=True),"
        " sa.Column('note', sa.String(20)))\n"
        "sa.Table('extra', metadata, sa.Column('id', sa.Integer, primary_key=True))\n"
    )
    env = workdir / "mig" / "env.py"
    env.write_text(
        env.read_text().replace(
            "target_metadata = None\n", "import envmodels\ntarget_metadata = envmodels.metadata\n"
        )
    )
    chain(workdir / "mig", 1)
    monkeypatch.delitem(sys.modules, "envmodels", raising=False)  # imported by env.py: forgotten after
    # prepend_sys_path = . is found through a finder made for "." in the working directory of the
    # first test that imported through it: this test's directory needs its own.
    monkeypatch.delitem(sys.path_importer_cache, ".", raising=False)
    core = Migrator(url=sqlite_url, directory="mig", progress=False)
    results = by_check(core.test())
    assert results["upgrade"].ok and results["up_down_consistency"].ok
    models_check = results["model_definitions_match_ddl"]
    assert models_check.ok is False and "add_table extra" in models_check.detail
    assert not list((workdir / "mig" / "versions").glob("*extra*"))
    assert sorted(p.name for p in (workdir / "mig" / "versions").glob("*.py")) == ["r1.py"]
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()


def test_unknown_check_name(sqlite_url: str) -> None:
    from sakyum_magic import ConfigurationError

    with pytest.raises(ConfigurationError, match="no check named 'single_head': choose from"):
        migrator(sqlite_url).test(["single_head"])


# -- through the shell -------------------------------------------------------------------------


def test_the_magic_returns_one_row_per_check(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    chain(workdir / "alembic", 3)
    migrate(shell, "upgrade r1")
    before = fingerprint("sqlite:///default.db")
    table = migrate(shell, "test")
    assert list(table.columns) == ["check", "ok", "detail", "seconds"]
    assert str(table["ok"].dtype) == "boolean" and str(table["seconds"].dtype) == "float64"
    assert list(table["check"]) == list(CHECKS)
    assert list(table["ok"].fillna(False)) == [True, True, False, True]  # no models: NA
    assert table.title == "3 of 4 checks passed (1 not run)"
    assert table.command == "%migrate test" and table.alembic == ""
    assert "3 of 4 checks passed" in table.to_text() and "up_down_consistency" in table._repr_html_()
    assert fingerprint("sqlite:///default.db") == before
    only = migrate(shell, "test up_down_consistency")
    assert (
        list(only["check"]) == ["up_down_consistency"] and only.command == "%migrate test up_down_consistency"
    )
    assert "no check named 'nope'" in one_line_error(shell, "test nope")
    assert "pytest-alembic" in str(migrate(shell, "test -h"))


def test_the_magic_names_a_broken_downgrade(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    chain(workdir / "alembic", 3)
    write(workdir / "alembic", "r2", "r1", _creates(2), "pass")
    table = migrate(shell, "test")
    assert table.title == "1 of 4 checks failed: up_down_consistency (1 not run)"
    failed = table[table["check"] == "up_down_consistency"].iloc[0]
    assert not failed["ok"] and "revision r2" in failed["detail"] and "CREATE TABLE t2" in failed["detail"]


def test_the_magic_on_a_revision_file_that_does_not_load(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    chain(workdir / "alembic", 1)
    (workdir / "alembic" / "versions" / "broken.py").write_text("def upgrade(:\n")
    assert "cannot load broken.py" in one_line_error(shell, "test")


def test_the_magic_on_a_database_without_scratch_databases(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    chain(workdir / "alembic", 1)
    migrate(shell, "config --url mssql+pymssql://sa:secret@127.0.0.1:1/db")
    message = one_line_error(shell, "test")
    assert "makes on SQLite, PostgreSQL and MySQL/MariaDB only, not mssql" in message
    assert "secret" not in message


# -- revision bodies -------------------------------------------------------------------------------


def _creates(n: int) -> str:
    return f'op.create_table("t{n}", sa.Column("id", sa.Integer, primary_key=True))'


def body_two_tables() -> str:
    return (
        'op.create_table("t2", sa.Column("id", sa.Integer, primary_key=True))\n'
        'op.create_table("t2b", sa.Column("id", sa.Integer, primary_key=True))'
    )
