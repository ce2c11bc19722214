"""The applied-at log's part of the env.py ``%migrate init`` writes (see
:mod:`sakyum_magic._authoring.template_env`).

Run from the plain ``alembic`` CLI, env.py logs each step as :mod:`sakyum_magic._guards.audit` does for the
magic: the same table and the same rows, in the step's transaction, re-implemented here so that
env.py runs where sakyum_magic is not installed. Run from the magic, env.py logs nothing: the magic's
own ``on_version_apply`` hook does, once per step.
"""

STEP_LOG = '''\
# -- The applied-at log %migrate keeps (same table and rows as sakyum_magic/audit.py). Only a run on
# a connection of this file's own (the CLI) logs here: when the magic runs this file, it logs itself.

LOG_TABLE = "sakyum_migration_log"
ON, OFF = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def log_table():
    return Table(
        LOG_TABLE,
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("applied_at", String(40), nullable=False),
        Column("revision", String(255), nullable=False),
        Column("from_revision", String(255), nullable=False),
        Column("to_revision", String(255), nullable=False),
        Column("direction", String(16), nullable=False),
        Column("seconds", Float, nullable=True),
        Column("ok", Boolean, nullable=False),
        Column("who", String(255), nullable=False),
        Column("tool", String(64), nullable=False),
    )


def audit_wanted():
    """alembic -x audit=false, else sakyum_audit = false in alembic.ini, turns the log off."""
    value = context.get_x_argument(as_dictionary=True).get("audit") or config.get_main_option("sakyum_audit")
    if value is None:
        return True
    if value.strip().lower() not in ON + OFF:
        raise CommandError(f"audit is true or false, not {value!r}: -x audit=false, or sakyum_audit = false")
    return value.strip().lower() in ON


def who():
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "unknown"


def log_row(revision, before, after, direction, seconds, ok):
    return {
        "applied_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        "revision": revision,
        "from_revision": before,
        "to_revision": after,
        "direction": direction,
        "seconds": seconds,
        "ok": ok,
        "who": who(),
        "tool": f"alembic {alembic_version} via env.py",
    }


class StepLog:
    """An on_version_apply hook adding one row per step, in the step's transaction with its version update."""

    def __init__(self, connection):
        self.connection, self.table, self.created = connection, log_table(), False
        self.running = None  # (revision, direction, start) of the revision function running now

    def watch(self, script):
        """Wrap each revision's upgrade() and downgrade(): the log learns when a step starts, and which."""
        for revision in script.walk_revisions():
            for name, direction in (("upgrade", "up"), ("downgrade", "down")):
                function = getattr(revision.module, name, None)
                if function is not None:
                    setattr(revision.module, name, self.timed(revision.revision, direction, function))

    def timed(self, revision, direction, function):
        @functools.wraps(function)  # Alembic logs "Running upgrade ..." from the function's name
        def timed_function(*args, **kw):
            self.running = (revision, direction, time.perf_counter())
            self.create_table()  # before the revision's statements: on MySQL/MariaDB DDL commits at once
            return function(*args, **kw)

        return timed_function

    def create_table(self):
        if not self.created:
            self.table.create(self.connection, checkfirst=True)
            self.created = True

    def __call__(self, *, ctx, step, heads, run_args):
        self.create_table()  # a stamp runs no revision function
        direction = "stamp" if step.is_stamp else ("up" if step.is_upgrade else "down")
        before = ", ".join(step.source_revision_ids) or "base"
        after = ", ".join(step.destination_revision_ids) or "base"
        revision = getattr(step, "up_revision_id", None) or ", ".join(step.up_revision_ids) or "base"
        seconds = round(time.perf_counter() - self.running[2], 4) if self.running else 0.0
        row = log_row(revision, before, after, direction, seconds, True)
        ctx.connection.execute(self.table.insert().values(row))
        self.running = None

    def log_failure(self, engine):
        """Log the revision that failed, after its rollback, on a connection of its own."""
        if self.running is None:  # no revision was running: the failure is no step's
            return
        revision, direction, _ = self.running
        with engine.connect() as connection:
            before = ", ".join(sorted(MigrationContext.configure(connection).get_current_heads())) or "base"
            self.table.create(connection, checkfirst=True)
            row = log_row(revision, before, before, direction, None, False)
            connection.execute(self.table.insert().values(row))
            connection.commit()


'''
