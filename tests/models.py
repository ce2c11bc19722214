"""Model definitions the tests load into a namespace, mimicking notebook cells."""

from __future__ import annotations

# The classic declarative style, which SQLAlchemy 1.4 and 2.x both accept (DeclarativeBase and
# Mapped[...] are 2.0 only; the quickstart notebook and README use the same style for that reason).
USERS = """
import sqlalchemy as sa
from sqlalchemy.orm import declarative_base

Base = declarative_base()

class User(Base):
    __tablename__ = "users"
    id = sa.Column(sa.Integer, primary_key=True)
    name = sa.Column(sa.String(50), nullable=False)
"""

USERS_AND_POSTS = (
    USERS
    + """
class Post(Base):
    __tablename__ = "posts"
    id = sa.Column(sa.Integer, primary_key=True)
    user_id = sa.Column(sa.Integer, sa.ForeignKey("users.id"), nullable=False)
    title = sa.Column(sa.String(200), nullable=False)
"""
)


def namespace(source: str) -> dict[str, object]:
    """Run a model cell's source and return its namespace."""
    scope: dict[str, object] = {}
    # dont_inherit: this module's `from __future__ import annotations` would otherwise turn the
    # cell's Mapped[...] annotations into strings that SQLAlchemy cannot resolve outside a module.
    exec(compile(source, "<models>", "exec", dont_inherit=True), scope)
    return scope
