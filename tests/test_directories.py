"""Every directory kind users have, made by the real tool, driven through the core API and the magic.

The kinds (see :mod:`tests.directories`): this package's own ``init``; ``alembic init`` with the generic,
async, multidb, pyproject and pyproject_async templates; Flask-Migrate's ``flask db init``; a stock env.py
that sets its own URL; a stock env.py that opens a connection of its own from the handed connection's
engine. Each runs on SQLite; the generic and Flask-Migrate kinds also on PostgreSQL and MariaDB.

What is checked is what Alembic and the databases say, read independently: the ``alembic`` CLI's
listings, ``ScriptDirectory``, and ``MigrationContext`` on a fresh engine.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sakyum_magic import MigrationError, SakyumError
from sakyum_magic._core.compat import has_pyproject
from tests.conftest import requires_alembic_pyproject
from tests.directories import (
    ASYNC_KINDS,
    CHAIN_TABLES,
    KINDS,
    MESSAGES,
    MULTIDB_NAMES,
    Made,
    Templates,
    cli_listing,
    fingerprint,
    make,
    tables,
    versions,
    with_models,
    with_x_arguments,
)
from tests.directories import build as build_directory
from tests.shells import alembic, migrate, one_line_error

SERVER_KINDS = ("generic", "flask")
MARKS = {"postgres": pytest.mark.postgres, "mysql": pytest.mark.mysql}


PYPROJECT_KINDS = frozenset({"pyproject", "pyproject_async"})


def case(kind: str, database: str = "sqlite") -> Any:
    marks = [MARKS[database]] if database in MARKS else []
    if kind in PYPROJECT_KINDS:
        marks.append(requires_alembic_pyproject)
    return pytest.param((kind, database), id=f"{kind}-{database}", marks=marks)


SQLITE_CASES = [case(kind) for kind in KINDS]
CASES = SQLITE_CASES + [case(kind, db) for db in ("postgres", "mysql") for kind in SERVER_KINDS]
AUTOGENERATE_CASES = [case(kind, db) for db in ("sqlite", "postgres", "mysql") for kind in SERVER_KINDS]

LOG_LINE = re.compile(
    r"^(INFO|DEBUG|WARNI?N?G?|ERROR|CRITI?C?A?L?)\s+\[(alembic|flask_migrate|sqlalchemy)", re.M
)
"""A line written by the logging set-up of a stock alembic.ini (``INFO  [alembic.runtime.migration] ...``)."""


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def templates(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Templates]:
    """Each kind's pristine directory, built once; the kinds the selected tests use are built in parallel."""
    made = Templates(tmp_path_factory.mktemp("kinds"))
    wanted: list[str] = []
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        kind = params.get("case", (None,))[0]
        if kind in KINDS and kind not in wanted and not (kind in PYPROJECT_KINDS and not has_pyproject()):
            wanted.append(kind)
    made.prefetch(wanted)
    yield made
    made.close()


@pytest.fixture
def url(case: tuple[str, str], workdir: Path, request: pytest.FixtureRequest) -> str:
    """The test's database: a SQLite file in the working directory (async driver for the async
    templates), or a PostgreSQL/MariaDB database of its own."""
    kind, database = case
    if database == "sqlite":
        driver = "sqlite+aiosqlite" if kind in ASYNC_KINDS else "sqlite"
        return f"{driver}:///{workdir / 'test.db'}"
    return str(request.getfixturevalue(f"{database}_url"))


@pytest.fixture
def build(
    case: tuple[str, str], url: str, templates: Templates, workdir: Path
) -> Iterator[Callable[..., Made]]:
    """Make the case's directory in the working directory; for Flask, load the app and push its context."""
    with ExitStack() as stack:

        def build_(failing: bool = False, app_context: bool = True, **options: Any) -> Made:
            return build_directory(stack, templates, case[0], workdir, url, failing, app_context, **options)

        yield build_


@pytest.fixture
def models_module() -> Iterator[None]:
    """The env.py's models module (dirmodels) is imported afresh from this test's working directory."""
    sys.modules.pop("dirmodels", None)
    yield
    sys.modules.pop("dirmodels", None)


# -- helpers ---------------------------------------------------------------------------------


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert message and "\n" not in message, message
    return message


def database_of(made: Made, step: Any) -> str | None:
    """The database a step ran on, as a name of ``made.databases`` (None where only one is migrated)."""
    if made.kind != "multidb":
        return None
    value = getattr(step, "database", None)
    return name_of(made, value)


def name_of(made: Made, value: Any) -> str | None:
    """Which of the directory's databases a `database` value (an engine name or a masked URL) means."""
    for name, url in made.databases.items():
        masked = sa.engine.make_url(url).render_as_string(hide_password=True)
        if value in {name, url, masked}:
            return name
    return None


def steps_of(made: Made, steps: Any) -> list[tuple[str | None, str, str, str]]:
    return [(database_of(made, s), s.revision, s.message, s.direction) for s in steps]


def expected_steps(
    made: Made, revisions: list[str], direction: str
) -> list[tuple[str | None, str, str, str]]:
    """One step per revision, in order; the multidb env.py runs every revision on engine1, then engine2."""
    messages = dict(zip(made.ids, MESSAGES, strict=False))
    names: tuple[str | None, ...] = MULTIDB_NAMES if made.kind == "multidb" else (None,)
    return [(name, rev, messages[rev], direction) for name in names for rev in revisions]


def all_at(made: Made, revision: str | None) -> dict[str, tuple[str, ...]]:
    return {name: (revision,) if revision else () for name in made.databases}


def fingerprints(made: Made) -> dict[str, Any]:
    return {name: fingerprint(url) for name, url in made.databases.items()}


def bind_shell(shell: Any, made: Made) -> None:
    """Point the magic at the directory: URL and directory with %migrate config, the ini with %config."""
    migrate(shell, f"config --url {made.url} --dir {made.directory}")
    shell.run_line_magic("config", f"MigrateMagics.ini = {str(made.ini)!r}")


def shown(value: Any, captured: str = "") -> str:
    """Everything a result shows: its repr, every cell of its table, its notes and title."""
    parts = [repr(value), captured]
    table = value if hasattr(value, "to_numpy") else getattr(value, "frame", None)
    if table is not None:
        parts += [str(cell) for cell in table.to_numpy().ravel()] + [str(table.attrs)]
    parts += [str(getattr(value, name, "")) for name in ("title", "notes", "text", "tables")]
    return "\n".join(parts)


# -- listing: history, heads and current equal the CLI's --------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_history_heads_and_current_equal_the_cli(case: tuple[str, str], build: Callable[..., Made]) -> None:
    made = build()
    cli = cli_listing(made, made.ids[0])  # the CLI upgrades to the first revision, then lists
    migrator = made.migrator()

    history = migrator.history()
    assert [e.info.revision for e in history] == cli["history"] == made.ids[::-1]
    assert [e.info.message for e in history] == list(MESSAGES[::-1])
    assert [i.revision for i in migrator.heads()] == cli["heads"] == [made.ids[-1]]
    assert sorted({i.revision for i in migrator.current().revisions}) == sorted(set(cli["current"]))
    assert made.versions() == all_at(made, made.ids[0])


# -- upgrade and downgrade return their step tables -------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_upgrade_and_downgrade_return_one_step_per_revision(
    case: tuple[str, str], build: Callable[..., Made]
) -> None:
    made = build()
    migrator = made.migrator()

    up = migrator.upgrade("head")
    assert steps_of(made, up.steps) == expected_steps(made, made.ids, "up")
    assert made.versions() == all_at(made, made.ids[-1])
    assert all(tables(url) == CHAIN_TABLES for url in made.databases.values())

    down = migrator.downgrade("base")
    assert steps_of(made, down.steps) == expected_steps(made, made.ids[::-1], "down")
    assert made.versions() == all_at(made, None)
    assert all(tables(url) == set() for url in made.databases.values())


# -- plan is never a write --------------------------------------------------------------------


def check_plan(made: Made, database: str, pending: list[str]) -> None:
    """Plan ``head``: exactly the pending steps with their SQL, or a one-line refusal; nothing changes."""
    before = fingerprints(made)
    refused = None
    try:
        plan = made.migrator().plan("head")
    except SakyumError as exc:
        refused = one_line(exc)
    assert fingerprints(made) == before, "plan changed the database"
    if database == "mysql":
        assert refused is not None, "MariaDB commits DDL: plan must refuse"
        return
    if made.kind == "sakyum":
        assert refused is None, f"plan refused this package's own env.py: {refused}"
    if refused is not None:
        assert "not versioned" not in refused, refused
        return
    assert steps_of(made, plan.steps) == expected_steps(made, pending, "up")
    sql = {(database_of(made, s), s.revision): " ".join(s.sql) for s in plan.steps}
    for (_name, revision), text in sql.items():
        index = made.ids.index(revision)
        wanted = [
            r"CREATE TABLE\W+accounts",
            r"CREATE TABLE\W+orders",
            r"CREATE INDEX\W+ix_orders_account_id",
        ]
        assert re.search(wanted[index], text, re.I), (revision, text)


@pytest.mark.parametrize("case", CASES)
def test_plan_changes_nothing(case: tuple[str, str], build: Callable[..., Made]) -> None:
    made = build()
    made.upgrade_with_the_tool(made.ids[0])
    check_plan(made, case[1], made.ids[1:])
    assert made.versions() == all_at(made, made.ids[0])


@pytest.mark.parametrize("case", CASES)
def test_plan_on_an_unversioned_database_starts_from_base(
    case: tuple[str, str], build: Callable[..., Made]
) -> None:
    made = build()
    for url in made.databases.values():
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite":  # an empty database file, as sqlite3 makes one
            connection = sqlite3.connect(parsed.database or "")
            connection.execute("PRAGMA user_version = 1")
            connection.commit()
            connection.close()
    check_plan(made, case[1], made.ids)
    assert made.versions() == all_at(made, None)


# -- a failing revision is named, with what was applied before it ----------------------------


@pytest.mark.parametrize("case", CASES)
def test_a_failing_second_revision_is_named(case: tuple[str, str], build: Callable[..., Made]) -> None:
    made = build(failing=True)
    first, second = made.ids

    with pytest.raises(MigrationError) as caught:
        made.migrator().upgrade("head")

    message = one_line(caught.value)
    assert re.search(rf"\brevision {second}\b", message), message
    assert not re.search(rf"\brevision {first}\b", message), message
    result = caught.value.result
    if made.kind == "multidb":
        # The stock multidb env.py holds one transaction per database for the whole run, so what stays
        # is what the version tables say: the result must claim exactly those steps, no more.
        kept = {name: made.ids.index(revs[0]) + 1 if revs else 0 for name, revs in made.versions().items()}
        assert len(result.steps) == sum(kept.values()), (message, kept)
        return
    assert re.search(r"\b1 \w+(\(s\))? applied before", message), message
    assert [s.revision for s in result.steps] == [first]
    assert made.versions() == all_at(made, first)


# -- no Alembic log line reaches the terminal -------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_no_alembic_log_line_is_printed(
    case: tuple[str, str], build: Callable[..., Made], capfd: pytest.CaptureFixture[str]
) -> None:
    made = build(failing=True)
    migrator = made.migrator()
    capfd.readouterr()

    migrator.upgrade(made.ids[0])  # env.py runs (and calls fileConfig) at least once
    migrator.current()
    migrator.history(indicate_current=True)
    # The second revision fails: its log lines must not be printed either.
    for command in (lambda: migrator.plan("head"), lambda: migrator.upgrade("head")):
        with suppress(SakyumError):
            command()
    if case[1] == "mysql":  # DDL committed at once: the way out of the half-done revision first
        migrator.stamp(made.ids[0])
    migrator.downgrade("base")

    out, err = capfd.readouterr()
    assert not LOG_LINE.search(out + err), out + err
    assert made.versions() == all_at(made, None)


# -- autogenerate where the env.py provides the metadata --------------------------------------


@pytest.mark.parametrize("case", AUTOGENERATE_CASES)
def test_autogenerate_uses_the_env_py_metadata(
    case: tuple[str, str],
    build: Callable[..., Made],
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    models_module: None,
) -> None:
    made = build()
    if made.kind == "generic":
        with_models(made)
        monkeypatch.syspath_prepend(str(workdir))  # as in a notebook, whose kernel starts in this directory
    made.upgrade_with_the_tool("head")
    migrator = made.migrator()  # no metadata bound: env.py has its own

    result = migrator.revision("add notes", autogenerate=True)

    assert [(o.op, o.table) for o in result.operations] == [("add_table", "notes")]
    (info,) = result.revisions
    assert info.message == "add notes"
    assert Path(info.path).is_file()
    assert made.script().get_current_head() == info.revision
    assert [s.revision for s in migrator.upgrade("head").steps] == [info.revision]
    assert "notes" in tables(made.url)


# -- multidb: every database the directory names -------------------------------------------------


def left_behind(made: Made) -> None:
    """engine1 at head, engine2 restored from a copy taken at the first revision."""
    behind = Path(sa.engine.make_url(made.databases["engine2"]).database or "")
    made.upgrade_with_the_tool(made.ids[0])
    saved = behind.read_bytes()
    made.upgrade_with_the_tool("head")
    behind.write_bytes(saved)
    assert made.versions() == {"engine1": (made.ids[-1],), "engine2": (made.ids[0],)}


@pytest.mark.parametrize("case", [case("multidb")])
def test_multidb_current_names_every_database(
    case: tuple[str, str], build: Callable[..., Made], shell: Any
) -> None:
    made = build()
    left_behind(made)
    bind_shell(shell, made)

    current = migrate(shell, "current")

    assert "database" in current.columns, current
    rows = {
        (name_of(made, db), rev) for db, rev in zip(current["database"], current["revision"], strict=True)
    }
    assert rows == {("engine1", made.ids[-1]), ("engine2", made.ids[0])}


@pytest.mark.parametrize("case", [case("multidb")])
def test_multidb_upgrade_brings_the_database_left_behind(
    case: tuple[str, str], build: Callable[..., Made]
) -> None:
    made = build()
    left_behind(made)

    result = made.migrator().upgrade("head")

    assert [(database_of(made, s), s.revision) for s in result.steps] == [
        ("engine2", made.ids[1]),
        ("engine2", made.ids[2]),
    ]
    assert made.versions() == all_at(made, made.ids[-1])


# -- an env.py that migrates another database than the bound one ------------------------------


def other_database_result(made: Made, shell: Any, capfd: pytest.CaptureFixture[str]) -> str:
    """Upgrade through the core and the magic; return everything either showed."""
    result = made.migrator().upgrade("head")
    assert made.versions() == all_at(made, made.ids[-1])  # env.py really migrated the other database
    core = shown(result)
    made.migrator().downgrade("base")
    bind_shell(shell, made)
    capfd.readouterr()
    rendered = migrate(shell, "upgrade head")
    out, err = capfd.readouterr()
    magic = shown(rendered, out + err)
    assert not magic.startswith("Nothing to do"), magic
    return core + "\n" + magic


def test_env_py_migrating_another_sqlite_database_is_reported(
    templates: Templates, workdir: Path, shell: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    other = workdir / "other.db"
    made = make(
        templates, "own_url", workdir, f"sqlite:///{workdir / 'test.db'}", env_url=f"sqlite:///{other}"
    )
    text = other_database_result(made, shell, capfd)
    assert str(other) in text or "other.db" in text, text


@pytest.mark.postgres
def test_env_py_migrating_another_server_database_is_reported_masked(
    templates: Templates, workdir: Path, postgres_url: str, shell: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    password = "s3cret-Pw9"  # the local server trusts the connection; the password only has to be hidden
    other = sa.engine.make_url(postgres_url).set(password=password)
    made = make(
        templates,
        "own_url",
        workdir,
        f"sqlite:///{workdir / 'test.db'}",
        env_url=other.render_as_string(hide_password=False),
    )
    text = other_database_result(made, shell, capfd)
    assert other.database and other.database in text, text
    assert password not in text


# -- pyproject: [tool.alembic] as the CLI reads it ---------------------------------------------


def pyproject(templates: Templates, workdir: Path, *lines: str) -> Made:
    made = make(templates, "pyproject", workdir, f"sqlite:///{workdir / 'test.db'}")
    toml = workdir / "pyproject.toml"
    text = toml.read_text()
    assert text.startswith("[tool.alembic]\n")
    toml.write_text(
        text.replace("[tool.alembic]\n", "[tool.alembic]\n" + "".join(f"{x}\n" for x in lines), 1)
    )
    return made


@requires_alembic_pyproject
def test_pyproject_file_template_names_files_as_the_cli_does(templates: Templates, workdir: Path) -> None:
    made = pyproject(
        templates, workdir, 'file_template = "%%(year)d_%%(rev)s_%%(slug)s"', "truncate_slug_length = 12"
    )
    message = "Add the customer tables"
    cli = re.search(
        r"Generating (\S+\.py)", alembic(workdir, "revision", "-m", message, "--rev-id", "c1c1c1")
    )
    assert cli is not None
    cli_path = Path(cli[1])

    ours = Path(made.migrator().revision(message, rev_id="d2d2d2").revisions[0].path)

    assert cli_path.name != f"c1c1c1_{message.lower().replace(' ', '_')}.py"  # the template is in effect
    assert ours.name == cli_path.name.replace("c1c1c1", "d2d2d2")
    assert ours.parent.resolve() == cli_path.parent.resolve()


@requires_alembic_pyproject
def test_pyproject_version_locations_as_the_cli_reads_them(templates: Templates, workdir: Path) -> None:
    made = pyproject(
        templates, workdir, 'version_locations = ["%(here)s/mig/versions", "%(here)s/more_versions"]'
    )
    (workdir / "more_versions").mkdir()
    alembic(workdir, "revision", "-m", "kept elsewhere", "--version-path", str(workdir / "more_versions"))
    cli = re.findall(r"-> (\w+)", alembic(workdir, "history"))
    migrator = made.migrator()

    assert [e.info.revision for e in migrator.history()] == cli
    assert len(cli) == 4
    assert [s.revision for s in migrator.upgrade("head").steps] == cli[::-1]


@requires_alembic_pyproject
def test_pyproject_post_write_hooks_run(templates: Templates, workdir: Path) -> None:
    hook = workdir / "hook.py"
    hook.write_text(
        "import sys\nwith open(sys.argv[1], 'a') as f:\n    f.write('# checked by the hook\\n')\n"
    )
    made = pyproject(templates, workdir)
    with (workdir / "pyproject.toml").open("a") as toml:
        toml.write(
            "\n[[tool.alembic.post_write_hooks]]\n"
            'name = "mark"\ntype = "exec"\n'
            f"executable = {json.dumps(sys.executable)}\n"
            f"options = {json.dumps(f'{hook} REVISION_SCRIPT_FILENAME')}\n"
        )

    written = made.migrator().revision("hooked").revisions[0].path

    assert Path(written).read_text().endswith("# checked by the hook\n")


# -- -x reaches env.py and the revisions --------------------------------------------------------


def test_x_arguments_reach_env_py_and_revisions(templates: Templates, workdir: Path, shell: Any) -> None:
    url = f"sqlite:///{workdir / 'test.db'}"
    made = make(templates, "generic", workdir, url)
    with_x_arguments(made)
    migrator = made.migrator()
    migrator.x_arguments = ("version_table=custom_version", "owner=alice")

    result = migrator.upgrade("head")

    assert [s.revision for s in result.steps] == made.ids
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        assert "alembic_version" not in sa.inspect(connection).get_table_names()
        assert connection.execute(sa.text("SELECT version_num FROM custom_version")).scalars().all() == [
            made.ids[-1]
        ]
        assert connection.execute(sa.text("SELECT name FROM accounts")).scalars().all() == ["alice"]
    engine.dispose()

    bind_shell(shell, made)
    migrate(shell, "downgrade base -x version_table=custom_version")
    migrate(shell, "upgrade head -x version_table=custom_version -x owner=bob")
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT name FROM accounts")).scalars().all() == ["bob"]
    engine.dispose()


FLASK_ERROR = re.compile(r"Working outside of application context|app\.app_context\(\)")
"""Flask's own error (its first line, or the last line of its message, which says what to do)."""


# -- Flask-Migrate without an app context ----------------------------------------------------------


@pytest.mark.parametrize("case", [case("flask")])
def test_flask_env_py_without_an_app_context_is_one_line(
    case: tuple[str, str], build: Callable[..., Made], workdir: Path, shell: Any
) -> None:
    made = build(app_context=False)
    database = workdir / "test.db"
    versions_dir = workdir / "migrations" / "versions"
    files = sorted(versions_dir.glob("*.py"))
    migrator = made.migrator()

    for command, expected in (
        (lambda: migrator.upgrade("head"), FLASK_ERROR),
        (lambda: migrator.plan("head"), re.compile("no database file")),  # a dry run creates none
        (lambda: migrator.revision("more", autogenerate=True), FLASK_ERROR),
    ):
        with pytest.raises(SakyumError) as caught:
            command()
        assert expected.search(one_line(caught.value)), caught.value
        if expected is FLASK_ERROR:  # the way out, and nothing else
            assert "run app.app_context().push() first" in one_line(caught.value)
        assert not database.exists(), "a failed command left a database file"
        assert sorted(versions_dir.glob("*.py")) == files

    bind_shell(shell, made)
    assert FLASK_ERROR.search(one_line_error(shell, "upgrade head"))
    assert not database.exists()


# -- the magic, in a real IPython shell, on each kind ----------------------------------------------


@pytest.mark.parametrize("case", SQLITE_CASES)
def test_magic_upgrade_current_downgrade_on_each_kind(
    case: tuple[str, str], build: Callable[..., Made], shell: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    made = build()
    bind_shell(shell, made)
    capfd.readouterr()

    up = migrate(shell, "upgrade head")
    current = migrate(shell, "current")
    down = migrate(shell, "downgrade base")

    out, err = capfd.readouterr()
    assert not LOG_LINE.search(out + err), out + err
    expected_up = expected_steps(made, made.ids, "up")
    assert list(up["revision"]) == [rev for _name, rev, _m, _d in expected_up]
    assert set(current["revision"]) == {made.ids[-1]}
    assert list(down["revision"]) == [rev for _n, rev, _m, _d in expected_steps(made, made.ids[::-1], "down")]
    if made.kind == "multidb":
        assert [name_of(made, db) for db in up["database"]] == [name for name, *_ in expected_up]
        assert len(current) == len(MULTIDB_NAMES)
    assert made.versions() == all_at(made, None)
    assert versions(made.url) == ()
