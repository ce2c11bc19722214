"""The session's settings and the migrator that follows them; ``%migrate config``; the models.

The traitlets of :class:`~sakyum_magic._frontend.magic.MigrateMagics` (``url``, ``metadata``, ``directory``,
``ini``, ``progress``) are the one copy of the settings. The session's
:class:`~sakyum_magic._core.migrator.Migrator` follows them: :func:`follow` sets its field when a traitlet
changes (the magic observes them), so nothing is copied line by line. ``config`` checks all its new values on
a scratch Migrator before it sets any, so a ``config`` that fails changes nothing.

The metadata setting is an expression, evaluated in the user namespace when a command needs the
models, at most once per ``%migrate`` line (:func:`one_evaluation`): a cell re-run with new models
is picked up by the next line, and an expression with side effects runs once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._core.binding import find_candidates, has_secret, mask_url, parse_url
from .._core.configuration import check_path, configuration_for, named_directory
from .._core.errors import ConfigurationError
from .._core.migrator import Migrator
from .._core.records import Binding, InitResult
from .._core.settings import BY_NAME, FOLLOWED
from .._run.database import check_dialect

if TYPE_CHECKING:
    from .magic import MigrateMagics as Magics

SETTINGS = FOLLOWED  # the settings the session's Migrator follows (declared in _core/settings.py)
DEFAULT_INI = "alembic.ini"

_EXPRESSION_ERRORS = (
    NameError,
    AttributeError,
    SyntaxError,
    TypeError,
    ValueError,
    ImportError,
    LookupError,
    ArithmeticError,
    AssertionError,
    RuntimeError,
    OSError,
    EOFError,
    ReferenceError,
    StopIteration,
)
"""What a user's expression raises (besides SQLAlchemy's errors): every built-in kind of error."""


# -- the migrator follows the settings ------------------------------------------------------


def new_migrator(magics: Magics) -> Migrator:
    """The session's Migrator, set from the session's settings."""
    migrator = Migrator()
    for name in SETTINGS:
        follow(migrator, magics, name)
    # Whom a run waits for, and for how long, shown in the cell while it waits.
    migrator.on_wait = lambda line: _waiting(magics, line)
    return migrator


def _waiting(magics: Magics, line: str) -> None:
    from .._display.render import note

    show(magics, note(line, "warning"))


def follow(migrator: Migrator, magics: Magics, name: str) -> None:
    """Set the field of ``migrator`` that the setting ``name`` (or ``secret_urls``) maps to."""
    name = "url" if name == "secret_urls" else name
    _FOLLOWERS.get(name, _as_declared(name))(migrator, magics)


def _url(migrator: Migrator, magics: Magics) -> None:
    # The setting holds the masked URL; the password lives only in secret_urls.
    migrator.url = magics.secret_urls.get(magics.url or "", magics.url)


def _metadata(migrator: Migrator, magics: Magics) -> None:
    expression = magics.metadata
    migrator.metadata = MetadataExpression(magics, expression) if expression else None
    migrator.metadata_label = expression or ""


# The settings the Migrator takes in a form of its own; every other one is set as it is (converted as
# declared).
_FOLLOWERS: dict[str, Callable[[Migrator, Magics], None]] = {"url": _url, "metadata": _metadata}


def _as_declared(name: str) -> Callable[[Migrator, Magics], None]:
    setting = BY_NAME[name]
    return lambda migrator, magics: setattr(migrator, name, setting.value_for_migrator(getattr(magics, name)))


def adopt_directory(magics: Magics, result: InitResult) -> None:
    """After ``init``: the new directory becomes the session's."""
    magics.directory = result.directory


# -- the metadata expression ----------------------------------------------------------------


class MetadataExpression:
    """What the session's Migrator holds as its metadata: the expression, evaluated when called."""

    def __init__(self, magics: Magics, expression: str) -> None:
        self.magics = magics
        self.expression = expression

    def __call__(self) -> Any:
        return evaluated(self.magics, self.expression)

    def __repr__(self) -> str:
        return f"MetadataExpression({self.expression!r})"


@contextmanager
def one_evaluation(magics: Magics) -> Iterator[None]:
    """Within the block, each metadata expression is evaluated at most once."""
    magics.evaluations = {}
    try:
        yield
    finally:
        magics.evaluations = None


def evaluated(magics: Magics, expression: str) -> Any:
    """The expression's value, evaluated once per :func:`one_evaluation` block."""
    cache = magics.evaluations
    if cache is None:
        return evaluate(magics, expression)
    if expression not in cache:
        cache[expression] = evaluate(magics, expression)
    return cache[expression]


def evaluate(magics: Magics, expression: str) -> Any:
    """The metadata expression's value in the user namespace, or a ConfigurationError saying why not."""
    from sqlalchemy.exc import SQLAlchemyError  # a mapper that does not configure, a table defined twice

    try:
        return eval(expression, namespace(magics))
    except (*_EXPRESSION_ERRORS, SQLAlchemyError) as exc:
        first, where = " ".join(str(exc).split())[:200], _user_line(exc)
        raise ConfigurationError(
            f"the metadata expression {expression!r} failed ({type(exc).__name__}: {first}){where}; "
            "run the cell that defines it, or set another with %migrate config --metadata EXPR"
        ) from exc


def _user_line(exc: BaseException) -> str:
    """`` at line N: CODE`` for the innermost frame of the user's own code (a cell, a module of theirs),
    past this package's, the standard library's and installed packages' frames; "" if none."""
    import linecache
    import sysconfig
    import traceback

    ours = str(Path(__file__).resolve().parent.parent)
    libraries = {sysconfig.get_paths()[key] for key in ("stdlib", "purelib", "platlib")}
    frames = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.filename.startswith("<ipython-input")  # a cell (a kernel's cells are files)
        or not frame.filename.startswith(("<", ours, *libraries))  # "<string>": generated code
    ]
    if not frames:
        return ""
    code = linecache.getline(frames[-1].filename, frames[-1].lineno or 0).strip()
    return f" at line {frames[-1].lineno}: {code[:80]}" if code else f" at line {frames[-1].lineno}"


def require_metadata(magics: Magics) -> None:
    """Bind the one metadata found in the namespace when none is configured, and say so."""
    if magics.metadata:
        return
    found = find_candidates(namespace(magics))
    if len(found) != 1:
        listed = ", ".join(sorted(found)) or "none found"
        raise ConfigurationError(
            f"which models? Candidates in the namespace: {listed}; "
            "set them with %migrate config --metadata Base (any expression, or a list)"
        )
    (name,) = found
    magics.metadata = name
    from .._display.render import note

    show(
        magics,
        note(
            f"Using {name!r}, the only metadata in the namespace "
            "(change it with %migrate config --metadata EXPR)."
        ),
    )


def note_older_env(magics: Magics) -> None:
    """Once per directory and session: a directory ``init`` wrote with an older release is named,
    with the way to refresh it."""
    from .._authoring.template import stale_note
    from .._display.render import note

    directory = magics.migrator.directory
    if str(directory) in magics.checked_directories:
        return
    magics.checked_directories.add(str(directory))
    found = stale_note(directory)
    if found is not None:
        show(magics, note(found, "warning"))


def namespace(magics: Magics) -> dict[str, Any]:
    """The user namespace of the shell the magic belongs to."""
    return magics.shell.user_ns if magics.shell is not None else {}


def show(magics: Magics, value: Any) -> None:
    """Display something before the command's own result (a note, or the table behind an error)."""
    shell = magics.shell
    if shell is not None and shell.display_formatter is not None:
        data, metadata = shell.display_formatter.format(value)  # type: ignore[no-untyped-call]
        shell.display_pub.publish(data=data, metadata=metadata)


# -- %migrate config ------------------------------------------------------------------------


def config(
    magics: Magics,
    url: str | None = None,
    metadata: str | Sequence[str] | None = None,
    directory: str | None = None,
    ini: str | None = None,
) -> Binding:
    """Show the binding, or set its URL, metadata expression, directory and configuration file.

    :param url: database URL ('' for the default: $DATABASE_URL, else sqlite:///default.db).
    :param metadata: Python expression giving MetaData, a Base, a db, or a list (spaces allowed;
        '' unsets it, and the one metadata in the namespace is used).
    :param directory: the migration directory; without --ini, the alembic.ini or pyproject.toml that
        names it is used (else DIR/alembic.ini for an existing DIR, alembic.ini for a new one).
    :param ini: the alembic.ini or pyproject.toml to read (init writes alembic.ini there); without
        --dir, the directory its script_location names, as alembic -c PATH takes it.
    """
    changes: dict[str, Any] = {}
    if url is not None:
        changes.update(_url_setting(magics, url))
    if metadata is not None:
        expression = metadata if isinstance(metadata, str) else " ".join(metadata)
        changes["metadata"] = expression.strip() or None
    if directory is not None:
        changes["directory"] = directory
        if ini is None:
            changes["ini"] = str(configuration_file(Path(directory)))
    if ini is not None:
        changes["ini"] = _ini_setting(ini)
        named = named_directory(Path(ini)) if directory is None else None
        if named is not None:  # as `alembic -c PATH` does: the directory that file names
            changes["directory"] = str(named)
    shown = _checked(magics, changes)
    for name, value in changes.items():  # secret_urls first: the url observer reads it
        setattr(magics, name, value)
    return shown


def _url_setting(magics: Magics, url: str) -> dict[str, Any]:
    """The ``url`` setting (masked) and, for a URL with a password, the secret that maps it back."""
    if not url:
        return {"url": None}
    if not has_secret(parse_url(url)):
        return {"url": url}
    masked = mask_url(url)
    return {"secret_urls": {**magics.secret_urls, masked: url}, "url": masked}


def masked_url_setting(magics: Magics, url: str | None) -> str | None:
    """What the ``url`` traitlet holds for ``url``: the URL itself, or its masked form, the password
    kept in ``secret_urls`` (a masked form already known there is kept as it is)."""
    if not url or url in magics.secret_urls or not has_secret(url):
        return url
    masked = mask_url(url)
    if masked != url:
        magics.secret_urls = {**magics.secret_urls, masked: url}
    return masked


def configuration_file(directory: Path) -> Path:
    """The configuration file for ``config --dir DIR`` without ``--ini``: the one that names DIR (see
    :func:`~sakyum_magic._core.configuration.configuration_for`); else, for a DIR that exists,
    DIR/alembic.ini, so that no other directory's settings apply to it (nothing is read until that file
    exists); else, for a
    DIR that ``init`` has yet to make, alembic.ini, where ``alembic init DIR`` writes it."""
    check_path(directory)
    found = configuration_for(directory)
    if found is not None:
        return found
    return directory / DEFAULT_INI if directory.is_dir() else Path(DEFAULT_INI)


def _ini_setting(ini: str) -> str:
    """The ``ini`` setting: a file that may not exist yet (init writes it), but not a directory."""
    path = Path(ini)
    try:
        directory = path.is_dir()
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigurationError(f"cannot use --ini {ini[:80]!r}: {reason}; give another path") from exc
    if directory:
        raise ConfigurationError(
            f"--ini {ini!r} is a directory: give the alembic.ini or pyproject.toml file itself"
        )
    return ini


def _checked(magics: Magics, changes: dict[str, Any]) -> Binding:
    """The binding the session would have after ``changes``, worked out on a scratch Migrator;
    a ConfigurationError (and nothing set) when a new value cannot be used."""
    secrets = changes.get("secret_urls", magics.secret_urls)
    url = changes.get("url", magics.url)
    url = secrets.get(url or "", url)
    parsed = parse_url(url)
    if "url" in changes:  # a misspelt dialect is named now, not at the first command that connects
        check_dialect(parsed)
    expression = changes.get("metadata", magics.metadata)
    scratch = Migrator(
        url=url,
        metadata=MetadataExpression(magics, expression) if expression else None,
        directory=changes.get("directory", magics.directory),
        metadata_label=expression,
    )
    if changes.get("metadata"):
        scratch.target_metadatas()  # a new expression must give metadata now
    return scratch.binding()
