"""Model definitions the tests load into a namespace, mimicking notebook cells."""

from __future__ import annotations

USERS = """
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

class Base(DeclarativeBase):
    pass

class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(50))
"""

USERS_AND_POSTS = (
    USERS
    + """
class Post(Base):
    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(sa.String(200))
"""
)


def namespace(source: str) -> dict[str, object]:
    """Run a model cell's source and return its namespace."""
    scope: dict[str, object] = {}
    # dont_inherit: this module's `from __future__ import annotations` would otherwise turn the
    # cell's Mapped[...] annotations into strings that SQLAlchemy cannot resolve outside a module.
    exec(compile(source, "<models>", "exec", dont_inherit=True), scope)
    return scope
