"""``revision --autogenerate --rename-table OLD:NEW``: the drop + create pair becomes a rename.

The upgrade gets ``op.rename_table(OLD, NEW)`` where autogenerate put ``drop_table(OLD)``, and the
downgrade the rename back. Index operations of the two tables that cancel out (the index kept its
name as the table moved) are left out; the others stay, now on the renamed table. On PostgreSQL the
sequences, primary key and indexes whose names embed the old table name are renamed with it
(:mod:`.pg_names`), each as an ``op.execute`` line in the revision.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .._core.errors import ConfigurationError
from .pg_names import Renamed, embedded_names, rename_statement
from .renames import TableRename, column_differences

if TYPE_CHECKING:
    from sqlalchemy import Table


def renaming_hook(renames: Sequence[TableRename], then: Callable[..., None]) -> Callable[..., None]:
    """A process_revision_directives hook that applies the table renames, then calls ``then``
    (the hook that applies column renames, records the operations and guards against drops)."""

    def hook(context: Any, revision: Any, directives: list[Any]) -> None:
        if directives and renames:
            apply_table_renames(context.bind, directives[0], renames)
        then(context, revision, directives)

    return hook


def apply_table_renames(connection: Any, script: Any, renames: Sequence[TableRename]) -> None:
    """Turn each named drop + create pair into ``rename_table`` (and its companions), both ways."""
    _register_renderer()
    for rename in renames:
        found = False
        for upgrade, downgrade in zip(script.upgrade_ops_list, script.downgrade_ops_list, strict=True):
            pair = _pair(upgrade, rename.schema, rename.old, rename.new)
            if pair is None:
                continue
            _require_same_columns(rename, *pair)
            schema = pair[0].schema
            names = embedded_names(connection, schema, rename.old, rename.new)
            _rename_in(upgrade, schema, rename.old, rename.new, names)
            _rename_in(downgrade, schema, rename.new, rename.old, [n.backwards() for n in reversed(names)])
            found = True
        if not found:
            raise ConfigurationError(
                f"--rename-table {rename}: autogenerate found no dropped table {rename.old} with an "
                f"added table {rename.new}; check the names with %migrate diff"
            )


def _pair(container: Any, schema: str | None, old: str, new: str) -> tuple[Table, Table] | None:
    from alembic.operations import ops

    drop = _find(container.ops, ops.DropTableOp, schema, old)
    create = _find(container.ops, ops.CreateTableOp, schema, new)
    if drop is None or create is None:
        return None
    return drop.to_table(), create.to_table()


def _find(operations: Iterable[Any], kind: type, schema: str | None, table: str) -> Any:
    for found in operations:
        named = isinstance(found, kind) and getattr(found, "table_name", None) == table
        if named and (schema is None or getattr(found, "schema", None) == schema):
            return found
    return None


def _require_same_columns(rename: TableRename, old: Table, new: Table) -> None:
    differences = column_differences(old, new)
    if differences:
        raise ConfigurationError(
            f"--rename-table {rename}: the columns differ ({'; '.join(differences[:3])}), so the rows "
            "cannot be kept as they are: rename with the old columns first, then change them in "
            "another revision"
        )


def _rename_in(container: Any, schema: str | None, old: str, new: str, names: list[Renamed]) -> None:
    """Replace drop(old) + create(new), with their index operations, by rename(old, new) + the rest."""
    from alembic.operations import ops

    drop = _find(container.ops, ops.DropTableOp, schema, old)
    before = _find(container.ops, ops.ModifyTableOps, schema, old)
    after = _find(container.ops, ops.ModifyTableOps, schema, new)
    kept = _index_changes(before.ops if before else [], after.ops if after else [], new, names)
    replacement: list[Any] = [ops.RenameTableOp(old, new, schema=schema)]
    replacement += [ops.ExecuteSQLOp(rename_statement(schema, n)) for n in names]
    if kept:
        replacement.append(ops.ModifyTableOps(new, kept, schema=schema))
    for done in (before, after, _find(container.ops, ops.CreateTableOp, schema, new)):
        if done is not None:
            container.ops.remove(done)
    position = container.ops.index(drop)
    container.ops[position : position + 1] = replacement


def _index_changes(dropped: list[Any], created: list[Any], new: str, names: list[Renamed]) -> list[Any]:
    """The old table's index/constraint drops and the new one's creates that do not cancel out: a
    drop whose (renamed) name the new table creates again is the same index moved with the table."""
    renamed = {n.old: n.new for n in names}
    creates = {_name(o): o for o in created if _name(o) is not None}
    drops = []
    for operation in dropped:
        name = _name(operation)
        current = renamed.get(name, name) if name is not None else None
        twin = creates.get(current) if current is not None else None
        if twin is not None and _same_index(operation, twin):
            created.remove(twin)
            del creates[current]
            continue
        _retarget(operation, new, current)
        drops.append(operation)
    return [*drops, *created]


def _name(operation: Any) -> str | None:
    name = getattr(operation, "index_name", None) or getattr(operation, "constraint_name", None)
    return None if name is None else str(name)


def _same_index(drop: Any, create: Any) -> bool:
    """The same kind of object on the same columns (and as unique), so it need not be rebuilt."""
    from alembic.operations import ops

    if isinstance(drop, ops.DropIndexOp) and isinstance(create, ops.CreateIndexOp):
        before, after = drop.to_index(), create.to_index()
        return [str(getattr(c, "name", c)) for c in before.expressions] == [
            str(getattr(c, "name", c)) for c in after.expressions
        ] and bool(before.unique) == bool(after.unique)
    return type(drop).__name__.replace("Drop", "") == type(create).__name__.replace("Add", "").replace(
        "Create", ""
    )


def _retarget(operation: Any, table: str, name: str | None) -> None:
    """An operation on the old table now runs after the rename: on the new table, by its new name."""
    if hasattr(operation, "table_name"):
        operation.table_name = table
    if name is not None and getattr(operation, "index_name", None) is not None:
        operation.index_name = name
    elif name is not None and getattr(operation, "constraint_name", None) is not None:
        operation.constraint_name = name


_registered: list[bool] = []


def _register_renderer() -> None:
    """Alembic's autogenerate has no renderer for RenameTableOp (it never detects a rename); add one
    through its documented extension point, once."""
    if _registered:
        return
    from alembic.autogenerate import renderers
    from alembic.operations import ops

    @renderers.dispatch_for(ops.RenameTableOp)
    def render_rename_table(autogen_context: Any, op: Any) -> str:
        prefix = autogen_context.opts.get("alembic_module_prefix", "op.")
        schema = f", schema={op.schema!r}" if op.schema else ""
        return f"{prefix}rename_table({op.table_name!r}, {op.new_table_name!r}{schema})"

    _registered.append(True)
