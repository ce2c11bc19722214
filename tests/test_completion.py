"""Tab completion of %migrate lines through IPython's own completer, on a real InteractiveShell."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest
from IPython.core.completer import provisionalcompleter

from sakyum_magic._commands.table import COMMANDS, OPTIONS
from tests.conftest import POSTGRES_DRIVER
from tests.revisions import write
from tests.shells import migrate

ORIGIN = "sakyum_magic.migrate"


def offered(shell: Any, text: str) -> list[str]:
    """What IPython offers with the cursor at the end of ``text``, in its order."""
    with provisionalcompleter():
        return [c.text for c in shell.Completer.completions(text, len(text))]


def ours(shell: Any, text: str) -> list[str]:
    """What the %migrate matcher itself offers (IPython records which matcher a completion came from)."""
    with provisionalcompleter():
        found = list(shell.Completer.completions(text, len(text)))
    return [c.text for c in found if getattr(c, "_origin", ORIGIN) == ORIGIN]


@pytest.fixture
def chain(shell: Any) -> list[str]:
    """A directory made by %migrate init with three revisions written by %migrate revision; the
    second starts a branch labelled ``feature``."""
    migrate(shell, "init")
    migrate(shell, "revision -m one --rev-id a1b2c3")
    migrate(shell, "revision -m two --rev-id a1ff00 --branch-label feature")
    migrate(shell, "revision -m three --rev-id 7e57ab")
    return ["7e57ab", "a1ff00", "a1b2c3"]


def test_subcommands_come_from_the_command_table(shell: Any) -> None:
    assert offered(shell, "%migrate ") == list(COMMANDS)
    assert offered(shell, "%migrate up") == ["upgrade"]
    assert offered(shell, "%migrate h") == ["history", "heads"]
    assert offered(shell, "result = %migrate cur") == ["current"]


def test_options_come_from_the_table_and_nothing_else(shell: Any) -> None:
    expected = [
        flag
        for name in COMMANDS["upgrade"].option_names()
        for flag in OPTIONS[name].flags
        if flag.startswith("--")
    ]
    assert offered(shell, "%migrate upgrade --") == [*expected, "--help"]
    assert "--autogenerate" in offered(shell, "%migrate revision --a")
    # An option already given is not offered again; a repeatable one is.
    assert "--autogenerate" not in offered(shell, "%migrate revision --autogenerate --")
    assert "--rename" in offered(shell, "%migrate revision --rename t.a:b --")
    assert set(offered(shell, "%migrate history -")) == {
        *("-r", "--rev-range", "-i", "--indicate-current", "-v", "--verbose", "-x", "-h", "--help")
    }


def test_revision_arguments(shell: Any, chain: list[str]) -> None:
    upgrade = offered(shell, "%migrate upgrade ")
    for word in ["head", "heads", "base", "+1", "feature@head", *chain]:
        assert word in upgrade
    assert upgrade[-3:] == chain  # ids newest first, after the keywords
    assert offered(shell, "%migrate upgrade 7") == ["7e57ab"]  # a unique prefix completes to its id
    assert offered(shell, "%migrate upgrade a1") == ["a1ff00", "a1b2c3"]
    assert offered(shell, "%migrate upgrade a1b2c3") == ["a1b2c3", "a1b2c3+1"]
    assert offered(shell, "%migrate upgrade feature@") == ["feature@head", "feature@+1"]
    downgrade = offered(shell, "%migrate downgrade -")
    assert downgrade[:2] == ["-1", "-2"] and "--sql" in downgrade
    assert offered(shell, "%migrate downgrade feature@") == ["feature@base", "feature@-1"]
    assert offered(shell, "%migrate show cur") == ["current"]
    assert offered(shell, "%migrate merge a1b2c3 a1f") == ["a1ff00"]  # every word of a "revisions+"
    assert offered(shell, "%migrate revision -m x --head 7") == ["7e57ab"]
    assert offered(shell, "%migrate history -r a1b2c3:7") == ["a1b2c3:7e57ab"]


def test_option_values_and_inline_values(shell: Any, chain: list[str]) -> None:
    assert offered(shell, "%migrate config --dir=al") == ["--dir=alembic/"]
    assert ours(shell, "%migrate upgrade --tag ") == []  # free text: nothing to offer
    assert ours(shell, "%migrate revision -m 'a message with -") == []  # inside quotes


def test_check_names(shell: Any) -> None:
    from sakyum_magic._features.checks import CHECKS

    assert offered(shell, "%migrate test ") == list(CHECKS)
    assert offered(shell, "%migrate test upgrade up") == ["upgrade", "up_down_consistency"]


def test_paths(shell: Any, workdir: Path) -> None:
    (workdir / "migrations" / "versions").mkdir(parents=True)
    (workdir / "my models").mkdir()
    (workdir / "alembic.ini").write_text("[alembic]\n")
    (workdir / ".hidden").mkdir()
    assert offered(shell, "%migrate config --dir ") == ["migrations/", "'my models'/"]
    assert offered(shell, "%migrate config --dir mi") == ["migrations/"]
    assert offered(shell, "%migrate config --dir migrations/v") == ["migrations/versions/"]
    assert offered(shell, "%migrate config --dir .h") == [".hidden/"]
    assert offered(shell, "%migrate config --ini al") == ["alembic.ini"]
    assert offered(shell, "%migrate init mig") == ["migrations/"]


def test_metadata_candidates_from_the_namespace(shell: Any) -> None:
    shell.run_cell("import sqlalchemy as sa\nmeta = sa.MetaData()\nother_meta = sa.MetaData()")
    assert offered(shell, "%migrate config --metadata ") == ["meta", "other_meta"]
    assert offered(shell, "%migrate config --metadata meta o") == ["other_meta"]


def test_completion_never_touches_the_database(shell: Any, chain: list[str], workdir: Path) -> None:
    migrate(shell, f"config --url {POSTGRES_DRIVER}://someone:secret@127.0.0.1:1/nowhere")
    assert offered(shell, "%migrate upgrade 7") == ["7e57ab"]
    migrate(shell, f"config --url sqlite:///{workdir / 'never.db'}")
    assert offered(shell, "%migrate downgrade a1b") == ["a1b2c3"]
    assert not (workdir / "never.db").exists()


def test_a_new_revision_is_offered_at_once(shell: Any, chain: list[str]) -> None:
    assert ours(shell, "%migrate upgrade 0") == []
    migrate(shell, "revision -m four --rev-id 0ddba11")
    assert offered(shell, "%migrate upgrade 0") == ["0ddba11"]


@pytest.mark.parametrize(
    "broken",
    [
        None,  # no migration directory yet
        "def upgrade(:\n",  # a syntax error
        # fails when imported (its header is not literal, so it is imported: see test_revindex.py)
        "revision = 'b' + 'ad'\ndown_revision = None\n1 / 0\n",
        "revision = 'orphan'\ndown_revision = 'missing'\n",  # names a revision no file defines
    ],
    ids=["no directory", "syntax error", "fails on import", "unknown down_revision"],
)
def test_errors_give_no_completions_and_no_traceback(
    shell: Any, workdir: Path, capsys: pytest.CaptureFixture[str], broken: str | None
) -> None:
    if broken is not None:
        migrate(shell, "init")
        migrate(shell, "revision -m one --rev-id a1b2c3")
        (workdir / "alembic" / "versions" / "broken.py").write_text(broken)
    capsys.readouterr()
    assert ours(shell, "%migrate upgrade ") == []
    assert ours(shell, "%migrate upgrade --sq") == ["--sql"]  # needs no revision map
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_other_lines_are_left_to_ipython(shell: Any) -> None:
    shell.run_cell("migrate_me = 1")
    assert "migrate_me" in offered(shell, "migrate_m")
    assert ours(shell, "%%migrate ") == []
    assert ours(shell, "print('%migrate ')") == []


def test_unload_removes_the_matcher(shell: Any) -> None:
    assert offered(shell, "%migrate up") == ["upgrade"]
    shell.run_line_magic("unload_ext", "sakyum_magic")
    assert "upgrade" not in offered(shell, "%migrate up")
    shell.run_line_magic("load_ext", "sakyum_magic")
    assert offered(shell, "%migrate up") == ["upgrade"]
    matchers = [m for m in shell.Completer.custom_matchers if getattr(m, "matcher_identifier", "") == ORIGIN]
    assert len(matchers) == 1


@pytest.mark.slow
def test_a_thousand_revisions(shell: Any, workdir: Path) -> None:
    migrate(shell, "init")
    ids = [hashlib.sha1(str(k).encode()).hexdigest()[:12] for k in range(1000)]
    for k, revision in enumerate(ids):
        write(workdir / "alembic", revision, ids[k - 1] if k else None, "pass")
    unique = next(rev[:4] for rev in ids if sum(other.startswith(rev[:4]) for other in ids) == 1)
    offered(shell, "%migrate upgrade ")  # the map is read on a worker thread, offered once ready
    magics_of(shell).completion_names.settle()
    assert offered(shell, f"%migrate upgrade {unique}") == [next(r for r in ids if r.startswith(unique))]
    everything = ours(shell, "%migrate downgrade ")
    assert everything[:4] == ["base", "head", "-1", "-2"] and everything[4] == ids[-1]


def magics_of(shell: Any) -> Any:
    return shell.magics_manager.registry["MigrateMagics"]


def test_the_first_tab_answers_while_the_revisions_are_still_read(shell: Any, workdir: Path) -> None:
    """A revision file that takes long to import (a stand-in for 10,000 of them) does not hold the
    completion up: the keywords come at once, the ids once the files are read."""
    migrate(shell, "init")
    gate = workdir / "gate"
    slow = (
        "def _wait():\n    import pathlib, time\n"
        f"    while not pathlib.Path({str(gate)!r}).exists():\n        time.sleep(0.01)\n\n\n"
    )
    path = write(workdir / "alembic", "5107e5", None, "pass")
    # In the header itself, so even a reader of literal headers must import the file.
    path.write_text(slow + path.read_text().replace("down_revision = None", "down_revision = _wait()"))
    assert ours(shell, "%migrate upgrade ") == ["head", "heads", "base", "+1", "+2"]
    assert ours(shell, "%migrate upgrade 51") == []  # still reading: nothing to offer yet, no wait
    gate.touch()
    magics_of(shell).completion_names.settle(timeout=30)
    assert ours(shell, "%migrate upgrade 51") == ["5107e5"]


@pytest.mark.parametrize("raised", ["SystemExit(3)", "KeyboardInterrupt()", "RuntimeError('at import')"])
def test_a_revision_file_that_raises_at_import_means_no_ids_and_no_traceback(
    shell: Any,
    workdir: Path,
    raised: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    migrate(shell, "init")
    path = write(workdir / "alembic", "b0b0b0", None, "pass")
    # Raised by the header itself, so even a reader of literal headers must import the file.
    boom = f"def _boom():\n    raise {raised}\n\n\n"
    path.write_text(boom + path.read_text().replace("down_revision = None", "down_revision = _boom()"))
    shown: list[Any] = []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: shown.append(exc))  # how IPython reports it
    keywords = ["head", "heads", "base", "+1", "+2"]
    assert ours(shell, "%migrate upgrade ") in (keywords, [])  # [] once the file is known to fail
    magics_of(shell).completion_names.settle(timeout=30)
    assert ours(shell, "%migrate upgrade ") == []
    assert ours(shell, "%migrate downgrade b0") == []
    assert ours(shell, "%migrate upgrade --sq") == ["--sql"]
    assert not shown and "Traceback" not in capsys.readouterr().err


def test_a_namespace_object_that_raises_gives_no_candidates_and_no_traceback(
    shell: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    shell.run_cell("import sqlalchemy as sa\nmeta = sa.MetaData()")
    assert ours(shell, "%migrate config --metadata ") == ["meta"]
    shell.run_cell(
        "class Odd:\n    @property\n    def Model(self):\n        raise SystemExit('no')\nodd = Odd()"
    )
    shown: list[Any] = []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: shown.append(exc))  # how IPython reports it
    assert ours(shell, "%migrate config --metadata ") == []
    assert not shown
