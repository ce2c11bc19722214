"""Running env.py once, whatever it is: the one place ``script.run_env()`` is called.

env.py runs inside :func:`~sakyum_magic._run.environment.run_environment`, with its stderr captured into
the run's log; an env.py that starts its own event loop (Alembic's async templates call
``asyncio.run()``) gets a thread where none runs; an error env.py raises before it configures
Alembic (a missing Flask app context, a missing logging section) is one line, as it is not a
revision's own code. :class:`Target` is what a run needs from the session's binding.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from .._core import translation
from .._core.errors import ConfigurationError
from .._core.settings import LOCK_TIMEOUT
from .._guards import locking
from .aio import run_without_loop
from .database import connect
from .environment import RunControl, captured_alembic_log, captured_stderr, kept_logging, run_environment
from .steps import Steps

if TYPE_CHECKING:
    from collections.abc import Callable

    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy.engine import URL, Engine

OWN_ENV_MARK = "written by sakyum-magic"

# What env.py may raise before it configures Alembic (a missing Flask app context, a missing
# logging section, an import): reported in one line, since it is not a revision's own code.
ENV_ERRORS = (RuntimeError, ImportError, AttributeError, LookupError, TypeError, ValueError, OSError)


@dataclass(frozen=True)
class Target:
    """What a run needs from the session's binding (built by the Migrator, read here)."""

    engine: Engine
    url: URL
    config: Callable[..., Config]
    directory: Path
    progress: bool = False
    metadata: Any = None
    audit: bool = True
    own_tables: bool = True
    """Whether the package may keep its tables here (the log, notes of unfinished revisions): where
    ``%migrate init`` wrote the directory, or where the log was turned on."""
    lock_timeout: float = LOCK_TIMEOUT
    on_wait: Callable[[str], None] | None = None
    private: bool = False
    """A database no other process knows of (a scratch one): its runs take no migration lock."""
    fence: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None
    """A scratch run's check of each ``configure()`` call's options (see :mod:`sakyum_magic.fence`)."""


def own_env(directory: Path) -> bool:
    """Whether env.py is the one ``%migrate init`` writes (it migrates the bound database only)."""
    try:
        with (directory / "env.py").open(encoding="utf-8") as handle:
            return OWN_ENV_MARK in handle.readline()
    except (OSError, UnicodeDecodeError):
        return False


def run_env(
    script: ScriptDirectory, config: Config, steps: Steps, control: RunControl, **options: Any
) -> None:
    """Run env.py once through run_environment(); an error env.py raises before configuring is one line."""
    environment = run_environment(config, script, control, fn=steps.fn, **steps.options, **options)
    # What env.py's own logging set-up prints (a StreamHandler made by fileConfig while stderr is
    # redirected writes here for good) goes to the result's log instead of the notebook.
    with environment, captured_stderr(control.state.log):
        try:
            if starts_own_loop(script):
                run_without_loop(script.run_env)
            else:
                script.run_env()
        except _env_errors() as exc:
            if control.configured or translation.raised_by_alembic(exc):
                raise
            raise _env_failed(script, exc) from exc


def starts_own_loop(script: ScriptDirectory) -> bool:
    """Whether env.py calls ``asyncio.run()`` (Alembic's async templates), which cannot run where an
    event loop already runs (a Jupyter kernel's thread, the async worker): it gets a thread of its own."""
    try:
        return "asyncio.run(" in (Path(script.dir) / "env.py").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def _env_errors() -> tuple[type[BaseException], ...]:
    from sqlalchemy.exc import ArgumentError, InvalidRequestError

    # InvalidRequestError: an async template bound to a sync URL ("requires an async driver").
    return (*ENV_ERRORS, ArgumentError, InvalidRequestError)


def _env_failed(script: ScriptDirectory, exc: BaseException) -> NoReturn:
    last = " ".join(str(exc).split()) or type(exc).__name__
    raise ConfigurationError(
        f"{Path(script.dir) / 'env.py'} cannot run here ({type(exc).__name__}: {shortened(last, 300)}); "
        f"{_env_hint(exc)}"
    )


def _env_hint(exc: BaseException) -> str:
    """What to do about an error env.py raised before configuring Alembic, by where it came from."""
    if _raised_in(exc, ("flask", "werkzeug", "flask_sqlalchemy", "flask_migrate")):
        return "it needs a Flask application context: run app.app_context().push() first, then the command"
    if isinstance(exc, ImportError):
        missing = f" {exc.name}" if exc.name else ""
        return (
            f"it imports{missing}, which cannot be imported here: install it, or put its folder on "
            "sys.path (prepend_sys_path in alembic.ini)"
        )
    if isinstance(exc, LookupError | OSError):
        return (
            "a setting or file it reads is missing: choose its configuration with %migrate config --ini PATH"
        )
    return (
        "give it what it needs first (see the cause), or choose its configuration with "
        "%migrate config --ini PATH"
    )


def _raised_in(exc: BaseException, packages: tuple[str, ...]) -> bool:
    """Whether the innermost frame of ``exc`` belongs to one of ``packages``."""
    trace = exc.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    name = str(trace.tb_frame.f_globals.get("__name__", "")) if trace is not None else ""
    return name.split(".", 1)[0] in packages


def shortened(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, an ellipsis marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:(") + "…"


def read_heads(target: Target, script: ScriptDirectory) -> list[tuple[str, tuple[str, ...]]]:
    """Each database env.py configures, with its revisions, read through env.py like ``alembic current``."""
    found: list[tuple[str, tuple[str, ...]]] = []
    control = RunControl(None, target.url, fence=target.fence)

    def collect(_rev: Any, context: Any) -> tuple[()]:
        found.append((control.state.database, tuple(sorted(context.get_current_heads()))))
        return ()

    config = target.config()
    config.attributes["target_metadata"] = target.metadata
    with locking.alembic_context(), kept_logging(), connect(target.engine) as connection:
        config.attributes["connection"] = connection
        control.connection = connection
        with translation.alembic_errors(target.url), captured_alembic_log(control.state.log):
            run_env(script, config, Steps(collect, {}), control, dont_mutate=True)
    return found
