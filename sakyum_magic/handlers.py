"""What ``%migrate`` does with a line: parse it, bind the session, call the core, render the result.

Kept apart from :mod:`sakyum_magic.magic` so that ``%load_ext`` imports none of this (nor Alembic,
SQLAlchemy or pandas) until the first ``%migrate``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from . import render
from .binding import find_candidates, mask_url, parse_url
from .errors import (
    ConfigurationError,
    DropRefusedError,
    MultipleHeadsError,
    PendingChangesError,
    SakyumError,
)
from .parser import HelpRequested, build_parser, parse_line

if TYPE_CHECKING:
    from .magic import MigrateMagics as Magics

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

Handler = Callable[["Magics", argparse.Namespace], Any]


@cache
def parser() -> argparse.ArgumentParser:
    """The %migrate parser, built once per process (it is never modified)."""
    return build_parser()


def run_line(magics: Magics, line: str) -> Any:
    """Parse ``line``, run its command, and return what to display; errors become a UsageError."""
    try:
        args = parse_line(parser(), line)
    except HelpRequested as shown:
        return render.Preformatted(shown.text)
    bind(magics)
    migrator = magics.migrator
    try:
        with migrator.no_new_database_on_error():
            return HANDLERS[args.command](magics, args)
    except (PendingChangesError, DropRefusedError) as exc:
        show(magics, render.diff(exc.operations or []))
        raise UsageError(str(exc)) from None
    except MultipleHeadsError as exc:
        show(magics, render.heads_way_out(migrator.heads(), exc.heads))
        raise UsageError(str(exc)) from None
    except SakyumError as exc:
        raise UsageError(str(exc)) from None


# -- binding ----------------------------------------------------------------------------------


def bind(magics: Magics) -> None:
    """Copy the traitlets onto the migrator; metadata stays an expression evaluated when used."""
    migrator = magics.migrator
    migrator.url = magics.secret_urls.get(magics.url or "", magics.url)
    migrator.directory = type(migrator.directory)(magics.directory)
    migrator.ini = type(migrator.ini)(magics.ini)
    migrator.progress = magics.progress
    if magics.metadata:
        expression = magics.metadata
        migrator.metadata = lambda: evaluate(magics, expression)
        migrator.metadata_label = expression
    else:
        migrator.metadata, migrator.metadata_label = None, ""


def evaluate(magics: Magics, expression: str) -> Any:
    """The metadata expression's value in the user namespace, or a ConfigurationError saying why not."""
    try:
        return eval(expression, namespace(magics))
    except _EXPRESSION_ERRORS as exc:
        raise ConfigurationError(
            f"the metadata expression {expression!r} failed ({type(exc).__name__}: {exc}); "
            "run the cell that defines it, or set another with %migrate config --metadata EXPR"
        ) from exc


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
    bind(magics)
    show(
        magics,
        render.Message(
            f"Using {name!r}, the only metadata in the namespace "
            "(change it with %migrate config --metadata EXPR)."
        ),
    )


def namespace(magics: Magics) -> dict[str, Any]:
    """The user namespace of the shell the magic belongs to."""
    return magics.shell.user_ns if magics.shell is not None else {}


def show(magics: Magics, value: Any) -> None:
    """Display something before the command's own result (a note, or the table behind an error)."""
    shell = magics.shell
    if shell is not None and shell.display_formatter is not None:
        data, metadata = shell.display_formatter.format(value)  # type: ignore[no-untyped-call]
        shell.display_pub.publish(data=data, metadata=metadata)


# -- handlers: one per sub-command ---------------------------------------------------------


def _config(magics: Magics, args: argparse.Namespace) -> Any:
    if args.url is not None and parse_url(args.url).password is not None:
        masked = mask_url(args.url)
        magics.secret_urls = {**magics.secret_urls, masked: args.url}
        args.url = masked
    if args.metadata is not None:
        args.metadata = " ".join(args.metadata).strip()  # '' unsets it: found in the namespace again
        if args.metadata:
            evaluate(magics, args.metadata)
    saved = {name: getattr(magics, name) for name in ("url", "metadata", "directory")}
    for name in saved:
        value = getattr(args, name)
        if value is not None:  # an empty --url or --metadata goes back to the default
            setattr(magics, name, value if name == "directory" else value or None)
    bind(magics)
    try:
        if args.metadata:
            magics.migrator.target_metadatas()  # a new expression must give metadata now
        return render.binding(magics.migrator.binding())
    except SakyumError:  # a new binding that does not work is not kept
        for name, value in saved.items():
            setattr(magics, name, value)
        bind(magics)
        raise


def _init(magics: Magics, args: argparse.Namespace) -> Any:
    result = magics.migrator.init(args.directory)
    magics.directory = result.directory
    return render.init(result)


def _revision(magics: Magics, args: argparse.Namespace) -> Any:
    if args.autogenerate:
        require_metadata(magics)
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


def _upgrade(magics: Magics, args: argparse.Namespace) -> Any:
    return render.migration(magics.migrator.upgrade(args.revision, sql=args.sql, tag=args.tag))


def _downgrade(magics: Magics, args: argparse.Namespace) -> Any:
    return render.migration(magics.migrator.downgrade(args.revision, sql=args.sql, tag=args.tag))


def _stamp(magics: Magics, args: argparse.Namespace) -> Any:
    result = magics.migrator.stamp(args.revisions, sql=args.sql, tag=args.tag, purge=args.purge)
    return render.migration(result)


def _current(magics: Magics, args: argparse.Namespace) -> Any:
    return render.current(magics.migrator.current(verbose=args.verbose), verbose=args.verbose)


def _history(magics: Magics, args: argparse.Namespace) -> Any:
    entries = magics.migrator.history(args.rev_range, args.verbose, args.indicate_current)
    return render.history(entries, verbose=args.verbose)


def _heads(magics: Magics, args: argparse.Namespace) -> Any:
    infos = magics.migrator.heads(args.verbose, args.resolve_dependencies)
    return render.revisions(infos, verbose=args.verbose)


def _branches(magics: Magics, args: argparse.Namespace) -> Any:
    return render.revisions(magics.migrator.branches(args.verbose), verbose=args.verbose)


def _show(magics: Magics, args: argparse.Namespace) -> Any:
    return render.revisions(magics.migrator.show(args.rev), verbose=True)


def _merge(magics: Magics, args: argparse.Namespace) -> Any:
    result = magics.migrator.merge(args.revisions, args.message, args.branch_label, args.rev_id)
    return render.new_revisions(result)


def _check(magics: Magics, args: argparse.Namespace) -> Any:
    require_metadata(magics)
    return render.diff(magics.migrator.check())


def _diff(magics: Magics, args: argparse.Namespace) -> Any:
    require_metadata(magics)
    return render.diff(magics.migrator.diff(args.tables, args.schema, args.include_schemas))


def _plan(magics: Magics, args: argparse.Namespace) -> Any:
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
