"""Session binding: URL defaults and masking, metadata resolution and discovery."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sakyum_magic._core.binding import (
    find_candidates,
    mask_text,
    mask_url,
    parse_url,
    resolve_metadata,
    scrub,
)
from sakyum_magic._core.errors import ConfigurationError
from tests.models import USERS, namespace


def test_mask_url_hides_only_the_password() -> None:
    assert (
        mask_url("postgresql+psycopg://app:s3cret@db:5432/app") == "postgresql+psycopg://app:***@db:5432/app"
    )
    assert mask_url("sqlite:///default.db") == "sqlite:///default.db"
    assert mask_url(parse_url("mysql+pymysql://root:p%40ss@h/db")) == "mysql+pymysql://root:***@h/db"


def test_mask_url_shows_a_database_as_typed() -> None:
    """SQLAlchemy writes the colons of ``:memory:`` or ``C:/x.db`` as %3A: a URL nobody typed."""
    for url in ("sqlite:///:memory:", "sqlite:///C:/data/app.db", "sqlite:///with space.db"):
        assert mask_url(url) == url
        assert parse_url(mask_url(url)).database == parse_url(url).database
    assert mask_url("postgresql://u:pw@h/a:b?sslmode=require") == "postgresql://u:***@h/a:b?sslmode=require"


def test_mask_text_inside_free_text_and_malformed_urls() -> None:
    assert mask_text("could not use postgres://u:pw@h/db here") == "could not use postgres://u:***@h/db here"
    assert mask_text("weird://u:pw@") == "weird://u:***@"


def test_scrub_removes_the_password_in_any_form() -> None:
    url = parse_url("postgresql://u:p%40ss%3Aw@h/db")
    assert scrub("auth failed for p@ss:w and p%40ss%3Aw", url) == "auth failed for *** and ***"


def test_malformed_url_error_is_masked() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_url("postgresql://u:hunter2@h:notaport/db")
    assert "hunter2" not in str(caught.value)


def test_resolve_metadata_accepts_every_form() -> None:
    models = namespace(USERS)
    base = models["Base"]
    metadata = base.metadata  # type: ignore[attr-defined]
    assert resolve_metadata(metadata) == [metadata]
    assert resolve_metadata(base) == [metadata]
    assert resolve_metadata(lambda: base) == [metadata]
    other = sa.MetaData()
    assert resolve_metadata([base, other]) == [metadata, other]


def test_resolve_metadata_accepts_flask_sqlalchemy_db() -> None:
    flask_sqlalchemy = pytest.importorskip("flask_sqlalchemy")
    db = flask_sqlalchemy.SQLAlchemy()
    assert resolve_metadata(db) == [db.metadata]
    assert find_candidates({"db": db}) == {"db": db.metadata}


@pytest.mark.parametrize("value", [42, "Base", None, [], [sa.MetaData(), 3]])
def test_resolve_metadata_rejects_other_values(value: object) -> None:
    with pytest.raises(ConfigurationError, match="not SQLAlchemy metadata"):
        resolve_metadata(value)


def test_candidates_skip_mapped_classes_and_dedupe() -> None:
    models = namespace(USERS)
    scope = {
        "Base": models["Base"],
        "User": models["User"],
        "md": models["Base"].metadata,
        "_hidden": sa.MetaData(),
    }  # type: ignore[attr-defined]
    assert list(find_candidates(scope)) == ["md"]
    scope["other"] = sa.MetaData()
    assert sorted(find_candidates(scope)) == ["md", "other"]
