# Written by sakyum-magic's %migrate init. A standard Alembic configuration.

[alembic]
script_location = ${script_location}
prepend_sys_path = .
path_separator = os

# The database URL for the alembic CLI. $DATABASE_URL, when set, takes precedence.
# A URL with a password is written here without it: put the full URL in $DATABASE_URL instead.
sqlalchemy.url = ${url}

# Optional, for autogenerate from the CLI: where the models' metadata lives (package.module:attribute).
# sakyum_metadata = myapp.models:db

# The CLI adds a row per upgrade, downgrade and stamp step to the sakyum_migration_log table, as
# %migrate does. Uncomment to turn that off (or run alembic -x audit=false ...).
# sakyum_audit = false

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
