"""Errors raised by the core API.

Every error carries one line that says what went wrong and what to do about it. The magic turns
each of them into a plain ``UsageError``; code that uses the core directly can catch them by kind::

    SakyumError
     ├── ConfigurationError     the URL, metadata or directory binding is wrong
     │    └── NotInitializedError   the migration directory does not exist yet
     ├── DatabaseError          the database cannot be reached or refused a statement
     ├── RevisionError          an unknown or ambiguous revision, or several heads where one is needed
     │    └── MultipleHeadsError
     ├── MigrationError         a revision failed while it ran
     └── PendingChangesError    ``check`` found operations that no revision covers yet
"""

from __future__ import annotations

from typing import Any


class SakyumError(Exception):
    """Base class of every error the core raises on purpose."""


class ConfigurationError(SakyumError):
    """The binding (URL, metadata expression or directory) cannot be used."""


class NotInitializedError(ConfigurationError):
    """The migration directory does not exist or has no env.py."""


class DatabaseError(SakyumError):
    """The database could not be reached, or refused what was asked of it."""


class RevisionError(SakyumError):
    """A revision argument does not name exactly one usable revision."""


class MultipleHeadsError(RevisionError):
    """Several heads exist where the command needs exactly one."""

    def __init__(self, message: str, heads: tuple[str, ...]) -> None:
        super().__init__(message)
        self.heads = heads


class MigrationError(SakyumError):
    """A revision failed while it ran; ``result`` tells what was applied before it."""

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result


class PendingChangesError(SakyumError):
    """The models differ from the database and no revision covers the difference."""

    def __init__(self, message: str, operations: Any = None) -> None:
        super().__init__(message)
        self.operations = operations
