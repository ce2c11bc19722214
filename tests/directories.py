"""Alembic directories made by the real tools, as users have them, copied into a test's working directory.

Each kind starts as the tool writes it: ``alembic init -t TEMPLATE`` (generic, async, multidb, pyproject,
pyproject_async), Flask-Migrate's ``flask --app appmodule db init``, this package's own ``init``, and two
edits of a stock generic env.py that applications make (one sets its own URL with
``config.set_main_option``, one opens a new connection from ``config.attributes["connection"].engine``).
Then it is edited the way a user edits it: URLs in alembic.ini (or in the Flask app), a revision chain
written with ``alembic revision -m`` / ``flask db revision -m`` whose upgrade and downgrade bodies are
filled in.

The tools run in processes of their own, through their command-line entry points. That costs a second
or more per process on a busy machine, so each kind is made once per session (a template, in one process,
the kinds in parallel) and copied into each test's working directory, where only the URLs are set.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sakyum_magic._core.compat import has_pyproject
from sakyum_magic._run.database import OWN_TABLES
from tests.revisions import sync_url

TEMPLATES = ("generic", "async", "multidb", "pyproject", "pyproject_async")
KINDS = ("sakyum", *TEMPLATES, "flask", "own_url", "engine")
"""Every directory kind: this package's init, the five alembic templates, Flask-Migrate, two edited env.py."""

ASYNC_KINDS = frozenset({"async", "pyproject_async"})
MULTIDB_NAMES = ("engine1", "engine2")
SCRIPT_DIR = {"flask": "migrations"}
"""Where each kind's script directory is, relative to the working directory (``mig`` unless listed)."""

MESSAGES = ("create accounts", "create orders", "index orders")
UPGRADES = (
    """
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50)),
    )
    """,
    """
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer),
    )
    """,
    'op.create_index("ix_orders_account_id", "orders", ["account_id"])',
)
DOWNGRADES = (
    'op.drop_table("accounts")',
    'op.drop_table("orders")',
    'op.drop_index("ix_orders_account_id", table_name="orders")',
)
FAILING_UPGRADE = """
op.create_table("orders", sa.Column("id", sa.Integer, primary_key=True))
op.execute("SELECT * FROM no_such_table")
"""
"""The second revision of the failing chains: it creates a table, then a statement fails."""

CHAIN_TABLES = frozenset({"accounts", "orders"})

MODELS = '''\
"""The models an env.py imports for autogenerate: the chain's tables plus one new table, notes."""
import sqlalchemy as sa

metadata = sa.MetaData()
sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50)),
)
sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("account_id", sa.Integer, index=True),
)
sa.Table("notes", metadata, sa.Column("id", sa.Integer, primary_key=True), sa.Column("body", sa.String(200)))
'''

FLASK_APP = '''\
"""A Flask application with Flask-SQLAlchemy and Flask-Migrate, as the Flask-Migrate docs start one."""
import os

from flask import Flask
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

app = Flask(__name__, root_path=os.path.dirname(os.path.abspath(__file__)))
app.config["SQLALCHEMY_DATABASE_URI"] = {url!r}
db = SQLAlchemy(app)
migrate = Migrate(app, db)


class Account(db.Model):
    __tablename__ = "accounts"
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(50))


class Order(db.Model):
    __tablename__ = "orders"
    id = db.Column(db.Integer, primary_key=True)
    account_id = db.Column(db.Integer, index=True)


class Note(db.Model):
    __tablename__ = "notes"
    id = db.Column(db.Integer, primary_key=True)
    body = db.Column(db.String(200))
'''

STOCK_ENGINE = """\
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
"""
HANDED_ENGINE = """\
    handed = config.attributes.get("connection")
    if handed is not None:
        # Run from a tool that hands over a connection: use its engine, on a connection of our own.
        connectable = handed.engine
    else:
        connectable = engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
"""
STOCK_CONFIG_LINE = "config = context.config\n"
STOCK_METADATA_LINE = "target_metadata = None\n"
STOCK_CONFIGURE = """\
        context.configure(
            connection=connection, target_metadata=target_metadata
        )
"""


@dataclass(frozen=True)
class Revision:
    revision: str
    message: str


@dataclass
class Made:
    """A directory of one kind in the test's working directory, with its databases."""

    kind: str
    root: Path
    url: str
    """The URL to bind (the app's for Flask, engine1's for multidb)."""
    databases: dict[str, str]
    """Every database this directory's env.py migrates: name (engine name, or "main") -> sync URL."""
    chain: list[Revision]

    @property
    def directory(self) -> Path:
        """The script directory, relative to the working directory (as a user would name it)."""
        return Path(SCRIPT_DIR.get(self.kind, "mig"))

    @property
    def ini(self) -> Path:
        """What to pass as ``ini``: alembic.ini, pyproject.toml, or Flask-Migrate's migrations/alembic.ini."""
        if self.kind in {"pyproject", "pyproject_async"}:
            return Path("pyproject.toml")
        if self.kind == "flask":
            return Path("migrations/alembic.ini")
        return Path("alembic.ini")

    @property
    def ids(self) -> list[str]:
        return [r.revision for r in self.chain]

    def migrator(self, **options: Any) -> Any:
        from sakyum_magic import Migrator

        return Migrator(url=self.url, directory=self.directory, ini=self.ini, progress=False, **options)

    # -- read independently of the package under test ---------------------------------------

    def cli_config(self) -> Any:
        """The alembic Config the CLI (or Flask-Migrate) builds for this directory."""
        from alembic.config import Config

        if self.kind == "flask":
            config = Config(str(self.root / "migrations" / "alembic.ini"))
            config.set_main_option("script_location", str(self.root / "migrations"))
            return config
        if not has_pyproject():  # Alembic before 1.16 reads alembic.ini only
            return Config(str(self.root / "alembic.ini"))
        return Config(str(self.root / "alembic.ini"), toml_file=str(self.root / "pyproject.toml"))

    def script(self) -> Any:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self.cli_config())

    def versions(self) -> dict[str, tuple[str, ...]]:
        """Each database's revisions, read with a fresh engine and Alembic's MigrationContext."""
        return {name: versions(url) for name, url in self.databases.items()}

    def upgrade_with_the_tool(self, revision: str) -> None:
        """Upgrade with plain Alembic (or Flask-Migrate, in the pushed app context), in this process."""
        if self.kind == "flask":
            import flask_migrate

            flask_migrate.upgrade(directory=str(self.root / "migrations"), revision=revision)
            return
        from alembic import command

        command.upgrade(self.cli_config(), revision)


def versions(url: str) -> tuple[str, ...]:
    """The revisions in a database's version table, through Alembic's own MigrationContext."""
    from alembic.runtime.migration import MigrationContext

    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))
    finally:
        engine.dispose()


def tables(url: str, every: bool = False) -> set[str]:
    """The tables in a database, the version table and the package's own tables left out (``every``:
    all of them)."""
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            found = set(sa.inspect(connection).get_table_names())
    finally:
        engine.dispose()
    return found if every else found - {"alembic_version", *OWN_TABLES}


def fingerprint(url: str) -> Any:
    """What must not change: a SQLite file byte for byte; on a server, the schema and the version rows."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
    engine = sa.create_engine(sync_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            inspector = sa.inspect(connection)
            schema = {
                name: (
                    [c["name"] for c in inspector.get_columns(name)],
                    sorted(str(i["name"]) for i in inspector.get_indexes(name)),
                )
                for name in sorted(inspector.get_table_names())
            }
            rows: list[Any] = []
            if "alembic_version" in schema:
                rows = list(connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
            return schema, sorted(rows)
    finally:
        engine.dispose()


# -- the tools ------------------------------------------------------------------------------


_TOOLS = """
import json
import sys

for tool, args in json.loads(sys.argv[1]):
    if tool == "alembic":
        from alembic.config import main

        main(argv=args, prog="alembic")
    elif tool == "flask":
        from flask.cli import cli

        cli.main(args=["--app", "appmodule", *args], prog_name="flask", standalone_mode=False)
    else:
        from sakyum_magic import Migrator

        Migrator(url="sqlite:///placeholder.db").init(*args)
"""


def run_tools(workdir: Path, *commands: tuple[str, list[str]]) -> str:
    """Run command lines of the real tools in ``workdir``, one after the other in one process.

    Each command goes through the tool's own command-line entry point (``alembic``'s ``main``, the
    ``flask`` click group with ``--app appmodule``, or this package's ``init``), as the console scripts
    run it; only the interpreter's start-up (a second on a busy machine) is paid once, not per command.
    """
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "FLASK_APP", "ALEMBIC_CONFIG"}}
    done = subprocess.run(
        [sys.executable, "-c", _TOOLS, json.dumps(commands)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


_GENERATED = re.compile(r"Generating (\S+/versions/\S+\.py) \.\.\.")


def fill(path: Path, function: str, body: str) -> None:
    """Replace the ``pass`` of ``def function()`` in a generated revision file with ``body``."""
    text = path.read_text()
    pattern = re.compile(rf'(def {function}\(\)[^\n]*:\n(?:    """[^\n]*"""\n)?)    pass\n')
    indented = "".join(f"    {line}\n" if line.strip() else "\n" for line in _dedent(body).splitlines())
    new, count = pattern.subn(lambda m: m[1] + indented, text)
    assert count == 1, f"no `def {function}(): pass` in {path.name}"
    path.write_text(new)


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).strip()


def set_option(path: Path, section: str, key: str, value: str) -> None:
    """Set ``key = value`` in ``[section]`` of an ini file, as a user edits it (the line is replaced)."""
    lines, current, done = path.read_text().splitlines(keepends=True), None, False
    for index, line in enumerate(lines):
        header = re.match(r"\[(.+)\]\s*$", line)
        if header:
            current = header[1]
        elif current == section and re.match(rf"{re.escape(key)}\s*=", line) and not done:
            lines[index] = f"{key} = {value}\n"
            done = True
    assert done, f"no {key} in [{section}] of {path}"
    path.write_text("".join(lines))


def ini_value(url: str) -> str:
    """A URL as alembic.ini needs it (configparser interpolates %)."""
    return url.replace("%", "%%")


# -- templates: each kind made once per session ----------------------------------------------

COPIES_GENERIC_CHAIN = frozenset({"sakyum", "async", "pyproject", "pyproject_async"})
"""Kinds whose script.py.mako is the generic one: the revision files the CLI writes are the same."""


def base_kind(kind: str) -> str:
    """The template a kind is copied from (the two edited env.py kinds start from generic)."""
    return "generic" if kind in {"own_url", "engine"} else kind


class Templates:
    """Pristine directories, one per kind, built under ``root`` on first use.

    The tools take about a second a call, so the kinds a test session needs are built in parallel
    (``prefetch``), a kind that copies the generic chain waiting for it.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pool = ThreadPoolExecutor(max_workers=3)
        self._lock = threading.Lock()
        self._futures: dict[str, Future[tuple[Path, list[Revision]]]] = {}
        self._failing: dict[str, tuple[Path, list[Revision]]] = {}

    def prefetch(self, kinds: Iterable[str]) -> None:
        for kind in kinds:
            self._future(base_kind(kind))

    def get(self, kind: str, failing: bool = False) -> tuple[Path, list[Revision]]:
        base = base_kind(kind)
        good = self._future(base).result()
        if not failing:
            return good
        with self._lock:
            if base not in self._failing:
                self._failing[base] = _failing_copy(self.root, base, *good)
            return self._failing[base]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _future(self, base: str) -> Future[tuple[Path, list[Revision]]]:
        if base in COPIES_GENERIC_CHAIN:
            self._future("generic")  # queued first, so that a worker waiting for it never blocks it
        with self._lock:
            if base not in self._futures:
                self._futures[base] = self._pool.submit(self._build, base)
            return self._futures[base]

    def _build(self, kind: str) -> tuple[Path, list[Revision]]:
        target = self.root / kind
        target.mkdir(parents=True)
        tool = "alembic"
        if kind == "flask":
            tool, init = "flask", ["db", "init"]
            (target / "appmodule.py").write_text(
                FLASK_APP.format(url=f"sqlite:///{target / 'placeholder.db'}")
            )
        elif kind == "sakyum":
            tool, init = "sakyum", ["mig"]
        else:
            init = ["init", "-t", kind, "mig"]
        if kind in COPIES_GENERIC_CHAIN:
            run_tools(target, (tool, init))
            return target, self._copy_generic_chain(target)
        revisions = [(tool, [*(["db"] if tool == "flask" else []), "revision", "-m", m]) for m in MESSAGES]
        out = run_tools(target, (tool, init), *revisions)
        return target, _fill_chain(out, MULTIDB_NAMES if kind == "multidb" else ("",))

    def _copy_generic_chain(self, target: Path) -> list[Revision]:
        """The generic chain's files: the same script.py.mako writes the same revision files."""
        generic, chain = self._future("generic").result()
        mako = (target / "mig" / "script.py.mako").read_text()
        assert mako == (generic / "mig" / "script.py.mako").read_text(), f"{target} writes other files"
        for source in (generic / "mig" / "versions").glob("*.py"):
            shutil.copy2(source, target / "mig" / "versions" / source.name)
        return chain


def _failing_copy(root: Path, kind: str, good: Path, chain: list[Revision]) -> tuple[Path, list[Revision]]:
    """The kind's chain cut to two revisions, the second failing after it created a table."""
    target = root / f"{kind}-failing"
    shutil.copytree(good, target, ignore=shutil.ignore_patterns("__pycache__"))
    versions_dir = target / SCRIPT_DIR.get(kind, "mig") / "versions"
    (third,) = versions_dir.glob(f"{chain[2].revision}_*.py")
    third.unlink()
    (second,) = versions_dir.glob(f"{chain[1].revision}_*.py")
    text = second.read_text()
    failing = "".join(f"    {line}\n" for line in _dedent(FAILING_UPGRADE).splitlines())
    for name in MULTIDB_NAMES if kind == "multidb" else ("",):
        suffix = f"_{name}" if name else ""
        text, count = re.subn(
            rf'(def upgrade{suffix}\(\)[^\n]*:\n(?:    """[^\n]*"""\n)?)(.*?)(?=\n\ndef )',
            lambda m: m[1] + failing,
            text,
            count=1,
            flags=re.S,
        )
        assert count == 1, second
    second.write_text(text)
    return target, chain[:2]


def _fill_chain(out: str, engines: tuple[str, ...]) -> list[Revision]:
    """Fill in the bodies of the revision files the tool reported writing (in ``out``), in order."""
    paths = [Path(found) for found in _GENERATED.findall(out)]
    assert len(paths) == len(MESSAGES), out
    chain = []
    for path, message, upgrade, downgrade in zip(paths, MESSAGES, UPGRADES, DOWNGRADES, strict=True):
        for name in engines:
            suffix = f"_{name}" if name else ""
            fill(path, f"upgrade{suffix}", upgrade)
            fill(path, f"downgrade{suffix}", downgrade)
        chain.append(Revision(path.name.split("_", 1)[0], message))
    return chain


# -- a kind in the test's working directory ----------------------------------------------------


def make(
    templates: Templates,
    kind: str,
    workdir: Path,
    url: str,
    *,
    failing: bool = False,
    env_url: str | None = None,
) -> Made:
    """Copy the kind's template into ``workdir`` and point it at ``url``.

    ``env_url`` (own_url only) is the URL env.py sets for itself, when it is not the bound one.
    """
    template, chain = templates.get(kind, failing)
    shutil.copytree(template, workdir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    databases = {"main": url}
    if kind == "flask":
        (workdir / "appmodule.py").write_text(FLASK_APP.format(url=url))
    elif kind == "multidb":
        databases = {name: _sibling(url, name) for name in MULTIDB_NAMES}
        ini = workdir / "alembic.ini"
        set_option(ini, "alembic", "databases", ", ".join(MULTIDB_NAMES))
        for name, database in databases.items():
            set_option(ini, name, "sqlalchemy.url", ini_value(database))
        url = databases[MULTIDB_NAMES[0]]
    else:
        set_option(workdir / "alembic.ini", "alembic", "sqlalchemy.url", ini_value(url))
    if kind == "own_url":
        target = env_url or url
        own = f'config.set_main_option("sqlalchemy.url", {ini_value(target)!r})\n'
        edit_env(workdir, STOCK_CONFIG_LINE, STOCK_CONFIG_LINE + own)
        databases = {"main": target}
    if kind == "engine":
        edit_env(workdir, STOCK_ENGINE, HANDED_ENGINE)
    return Made(kind, workdir, url, databases, chain)


def build(
    stack: ExitStack, templates: Templates, kind: str, workdir: Path, url: str,
    failing: bool = False, app_context: bool = True, **options: Any,
) -> Made:  # fmt: skip
    """``make`` the directory; for Flask, load the app (and push its context) until ``stack`` closes."""
    made = make(templates, kind, workdir, url, failing=failing, **options)
    if made.kind == "flask":
        app, unload = load_flask_app(workdir)
        stack.callback(unload)
        if app_context:
            context = app.app_context()
            context.push()
            stack.callback(context.pop)
    return made


def _sibling(url: str, name: str) -> str:
    """Another SQLite file beside the one of ``url``, named ``name``.db."""
    parsed = sa.engine.make_url(url)
    path = Path(parsed.database or "").with_name(f"{name}.db")
    return parsed.set(database=str(path)).render_as_string(hide_password=False)


def edit_env(workdir: Path, old: str, new: str, directory: str = "mig") -> None:
    """Replace text in env.py, as a user edits it; the text must be there exactly once."""
    path = workdir / directory / "env.py"
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    path.write_text(text.replace(old, new))


def with_models(made: Made) -> None:
    """Give a generic env.py the models (a module beside it) for autogenerate, as its comments say."""
    (made.root / "dirmodels.py").write_text(MODELS)
    edit_env(made.root, STOCK_METADATA_LINE, "import dirmodels\n\ntarget_metadata = dirmodels.metadata\n")


def with_x_arguments(made: Made) -> None:
    """An env.py that reads ``-x`` (the version table's name) and a first revision that reads it too."""
    edit_env(
        made.root,
        STOCK_CONFIG_LINE,
        f"{STOCK_CONFIG_LINE}x_arguments = context.get_x_argument(as_dictionary=True)\n",
    )
    edit_env(
        made.root,
        STOCK_CONFIGURE,
        STOCK_CONFIGURE.replace(
            "target_metadata=target_metadata",
            'target_metadata=target_metadata,\n            version_table=x_arguments.get("version_table", '
            '"alembic_version")',
        ),
    )
    (first,) = (made.root / "mig" / "versions").glob(f"{made.chain[0].revision}_*.py")
    text = first.read_text().replace(
        'op.create_table(\n        "accounts",',
        'owner = context.get_x_argument(as_dictionary=True).get("owner", "nobody")\n'
        '    op.create_table(\n        "accounts",',
    )
    text = text.replace("from alembic import op\n", "from alembic import context, op\n")
    insert = 'sa.text("INSERT INTO accounts (id, name) VALUES (1, :owner)").bindparams(owner=owner)'
    created = '        sa.Column("name", sa.String(50)),\n    )\n'
    text = text.replace(created, f"{created}    op.execute({insert})\n")
    assert text.count("get_x_argument") == 1 and text.count("INSERT INTO accounts") == 1, text
    first.write_text(text)


# -- the Flask application, loaded in this process ---------------------------------------------


def load_flask_app(workdir: Path) -> tuple[Any, Callable[[], None]]:
    """Import the working directory's appmodule.py under a name of its own; returns (app, unload)."""
    name = f"appmodule_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, workdir / "appmodule.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    app = module.app

    def unload() -> None:
        with app.app_context():
            module.db.engine.dispose()
        sys.modules.pop(name, None)

    return app, unload


# -- the CLI's own answers ---------------------------------------------------------------------

_CLI_LISTING = """
import sys
from alembic.config import main

main(argv=["upgrade", sys.argv[1]])
print("@@history", flush=True)
main(argv=["history"])
print("@@heads", flush=True)
main(argv=["heads"])
print("@@current", flush=True)
main(argv=["current"])
"""

_FLASK_LISTING = """
import sys
import flask_migrate
from appmodule import app

with app.app_context():
    flask_migrate.upgrade(revision=sys.argv[1])
    print("@@history", flush=True)
    flask_migrate.history()
    print("@@heads", flush=True)
    flask_migrate.heads()
    print("@@current", flush=True)
    flask_migrate.current()
"""


def cli_listing(made: Made, upgrade_to: str) -> dict[str, list[str]]:
    """``upgrade REV``, then ``history``, ``heads`` and ``current`` as the CLI prints them (one process)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "FLASK_APP", "ALEMBIC_CONFIG"}}
    script = _FLASK_LISTING if made.kind == "flask" else _CLI_LISTING
    done = subprocess.run(
        [sys.executable, "-c", script, upgrade_to],
        cwd=made.root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    parts = dict(re.findall(r"@@(\w+)\n(.*?)(?=@@|\Z)", done.stdout, re.S))
    known = set(made.ids)
    return {
        # history lines read "<down> -> <rev> (head), message": the revision is the one after the arrow.
        "history": re.findall(r"-> (\w+)", parts["history"]),
        "heads": [w for w in re.findall(r"\b(\w+) \(head\)", parts["heads"]) if w in known],
        "current": [w for w in re.findall(r"^(\w+)\b", parts["current"], re.M) if w in known],
    }
