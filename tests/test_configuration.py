"""Which configuration goes with a directory, and the Config built from it (pyproject, -x)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from sakyum_magic import ConfigurationError, Migrator
from sakyum_magic._core.configuration import build_config, configuration_for, named_directory, toml_supported
from tests.revisions import write
from tests.shells import alembic

needs_toml = pytest.mark.skipif(not toml_supported(), reason="[tool.alembic] needs alembic>=1.16")


def test_x_arguments_reach_get_x_argument(workdir: Path, sqlite_url: str) -> None:
    migrator = Migrator(url=sqlite_url, x_arguments=("tenant=acme", "dry=1"))
    migrator.init()
    env = migrator.directory / "env.py"
    env.write_text(
        env.read_text() + "\nwith open('x.txt', 'w') as seen:\n"
        "    seen.write(repr(sorted(context.get_x_argument(as_dictionary=True).items())))\n"
    )
    write(migrator.directory, "a1", None, "op.create_table('t', sa.Column('id', sa.Integer))")
    migrator.upgrade()
    assert (workdir / "x.txt").read_text() == "[('dry', '1'), ('tenant', 'acme')]"
    config = build_config(workdir / "alembic.ini", migrator.directory, make_url(sqlite_url), ("k=v",))
    assert config.cmd_opts is not None and config.cmd_opts.x == ["k=v"]


def test_the_ini_beside_a_directory_is_found(workdir: Path) -> None:
    alembic(workdir, "init", "elsewhere")
    assert configuration_for(Path("elsewhere")) == Path("alembic.ini")
    assert configuration_for(workdir / "elsewhere") == Path("alembic.ini")
    assert configuration_for(Path("other")) is None
    # Alembic before 1.10 writes a location relative to the working directory, later ones %(here)s/...
    assert (named_directory(workdir / "alembic.ini") or Path()).absolute() == workdir / "elsewhere"


def test_an_ini_inside_the_directory_is_found(workdir: Path) -> None:
    """Flask-Migrate's layout: migrations/alembic.ini with no script_location."""
    (workdir / "migrations").mkdir()
    (workdir / "migrations" / "alembic.ini").write_text("[alembic]\n\n[loggers]\nkeys = root\n")
    assert configuration_for(Path("migrations")) == Path("migrations/alembic.ini")


def test_a_broken_ini_is_one_error(workdir: Path) -> None:
    (workdir / "alembic.ini").write_text("[alembic\nscript_location = x\n")
    for attempt in (lambda: configuration_for(Path("x")), Migrator(directory="x").config):
        with pytest.raises(ConfigurationError, match=r"cannot read .*alembic.ini: File contains") as caught:
            attempt()
        assert "\n" not in str(caught.value)


@needs_toml
def test_pyproject_configuration_is_read_like_the_cli(workdir: Path, sqlite_url: str) -> None:
    alembic(workdir, "init", "-t", "pyproject", "migrations")
    pyproject = workdir / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "# file_template = ", 'file_template = "%%(rev)s_custom_%%(slug)s"\n# file_template = ', 1
        )
    )
    assert configuration_for(Path("migrations")) == Path("pyproject.toml")
    migrator = Migrator(url=sqlite_url, directory="migrations", ini=pyproject)
    made = migrator.revision("from the magic", rev_id="m1").revisions[0]
    alembic(workdir, "revision", "-m", "from the cli", "--rev-id", "c1")
    names = sorted(p.name for p in (workdir / "migrations" / "versions").glob("*.py"))
    assert names == ["c1_custom_from_the_cli.py", "m1_custom_from_the_magic.py"]
    assert Path(made.path).name == "m1_custom_from_the_magic.py"
