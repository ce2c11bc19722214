"""Running Alembic commands: building the Config, recording steps, translating errors.

Everything env.py needs travels through ``Config.attributes``: ``connection`` (Alembic's documented
recipe key), ``target_metadata``, ``sakyum_url`` for offline SQL, and ``sakyum_options``, extra
keyword arguments for ``context.configure`` (hooks such as ``on_version_apply``).
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .binding import scrub
from .errors import (
    ConfigurationError,
    MigrationError,
    MultipleHeadsError,
    NotInitializedError,
    RevisionError,
)
from .records import MigrationResult, Step

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import URL

REVISION_HINT = "see %migrate history for the revision ids"


def build_config(ini: Path, directory: Path, url: URL, **buffers: Any) -> Config:
    """An Alembic Config for ``directory``; alembic.ini is read if present, never written."""
    from alembic.config import Config

    quiet = argparse.Namespace(quiet=True)  # no "Generating ... done" lines: results are returned
    config = Config(str(ini) if ini.is_file() else None, cmd_opts=quiet, **buffers)
    config.set_main_option("script_location", _escape(str(directory)))
    # Kept in memory only, so an env.py written by `alembic init` (which reads sqlalchemy.url)
    # also works; escaping % here is what lets passwords with % or @ survive configparser.
    config.set_main_option("sqlalchemy.url", _escape(url.render_as_string(hide_password=False)))
    return config


def _escape(value: str) -> str:
    return value.replace("%", "%%")


def require_initialized(directory: Path) -> None:
    """Raise NotInitializedError unless ``directory`` holds an env.py."""
    if not (directory / "env.py").is_file():
        raise NotInitializedError(
            f"{directory} is not an Alembic directory yet: run %migrate init "
            "(or %migrate config --dir DIR to point at an existing one)"
        )


@dataclass
class StepRecorder:
    """Receives Alembic's ``on_version_apply`` calls and times each step; drives the progress bar."""

    direction: str
    total: int | None = None
    progress: bool = False
    steps: list[Step] = field(default_factory=list)
    _last: float = field(default_factory=time.perf_counter)
    _bar: Any = None

    def __enter__(self) -> StepRecorder:
        if self.progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=self.direction, unit="rev", leave=False)
        self._last = time.perf_counter()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def __call__(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        now = time.perf_counter()
        direction = self.direction if self.direction == "stamp" else ("up" if step.is_upgrade else "down")
        revision = getattr(step, "up_revision_id", None) or step.up_revision_ids
        script = getattr(step, "up_revision", None)
        message = script.doc if script is not None else ""
        self.steps.append(Step(_one(revision), message or "", direction, round(now - self._last, 4)))
        self._last = now
        if self._bar is not None:
            self._bar.update(1)


def _one(revision: Any) -> str:
    if isinstance(revision, tuple | list):
        return ", ".join(revision) if revision else "base"
    return str(revision)


@contextmanager
def alembic_errors(url: URL | None) -> Iterator[None]:
    """Turn Alembic's command and revision errors into the core's one-line errors."""
    from alembic.script.revision import MultipleHeads, ResolutionError
    from alembic.script.revision import RevisionError as AlembicRevisionError
    from alembic.util import CommandError

    try:
        yield
    except MultipleHeads as exc:
        raise multiple_heads(tuple(exc.heads), exc.argument or "head") from exc
    except (ResolutionError, AlembicRevisionError) as exc:
        raise RevisionError(f"{scrub(_plain(exc), url)}; {REVISION_HINT}") from exc
    except CommandError as exc:
        raise _command_error(scrub(_plain(exc), url)) from exc


def _plain(exc: BaseException) -> str:
    return " ".join(str(exc).split()).rstrip(".")


def _command_error(message: str) -> ConfigurationError | RevisionError:
    heads = re.search(r"Multiple head revisions are present", message)
    if heads:
        return RevisionError(
            "several heads exist: name one (see %migrate heads), use 'heads' for all of them, "
            "or join them with %migrate merge heads -m MESSAGE"
        )
    if re.search(r"revision|Revision|head|ancestor|branch", message):
        return RevisionError(f"{message}; {REVISION_HINT}")
    return ConfigurationError(message)


def multiple_heads(heads: tuple[str, ...], argument: str = "head") -> MultipleHeadsError:
    """The error for 'head' asked of a graph with several heads, naming the ways out."""
    listed = ", ".join(heads)
    return MultipleHeadsError(
        f"{argument!r} is ambiguous: there are {len(heads)} heads ({listed}); "
        "run %migrate upgrade heads to apply them all, or %migrate merge heads -m MESSAGE to join them",
        heads,
    )


def failed_step(exc: BaseException, result: MigrationResult, pending: list[str], url: URL) -> MigrationError:
    """A MigrationError naming the revision that failed and the statement it was running."""
    done = {step.revision for step in result.steps}
    failing = next((rev for rev in pending if rev not in done), None)
    statement = getattr(exc, "statement", None)
    reason = scrub(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0], url)
    where = f"revision {failing}" if failing else "the migration"
    applied = f"{len(result.steps)} step(s) applied before it" if result.steps else "nothing applied"
    sql = f" while running {_short(statement)!r}" if statement else ""
    return MigrationError(
        f"{result.command} failed in {where}{sql}: {reason}; {applied}, database now at "
        f"{', '.join(result.after) or 'base'}. Fix the revision file and run it again",
        result,
    )


def _short(statement: str, limit: int = 160) -> str:
    text = " ".join(str(statement).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
