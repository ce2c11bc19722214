"""What each rule means for a live database: the lock it takes, what that blocks, whether the table is
rewritten or scanned, and the safer way to get the same change.

squawk's rules keep squawk's ids (source ``squawk``, explained at :data:`SQUAWK_DOCS`); the rules this
package adds for what squawk cannot know or does not cover (MySQL/MariaDB, SQLite, a default whose
function the server says is volatile) have the source ``sakyum``. A rule whose cost grows with the
table (a rewrite, a scan, or a lock held while either runs) is ``sized``: its severity follows the
row count (see :func:`severity`); the others have a fixed severity.
"""

from __future__ import annotations

from dataclasses import dataclass

SQUAWK_DOCS = "https://squawkhq.com/docs/"
MYSQL_DOCS = "https://dev.mysql.com/doc/refman/8.0/en/innodb-online-ddl-operations.html"
SQLITE_DOCS = "https://alembic.sqlalchemy.org/en/latest/batch.html"
POSTGRES_DOCS = "https://www.postgresql.org/docs/current/sql-altertable.html#SQL-ALTERTABLE-NOTES"

READS_WRITES = "reads, writes"
WRITES = "writes"
REWRITE = "rewrite"
SCAN = "full scan"
COPY = "table copy"


@dataclass(frozen=True)
class Rule:
    """A rule's effect on the database and the way around it."""

    lock: str = ""
    blocks: str = ""
    effect: str = ""  # rewrite, full scan, table copy, or ""
    safer: str = ""
    sized: bool = False
    severity: str = "warning"  # when not sized
    source: str = "squawk"
    docs: str = SQUAWK_DOCS

    def link(self, rule_id: str) -> str:
        return f"{self.docs}{rule_id}" if self.docs == SQUAWK_DOCS else self.docs


_NOT_VALID = (
    "ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT in a later revision (SHARE UPDATE EXCLUSIVE)"
)
_EXPAND = "expand and contract: add the new one, deploy code that uses both, drop the old one later"
_BACKFILL = "add the column without it, backfill in batches, then add the default/constraint"
_AE = "ACCESS EXCLUSIVE"

RULES: dict[str, Rule] = {
    # -- squawk's rules ------------------------------------------------------------------------------
    "require-concurrent-index-creation": Rule(
        "SHARE",
        WRITES,
        SCAN,
        "CREATE INDEX CONCURRENTLY inside op.get_context().autocommit_block()",
        sized=True,
    ),
    "require-concurrent-index-deletion": Rule(
        _AE, READS_WRITES, "", "DROP INDEX CONCURRENTLY inside op.get_context().autocommit_block()"
    ),
    "adding-not-nullable-field": Rule(
        _AE,
        READS_WRITES,
        SCAN,
        "ADD CONSTRAINT c CHECK (col IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT, then SET NOT NULL "
        "(PostgreSQL 12+ skips the scan) and drop the check",
        sized=True,
    ),
    "changing-column-type": Rule(
        _AE,
        READS_WRITES,
        REWRITE,
        "add a new column, backfill in batches, switch readers, drop the old",
        True,
    ),
    "constraint-missing-not-valid": Rule(_AE, READS_WRITES, SCAN, _NOT_VALID, sized=True),
    "adding-foreign-key-constraint": Rule("SHARE ROW EXCLUSIVE", WRITES, SCAN, _NOT_VALID, sized=True),
    "disallowed-unique-constraint": Rule(
        _AE,
        READS_WRITES,
        SCAN,
        "CREATE UNIQUE INDEX CONCURRENTLY (autocommit_block), then ADD CONSTRAINT ... UNIQUE USING INDEX",
        sized=True,
    ),
    "adding-field-with-default": Rule(_AE, READS_WRITES, REWRITE, _BACKFILL, sized=True),
    "adding-required-field": Rule(
        _AE, READS_WRITES, SCAN, "add it nullable (or with a constant default), backfill, then NOT NULL", True
    ),
    "adding-serial-primary-key-field": Rule(
        _AE, READS_WRITES, REWRITE, "CREATE UNIQUE INDEX CONCURRENTLY, then ADD PRIMARY KEY USING INDEX", True
    ),
    "adding-primary-key-constraint": Rule(
        _AE, READS_WRITES, SCAN, "CREATE UNIQUE INDEX CONCURRENTLY, then ADD PRIMARY KEY USING INDEX", True
    ),
    "prefer-text-field": Rule(
        _AE, READS_WRITES, REWRITE, "text with a CHECK (length(col) <= n) NOT VALID", sized=True
    ),
    "renaming-column": Rule(_AE, READS_WRITES, "", _EXPAND),
    "renaming-table": Rule(_AE, READS_WRITES, "", _EXPAND + "; or a view under the old name"),
    "ban-drop-column": Rule(_AE, READS_WRITES, "", "stop reading the column in a deploy before dropping it"),
    "ban-drop-table": Rule(_AE, READS_WRITES, "", "stop using the table in a deploy before dropping it"),
    "ban-drop-database": Rule(severity="error"),
    "ban-drop-not-null": Rule(_AE, READS_WRITES, "", "make sure no client relies on it first"),
    "ban-truncate-cascade": Rule(
        _AE, READS_WRITES, "", "truncate the tables one by one, named", severity="error"
    ),
    "require-enum-value-ordering": Rule(
        "", "", "", "ADD VALUE ... BEFORE/AFTER an existing value (order matters for comparisons)"
    ),
    "ban-alter-domain-with-add-constraint": Rule(_AE, READS_WRITES, SCAN, "a CHECK on each table instead"),
    "ban-create-domain-with-constraint": Rule(safer="a CHECK on each table instead", severity="note"),
    "ban-concurrent-index-creation-in-transaction": Rule(
        safer="run it inside op.get_context().autocommit_block()", severity="error"
    ),
    "transaction-nesting": Rule(safer="let Alembic manage the transaction", severity="error"),
    "prefer-robust-stmts": Rule(safer="IF [NOT] EXISTS, so a retried revision can finish", severity="note"),
    "prefer-bigint-over-int": Rule(safer="bigint", severity="note"),
    "prefer-bigint-over-smallint": Rule(safer="bigint", severity="note"),
    "prefer-identity": Rule(safer="GENERATED ... AS IDENTITY", severity="note"),
    "prefer-timestamp-tz": Rule(safer="timestamptz", severity="note"),
    "ban-char-field": Rule(safer="text or varchar", severity="note"),
    # -- this package's rules ------------------------------------------------------------------------
    "volatile-default": Rule(
        _AE, READS_WRITES, REWRITE, _BACKFILL, sized=True, source="sakyum", docs=POSTGRES_DOCS
    ),
    "mysql-copy-column-type": Rule(
        "SHARED (ALGORITHM=COPY)",
        WRITES,
        COPY,
        "new column + backfill + swap, or an online schema change tool (gh-ost, pt-osc)",
        sized=True,
        source="sakyum",
        docs=MYSQL_DOCS,
    ),
    "mysql-add-column-rebuild": Rule(
        "rebuild (ALGORITHM=INPLACE)",
        "",
        REWRITE,
        "add the column last (no FIRST/AFTER) on a server with INSTANT ADD COLUMN",
        sized=True,
        source="sakyum",
        docs=MYSQL_DOCS,
    ),
    "mysql-enum-not-append": Rule(
        "SHARED (ALGORITHM=COPY)",
        WRITES,
        COPY,
        "only append new values at the end of the ENUM/SET list",
        sized=True,
        source="sakyum",
        docs=MYSQL_DOCS,
    ),
    "mysql-add-primary-key": Rule(
        "rebuild (ALGORITHM=INPLACE)",
        "",
        REWRITE,
        "create the table with its key",
        True,
        source="sakyum",
        docs=MYSQL_DOCS,
    ),
    "mysql-not-null-existing": Rule(
        "SHARED (ALGORITHM=COPY)",
        WRITES,
        COPY,
        "add it NULL or with a DEFAULT, backfill, then make it NOT NULL",
        sized=True,
        source="sakyum",
        docs=MYSQL_DOCS,
    ),
    "mysql-foreign-key-copy": Rule(
        "SHARED (ALGORITHM=COPY)",
        WRITES,
        COPY,
        "SET foreign_key_checks = 0 around it (INPLACE), after checking the data",
        sized=True,
        source="sakyum",
        docs=MYSQL_DOCS,
    ),
    "mysql-drop-column-rebuild": Rule(
        "rebuild (ALGORITHM=INPLACE)",
        "",
        REWRITE,
        "stop reading it first; MariaDB 10.4+ drops instantly",
        True,
        source="sakyum",
        docs=MYSQL_DOCS,
    ),
    "sqlite-batch-rebuild": Rule(
        "database write lock",
        WRITES,
        COPY,
        "run it when nothing writes; batch mode copies every row into a new table",
        sized=True,
        source="sakyum",
        docs=SQLITE_DOCS,
    ),
}
UNKNOWN = Rule()

# Rules that fire on nearly every statement of a migration run by this package, which sets its own
# timeouts (upgrade --lock-timeout / --statement-timeout): left out of squawk's run.
# squawk's style rules (bigint, identity, timestamptz...) say nothing of what a revision costs and fire on
# what Alembic writes by default (sa.Integer is int, a primary key is SERIAL): left out as well.
SQUAWK_EXCLUDED = (
    *("require-lock-timeout", "require-statement-timeout", "require-timeout-settings"),
    *("prefer-bigint-over-int", "prefer-bigint-over-smallint", "prefer-identity", "prefer-timestamp-tz"),
    *("ban-char-field", "prefer-robust-stmts"),
)

LARGE = 1_000_000
"""Rows from which a sized rule is an error; from a hundredth of it, a warning; below that, a note."""


def rule(rule_id: str) -> Rule:
    """The rule's effect; an unknown squawk rule is a warning with nothing more known."""
    return RULES.get(rule_id, UNKNOWN)


def severity(found: Rule, rows: int | None, large: int = LARGE) -> str:
    """error, warning or note: a sized rule's follows the table's rows (unknown rows: warning)."""
    if not found.sized:
        return found.severity
    if rows is None:
        return "warning"
    if rows >= large:
        return "error"
    return "warning" if rows >= large // 100 else "note"
