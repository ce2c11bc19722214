"""Session binding: which database URL and which models a migrator works with.

The URL comes from the caller, else ``$DATABASE_URL``, else ``sqlite:///default.db`` (relative to the
working directory). Metadata may be a ``MetaData``, a declarative base class, a Flask-SQLAlchemy
``db`` object, or a list or tuple of those; it may also be given as a callable that produces one, so
that a notebook cell re-run with new models is picked up on the next command.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.engine import URL

DEFAULT_URL = "sqlite:///default.db"
URL_ENV_VAR = "DATABASE_URL"
MASK = "***"


# The password runs to the *last* @ of the URL: an unencoded @ inside it must not end the mask early.
_CREDENTIALS = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^:/@\s]*:)(?P<password>\S*)@")
# user:password@ followed by another @ before the query: a password with an unencoded @.
_UNENCODED_AT = re.compile(r"^[A-Za-z][\w+.-]*://[^:/@\s]*:[^?\s]*@[^?\s]*@")


def url_text(url: str | URL | None) -> str:
    """The URL the binding uses: the one given, else ``$DATABASE_URL``, else the SQLite default."""
    if url is not None and str(url).strip():
        return url if isinstance(url, str) else url.render_as_string(hide_password=False)
    return os.environ.get(URL_ENV_VAR) or DEFAULT_URL


def parse_url(url: str | URL | None) -> URL:
    """Parse the bound URL, raising ConfigurationError (with the password masked) if malformed."""
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    if isinstance(url, URL):
        return url
    text = url_text(url)
    if "\x00" in text:  # drivers fail on it with a bare ValueError
        raise ConfigurationError(
            f"the database URL {mask_text(text)!r} contains a NUL character: remove it "
            "(%migrate config --url URL)"
        )
    if _UNENCODED_AT.match(text):
        raise ConfigurationError(
            f"the database URL {mask_text(text)!r} has more than one @ before its host: percent-encode "
            "the password (@ is %40, % is %25, : is %3A, / is %2F; urllib.parse.quote_plus does it) "
            "and set it again with %migrate config --url URL"
        )
    try:
        return make_url(text)
    except (ArgumentError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot parse the database URL {mask_text(text)!r}: expected "
            "dialect+driver://user:password@host/database; fix it with %migrate config --url URL"
        ) from exc


def mask_url(url: str | URL | None) -> str:
    """The URL as text with its password replaced by ``***``, safe to show or write anywhere."""
    from sqlalchemy.engine import URL

    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return mask_text(url_text(url))


def mask_text(text: str) -> str:
    """Mask anything that looks like ``scheme://user:password@`` inside free text."""
    return _CREDENTIALS.sub(lambda m: f"{m['head']}{MASK}@" if m["password"] else m[0], text)


def scrub(text: str, url: URL | None) -> str:
    """Remove the URL's password from a message that may quote it (driver errors sometimes do)."""
    text = mask_text(text)
    password = url.password if url is not None else None
    if password:
        from urllib.parse import quote_plus

        for form in {str(password), quote_plus(str(password))}:
            text = text.replace(form, MASK)
    return text


def resolve_metadata(source: object, label: str = "metadata") -> list[MetaData]:
    """Turn a MetaData, declarative base, Flask-SQLAlchemy db, or a list of those into MetaData objects."""
    if callable(source) and not _is_model_holder(source):
        source = source()
    items = list(source) if isinstance(source, list | tuple) else [source]
    found = [_as_metadata(item) for item in items]
    if not items or any(m is None for m in found):
        bad = next((i for i, m in zip(items, found, strict=True) if m is None), None)
        raise ConfigurationError(
            f"{label} gave {type(bad).__name__ if items else 'an empty list'}, not SQLAlchemy metadata; "
            "give a MetaData, a declarative Base, a Flask-SQLAlchemy db, or a list of those"
        )
    unique = list({id(m): m for m in found if m is not None}.values())  # [Base, Base] is one
    _refuse_shared_tables(unique, label)
    return unique


def _refuse_shared_tables(metadatas: list[MetaData], label: str) -> None:
    """Alembic rejects a table declared in two of the metadata objects (with a bare ValueError)."""
    seen: set[str] = set()
    for metadata in metadatas:
        shared = seen & set(metadata.tables)
        if shared:
            raise ConfigurationError(
                f"{label} declares table(s) {', '.join(sorted(shared))} in more than one MetaData: "
                "give each table to one of them only"
            )
        seen |= set(metadata.tables)


def as_target(metadatas: list[MetaData]) -> MetaData | list[MetaData]:
    """Alembic's ``target_metadata``: one MetaData, or a list when there are several."""
    return metadatas[0] if len(metadatas) == 1 else metadatas


def find_candidates(namespace: Mapping[str, Any]) -> dict[str, MetaData]:
    """Names in a namespace that hold metadata, one name per distinct MetaData object."""
    by_identity: dict[int, tuple[str, MetaData]] = {}
    for name, value in namespace.items():
        if name.startswith("_") or name in {"In", "Out"}:
            continue
        metadata = _candidate_metadata(value)
        if metadata is not None:
            previous = by_identity.get(id(metadata))
            if previous is None or _prefer(name, previous[0]):
                by_identity[id(metadata)] = (name, metadata)
    return {name: metadata for name, metadata in by_identity.values()}


def table_count(metadatas: Iterable[MetaData]) -> int:
    """How many tables the bound metadata declares in all."""
    return sum(len(m.tables) for m in metadatas)


def _prefer(name: str, other: str) -> bool:
    """Between two names for the same metadata, show the shorter, then the alphabetically first."""
    return (len(name), name) < (len(other), other)


def _is_model_holder(value: object) -> bool:
    return _as_metadata(value) is not None


def _as_metadata(value: object) -> MetaData | None:
    from sqlalchemy import MetaData

    if isinstance(value, MetaData):
        return value
    for attribute in ("metadata", "Model"):
        inner = getattr(value, attribute, None)
        if isinstance(inner, MetaData):
            return inner
        held = getattr(inner, "metadata", None) if attribute == "Model" else None
        if isinstance(held, MetaData):
            return held
    return None


def _candidate_metadata(value: object) -> MetaData | None:
    """Metadata held by a value that looks meant as a target, not by every mapped model class."""
    from sqlalchemy import MetaData

    if isinstance(value, MetaData):
        return value
    if isinstance(value, type):
        held = value.__dict__.get("metadata")
        return held if isinstance(held, MetaData) else None
    if hasattr(value, "Model") and not callable(value):
        return _as_metadata(value)
    return None
