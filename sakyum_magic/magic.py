"""The ``%migrate`` line magic: parse the line, call the core, render the result. Nothing else."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from traitlets import Bool, Unicode

from . import render
from .binding import find_candidates, parse_url
from .commands import Migrator
from .errors import (
    ConfigurationError,
    DropRefusedError,
    MultipleHeadsError,
    PendingChangesError,
    SakyumError,
)
from .parser import HelpRequested, build_parser, parse_line

_EXPRESSION_ERRORS = (
    NameError,
    AttributeError,
    SyntaxError,
    TypeError,
    ValueError,
    ImportError,
    LookupError,
    ArithmeticError,
)

Handler = Callable[["MigrateMagics", argparse.Namespace], Any]


@magics_class
class MigrateMagics(Magics):
    """Holds the session's binding (settable with ``%config MigrateMagics.url = ...``) and its migrator."""

    url = Unicode(
        None,
        allow_none=True,
        help="Database URL; None means $DATABASE_URL, else sqlite:///default.db",
    ).tag(config=True)
    metadata = Unicode(
        None,
        allow_none=True,
        help="Python expression, evaluated at each command, giving the models' metadata",
    ).tag(config=True)
    directory = Unicode("alembic", help="The Alembic migration directory").tag(config=True)
    ini = Unicode("alembic.ini", help="The alembic.ini file, read when present and written by init").tag(
        config=True
    )
    progress = Bool(True, help="Show a progress bar for runs over many revisions").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.parser = PARSER
        self.migrator = Migrator(progress=self.progress)

    def close(self) -> None:
        """Release the database connections held by the session's migrator."""
        self.migrator.dispose()

    @line_magic
    def migrate(self, line: str) -> Any:
        try:
            args = parse_line(self.parser, line)
        except HelpRequested as shown:
            return render.Preformatted(shown.text)
        self._bind()
        try:
            with self.migrator.no_new_database_on_error():
                return HANDLERS[args.command](self, args)
        except (PendingChangesError, DropRefusedError) as exc:
            self._show(render.diff(exc.operations or []))
            raise UsageError(str(exc)) from None
        except MultipleHeadsError as exc:
            self._show(render.heads_way_out(self.migrator.heads(), exc.heads))
            raise UsageError(str(exc)) from None
        except SakyumError as exc:
            raise UsageError(str(exc)) from None

    # -- binding ------------------------------------------------------------------------

    def _bind(self) -> None:
        """Copy the traitlets onto the migrator; metadata stays an expression evaluated when used."""
        migrator = self.migrator
        migrator.url = self.url
        migrator.directory = type(migrator.directory)(self.directory)
        migrator.ini = type(migrator.ini)(self.ini)
        migrator.progress = self.progress
        if self.metadata:
            expression = self.metadata
            migrator.metadata = lambda: self._evaluate(expression)
            migrator.metadata_label = expression
        else:
            migrator.metadata, migrator.metadata_label = None, ""

    def _evaluate(self, expression: str) -> Any:
        try:
            return eval(expression, self._namespace())
        except _EXPRESSION_ERRORS as exc:
            raise ConfigurationError(
                f"the metadata expression {expression!r} failed ({type(exc).__name__}: {exc}); "
                "run the cell that defines it, or set another with %migrate config --metadata EXPR"
            ) from exc

    def require_metadata(self) -> None:
        """Bind the one metadata found in the namespace when none is configured, and say so."""
        if self.metadata:
            return
        found = find_candidates(self._namespace())
        if len(found) != 1:
            listed = ", ".join(sorted(found)) or "none found"
            raise ConfigurationError(
                f"which models? Candidates in the namespace: {listed}; "
                "set them with %migrate config --metadata Base (any expression, or a list)"
            )
        (name,) = found
        self.metadata = name
        self._bind()
        self._show(
            render.Message(
                f"Using {name!r}, the only metadata in the namespace "
                "(change it with %migrate config --metadata EXPR)."
            )
        )

    def _namespace(self) -> dict[str, Any]:
        return self.shell.user_ns if self.shell is not None else {}

    def _show(self, value: Any) -> None:
        from IPython.display import display

        display(value)  # type: ignore[no-untyped-call]


# -- handlers: one per sub-command ---------------------------------------------------------


def _config(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    if args.url is not None:
        parse_url(args.url)
    if args.metadata is not None:
        args.metadata = " ".join(args.metadata)
        magics._evaluate(args.metadata)
    saved = {name: getattr(magics, name) for name in ("url", "metadata", "directory")}
    for name in saved:
        value = getattr(args, name)
        if value is not None:
            setattr(magics, name, value or None if name != "directory" else value)
    magics._bind()
    try:
        return render.binding(magics.migrator.binding())
    except SakyumError:  # a binding that cannot be shown is not kept
        for name, value in saved.items():
            setattr(magics, name, value)
        magics._bind()
        raise


def _init(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    result = magics.migrator.init(args.directory)
    magics.directory = result.directory
    return render.init(result)


def _revision(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    if args.autogenerate:
        magics.require_metadata()
    result = magics.migrator.revision(
        message=args.message,
        autogenerate=args.autogenerate,
        sql=args.sql,
        head=args.head,
        splice=args.splice,
        branch_label=args.branch_label,
        version_path=args.version_path,
        rev_id=args.rev_id,
        depends_on=args.depends_on,
        allow_drop=args.allow_drop,
        renames=args.rename,
    )
    return render.new_revisions(result)


def _upgrade(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    return render.migration(magics.migrator.upgrade(args.revision, sql=args.sql, tag=args.tag))


def _downgrade(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    return render.migration(magics.migrator.downgrade(args.revision, sql=args.sql, tag=args.tag))


def _stamp(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    revisions = args.revisions[0] if len(args.revisions) == 1 else tuple(args.revisions)
    result = magics.migrator.stamp(revisions, sql=args.sql, tag=args.tag, purge=args.purge)
    return render.migration(result)


def _current(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    return render.current(magics.migrator.current(verbose=args.verbose), verbose=args.verbose)


def _history(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    entries = magics.migrator.history(args.rev_range, args.verbose, args.indicate_current)
    return render.history(entries, verbose=args.verbose)


def _heads(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    infos = magics.migrator.heads(args.verbose, args.resolve_dependencies)
    return render.revisions(infos, verbose=args.verbose)


def _branches(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    return render.revisions(magics.migrator.branches(args.verbose), verbose=args.verbose)


def _show(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    return render.revisions(magics.migrator.show(args.rev), verbose=True)


def _merge(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    revisions = args.revisions[0] if len(args.revisions) == 1 else args.revisions
    result = magics.migrator.merge(revisions, args.message, args.branch_label, args.rev_id)
    return render.new_revisions(result)


def _check(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    magics.require_metadata()
    return render.diff(magics.migrator.check())


def _diff(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    magics.require_metadata()
    return render.diff(magics.migrator.diff(args.tables, args.schema, args.include_schemas))


def _plan(magics: MigrateMagics, args: argparse.Namespace) -> Any:
    return render.plan(magics.migrator.plan(args.revision))


HANDLERS: dict[str, Handler] = {
    "config": _config,
    "init": _init,
    "revision": _revision,
    "upgrade": _upgrade,
    "downgrade": _downgrade,
    "stamp": _stamp,
    "current": _current,
    "history": _history,
    "heads": _heads,
    "branches": _branches,
    "show": _show,
    "merge": _merge,
    "check": _check,
    "diff": _diff,
    "plan": _plan,
}

# Built once per process: the help text and every magic instance share it (it is not modified).
PARSER = build_parser()
MigrateMagics.migrate.__doc__ = PARSER.format_help()
