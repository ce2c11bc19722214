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


# Query-string keys whose values are secrets (``?password=``, ``&sslpassword=``, ``&api_token=``, ...):
# any key containing one of these words, in any case.
SECRET_WORDS = ("pass", "pwd", "secret", "token", "key", "credential", "auth")

# user:password@ followed by another @ before the query: a password with an unencoded @.
_UNENCODED_AT = re.compile(r"^[A-Za-z][\w+.-]*://[^:/@\s]*:[^?]*@[^?]*@")
# A key=value pair in free text: after ? & ; (or their %-encodings), or after a space or quote (a DSN).
_PAIR = re.compile(
    r"(?:(?P<query>[?&]|%26|%3[Ff])|(?P<list>;|%3[Bb])|(?<![^\s'\"(,]))"
    r"(?P<key>[A-Za-z_][\w.-]*)[ \t]*(?:=|%3[Dd])[ \t]*"
)
# A value holding a secret of its own, like ODBC's odbc_connect=...;PWD=...
_EMBEDDED = re.compile(r"(?i)\b(?:pwd|pass\w*|secret|token)\s*=")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+.-")
_URL_OPENERS = frozenset(" \t'\"(<[,=")
_VALUE_ENDS = {
    # After a plain ? or &, a %26 is an & of the value itself (a percent-encoded password): only a
    # plain & ends it. After an encoded one (a URL inside another's query), %26 ends it too.
    "query": re.compile(r"&|\n"),
    "encoded": re.compile(r"&|%26|\n"),
    "list": re.compile(r"[;&\n]|%3[Bb]|%26"),
    "": re.compile(r"[\s;&]"),
    "'": re.compile(r"['\n]"),
    '"': re.compile(r'["\n]'),
}


def url_text(url: str | URL | None) -> str:
    """The URL the binding uses: the one given, else ``$DATABASE_URL``, else the SQLite default."""
    if url is not None and str(url).strip():
        return url if isinstance(url, str) else url.render_as_string(hide_password=False)
    return os.environ.get(URL_ENV_VAR) or DEFAULT_URL


def parse_url(url: str | URL | None) -> URL:
    """Parse the bound URL, raising ConfigurationError (with every secret masked) if malformed."""
    from sqlalchemy.engine import URL

    if isinstance(url, URL):
        return password_from_query(url)
    text = url_text(url)
    problem = _unparsable(text)
    parsed = _parsed(text) if problem is None else None
    if problem is not None:
        raise ConfigurationError(f"the database URL {mask_unparsed(text)!r} {problem}")
    if parsed is None:
        raise ConfigurationError(
            f"cannot parse the database URL {mask_unparsed(text)!r}: expected "
            "dialect+driver://user:password@host/database; fix it with %migrate config --url URL"
        )
    return parsed


def _unparsable(text: str) -> str | None:
    """What makes ``text`` unusable before SQLAlchemy even reads it, or None."""
    if "\x00" in text:  # drivers fail on it with a bare ValueError
        return "contains a NUL character: remove it (%migrate config --url URL)"
    if _UNENCODED_AT.match(text):
        return (
            "has more than one @ before its host: percent-encode the password (@ is %40, % is %25, "
            ": is %3A, / is %2F; urllib.parse.quote_plus does it) and set it again with "
            "%migrate config --url URL"
        )
    return None


def _parsed(text: str) -> URL | None:
    """The URL SQLAlchemy reads from ``text``; None when it cannot, or reads the query as a password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if _unparsable(text) is not None:
        return None
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError, TypeError):
        return None
    # An unencoded @ in the query after user@host:port: SQLAlchemy takes what lies before it as the
    # password and what follows as the host, so no part of it may be shown or used.
    if "?" in text and not parsed.query and "?" in (parsed.password or ""):
        return None
    return password_from_query(parsed)


def password_from_query(url: URL) -> URL:
    """``?password=`` moved into the URL's own password.

    Drivers receive it the same way (SQLAlchemy hands both to the DBAPI's ``connect`` as the
    password), and SQLAlchemy and Alembic then hide it wherever they show the URL.
    """
    value = url.query.get("password")
    if url.password is not None or not isinstance(value, str):
        return url
    return url.set(password=value).difference_update_query(["password"])


def secret_key(name: str) -> bool:
    """Whether a URL query key holds a secret (password, sslpassword, token, api_key, ...)."""
    lowered = name.lower()
    return any(word in lowered for word in SECRET_WORDS)


def _secret_pair(key: str, value: str) -> bool:
    from urllib.parse import unquote_plus

    return secret_key(key) or bool(_EMBEDDED.search(unquote_plus(value)))


def has_secret(url: str | URL | None) -> bool:
    """Whether the URL carries a password, in its credentials or in its query string."""
    from sqlalchemy.engine import URL

    parsed = url if isinstance(url, URL) else _parsed(url_text(url))
    if parsed is None:
        return mask_unparsed(url_text(url)) != url_text(url)
    return parsed.password is not None or bool(_secret_values(parsed))


def _query_pairs(url: URL) -> list[tuple[str, str]]:
    """The URL's query as (key, value) pairs, a key given twice appearing twice, in key order."""
    pairs: list[tuple[str, str]] = []
    for key in sorted(url.query):
        given = url.query[key]
        pairs += [(key, value) for value in ((given,) if isinstance(given, str) else given)]
    return pairs


def _secret_values(url: URL) -> list[str]:
    return [value for key, value in _query_pairs(url) if _secret_pair(key, value)]


def _secret_keys(url: URL) -> set[str]:
    return {key for key, value in _query_pairs(url) if _secret_pair(key, value)}


def without_secrets(url: URL) -> URL:
    """The URL with no password and no secret query keys (what a file such as alembic.ini may hold)."""
    from sqlalchemy.engine import URL

    kept = {key: value for key, value in url.query.items() if key not in _secret_keys(url)}
    return URL.create(url.drivername, url.username, None, url.host, url.port, url.database, kept)


def mask_url(url: str | URL | None) -> str:
    """The URL as text with its password and query-string secrets replaced by ``***``, safe to show."""
    from urllib.parse import quote, quote_plus

    from sqlalchemy.engine import URL

    parsed = url if isinstance(url, URL) else _parsed(url_text(url))
    if parsed is None:
        return mask_unparsed(url_text(url))
    secret = _secret_keys(parsed)
    shown = parsed.set(query={})._replace(database=None).render_as_string(hide_password=True)
    if parsed.database is not None:  # its colons as typed (SQLAlchemy writes sqlite:///%3Amemory%3A)
        shown += "/" + quote(parsed.database, safe=" +/:")
    pairs = [f"{quote_plus(k)}={MASK if k in secret else quote_plus(v)}" for k, v in _query_pairs(parsed)]
    return f"{shown}?{'&'.join(pairs)}" if pairs else shown


def mask_unparsed(text: str) -> str:
    """A URL SQLAlchemy cannot parse, for an error message: its scheme only.

    Where its password ends cannot be known (it may hold spaces, @, :, / or ?, and a forgotten @
    turns it into a port), so nothing after the scheme is trusted.
    """
    head, sep, _rest = text.partition("://")
    if not sep or not _SCHEME_CHARS.issuperset(head):
        return MASK
    return f"{head}://{MASK}"


def mask_text(text: str) -> str:
    """Mask every password in free text: ``scheme://user:password@`` and secret ``key=value`` pairs.

    A password runs to the last @ before the end of its line or the next URL, so spaces or an @ left
    unencoded in it are masked too; a secret query value runs to the next & or the end of the line.
    """
    return _mask_pairs(_mask_credentials(text))


def _mask_credentials(text: str) -> str:
    pieces: list[str] = []
    done, segment_end, last_at = 0, -1, -1
    mark = text.find("://")
    while mark != -1:
        colon = mark + 3
        while colon < len(text) and text[colon] not in ":/@" and not text[colon].isspace():
            colon += 1
        if colon >= segment_end:  # the @ that ends a password is the last one of its segment
            segment_end = _segment_end(text, colon)
            last_at = text.rfind("@", colon, segment_end)
        if text.startswith(":", colon) and last_at > colon + 1:
            pieces += [text[done : colon + 1], MASK]
            done = last_at
            mark = text.find("://", last_at)
        else:
            mark = text.find("://", colon + 1)
    pieces.append(text[done:])
    return "".join(pieces)


def _segment_end(text: str, start: int) -> int:
    """The end of the line at ``start``, or the start of the next URL on it (one after a space or quote)."""
    line_end = text.find("\n", start)
    line_end = len(text) if line_end == -1 else line_end
    mark = text.find("://", start, line_end)
    while mark != -1:
        scheme = _scheme_start(text, mark)
        if start < scheme < mark and text[scheme - 1] in _URL_OPENERS:
            return scheme
        mark = text.find("://", mark + 3, line_end)
    return line_end


def _scheme_start(text: str, mark: int) -> int:
    """Where the scheme ending at ``mark`` (the index of its ``://``) begins."""
    start = mark
    while start > 0 and text[start - 1] in _SCHEME_CHARS:
        start -= 1
    return start


def _mask_pairs(text: str) -> str:
    pieces: list[str] = []
    done = 0
    for found in _PAIR.finditer(text):
        if found.start() < done or not secret_key(found["key"]):
            continue
        end = _value_end(text, found.end(), _pair_kind(found))
        pieces += [text[done : found.end()], MASK]
        done = end
    pieces.append(text[done:])
    return "".join(pieces)


def _pair_kind(found: re.Match[str]) -> str:
    if found["query"]:
        return "query" if found["query"] in "?&" else "encoded"
    return "list" if found["list"] else ""


def _value_end(text: str, start: int, kind: str) -> int:
    """Where a secret value starting at ``start`` ends: for a query pair (which may hold unencoded
    spaces) at the next &, for a ;-list pair at the next ; or &, for a DSN pair at a space unless quoted."""
    if kind == "" and text.startswith(("'", '"'), start):
        closing = _VALUE_ENDS[text[start]].search(text, start + 1)
        if closing is None:
            return len(text)
        return closing.end() if closing[0] != "\n" else closing.start()
    found = _VALUE_ENDS[kind].search(text, start)
    return found.start() if found is not None else len(text)


def scrub(text: str, url: URL | None) -> str:
    """Remove the URL's secrets from a message that may quote them (driver errors sometimes do)."""
    text = mask_text(text)
    secrets = [] if url is None else [url.password, *_secret_values(url)]
    from urllib.parse import quote, quote_plus

    for secret in secrets:
        forms = {str(secret), quote_plus(str(secret)), quote(str(secret), safe="")} if secret else set()
        for form in sorted(forms, key=len, reverse=True):  # longest first: no encoded form left half-done
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
