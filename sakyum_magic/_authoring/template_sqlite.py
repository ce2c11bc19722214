"""SQLite's part of the env.py ``%migrate init`` writes (see :mod:`sakyum_magic._authoring.template_env`).

Run from the plain ``alembic`` CLI, env.py opens its own engine; on SQLite it gets the same
transactional-DDL recipe as the magic's engines (:func:`sakyum_magic._run.database.create_engine`): the
driver's own transaction handling off, SQLAlchemy's ``BEGIN`` (IMMEDIATE for the migration) instead,
so a revision's DDL and its version update commit together or not at all, as they do in the magic.
"""

SQLITE_DDL = '''\
# -- SQLite: each revision's DDL inside its transaction, as %migrate runs it (SQLAlchemy's pysqlite
# recipe). Only an engine of this file's own (the CLI) gets it here: the magic's engines have it.


def transactional_sqlite(engine):
    """Whether ``engine`` is SQLite through pysqlite, now with SQLAlchemy issuing BEGIN itself."""
    if engine.dialect.name != "sqlite" or engine.dialect.driver != "pysqlite":
        return False

    @event.listens_for(engine, "connect")
    def driver_leaves_transactions_alone(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")  # a batch rebuild would cascade deletes

    @event.listens_for(engine, "begin")
    def begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return True


'''
