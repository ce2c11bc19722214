"""Taking mapped classes and tables back out of a declarative registry and its MetaData, and putting
them back: what re-running a model cell needs (see :mod:`sakyum_magic._frontend.models`).

SQLAlchemy can dispose of a whole registry (``registry.dispose()``) or drop a table from a MetaData
(``MetaData.remove``), but not dispose of one class, nor undo a half-run cell. The steps below are
the ones ``registry.dispose()`` takes for each class (``_dispose_cls``, then ``_set_dispose_flags``
and the instrumentation's ``unregister``), split so that a class is first *detached* (its name out of
the registry, its mapper out of the next ``configure()``) and only disposed once the cell that
replaces it has run; if that cell fails, the class is attached again as it was. The MetaData side is
a snapshot of the table dictionary and the foreign-key bookkeeping, restored as a whole. These names
are the same in SQLAlchemy 1.4.45 and 2.x (only ``clsregistry.add_class`` became ``_add_class``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy import MetaData, Table
    from sqlalchemy.orm import Mapper, registry


def registry_of(value: object) -> registry | None:
    """The declarative registry of a declarative base or a mapped class (None for anything else)."""
    import inspect as pyinspect

    from sqlalchemy.orm import registry as registry_type

    if not isinstance(value, type):
        return None
    # getattr_static: no descriptor or __getattr__ of the user's runs while a cell is only looked at.
    found = pyinspect.getattr_static(value, "registry", None)
    return found if isinstance(found, registry_type) else None


def managers(registry: registry) -> set[Any]:
    """The class managers of ``registry``: its mapped classes, and any class whose declaration failed
    half way (``registry.mappers`` raises for those, so it is not used here)."""
    return set(registry._managers)


def own_table(manager: Any) -> Table | None:
    """The table a mapped class declared itself (not a single-table subclass's parent table)."""
    from sqlalchemy import Table

    if not manager.is_mapped:
        return None
    mapper = manager.mapper
    table = mapper.local_table
    return table if isinstance(table, Table) and not mapper.single else None


def remove_table(table: Table) -> bool:
    """Take ``table`` out of its MetaData if it is still the one declared under its name."""
    metadata = table.metadata
    if metadata.tables.get(table.key) is not table:
        return False
    metadata.remove(table)
    return True


# -- classes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Detached:
    """A mapped class taken out of its registry, to be disposed of or attached again."""

    cls: type
    registry: registry
    manager: Any


def detach(manager: Any) -> Detached:
    """Take a class out of its registry: its name no longer resolves in ``relationship("Name")``,
    and the registry's next ``configure()`` leaves its mapper alone. The class itself still works."""
    registry = manager.registry
    registry._dispose_cls(manager.class_)
    registry._managers.pop(manager, None)
    return Detached(manager.class_, registry, manager)


def attach(detached: Detached) -> None:
    """Undo :func:`detach`."""
    from sqlalchemy.orm import clsregistry

    registry_module: Any = clsregistry
    add_class = getattr(registry_module, "_add_class", None) or registry_module.add_class  # 2.x, 1.4
    add_class(detached.cls.__name__, detached.cls, detached.registry._class_registry)
    detached.registry._managers[detached.manager] = True


def dispose_detached(detached: Detached) -> None:
    """Dispose of a detached class as ``registry.dispose()`` would (its name is already gone)."""
    from sqlalchemy.orm import instrumentation

    if detached.manager.is_mapped:
        detached.manager.mapper._set_dispose_flags()
    instrumentation._instrumentation_factory.unregister(detached.cls)


def dispose(registry: registry, manager: Any) -> None:
    """Dispose of one class still in its registry (declared by a cell that then failed), as
    ``registry.dispose()`` does for each of its classes."""
    registry._managers.pop(manager, None)
    registry._dispose_manager_and_mapper(manager)


def stale_relationships(replaced: set[Mapper[Any]], registries: set[registry]) -> list[str]:
    """``Class.attribute`` for each configured relationship, outside the replaced classes, that still
    points at one of the ``replaced`` mappers (only re-running the cell that declares it mends it)."""
    from sqlalchemy.orm import RelationshipProperty

    found = []
    for registry in registries:
        for manager in managers(registry):
            mapper = manager.mapper if manager.is_mapped else None
            if mapper is None or not mapper.configured or mapper in replaced:
                continue
            for prop in mapper.iterate_properties:
                if isinstance(prop, RelationshipProperty) and prop.mapper in replaced:
                    found.append(f"{mapper.class_.__name__}.{prop.key}")
    return sorted(found)


# -- tables --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetadataState:
    """A MetaData's tables and the bookkeeping that links foreign keys to them, as they were."""

    metadata: MetaData
    tables: dict[str, Table]
    memos: dict[Any, list[Any]]
    schemas: set[str]
    sequences: dict[str, Any]
    targets: dict[Any, Any]


def metadata_state(metadata: MetaData) -> MetadataState:
    """Snapshot ``metadata`` (cheap: dictionaries of references, nothing is copied deeply)."""
    targets = {
        fk: fk.__dict__.get("column")  # the memoized target column, None while unresolved
        for table in metadata.tables.values()
        for fk in table.foreign_keys
    }
    return MetadataState(
        metadata,
        dict(metadata.tables),
        {key: list(fks) for key, fks in metadata._fk_memos.items()},
        set(metadata._schemas),
        dict(metadata._sequences),
        targets,
    )


def restore(state: MetadataState) -> None:
    """Put ``state.metadata`` back as it was when the snapshot was taken.

    Declaring a table re-targets the foreign keys of other tables that name it (SQLAlchemy keeps a
    memo of them), so those targets are put back too.
    """
    metadata = state.metadata
    dict.clear(metadata.tables)
    dict.update(metadata.tables, state.tables)
    metadata._fk_memos.clear()
    metadata._fk_memos.update({key: list(fks) for key, fks in state.memos.items()})
    metadata._schemas = set(state.schemas)
    metadata._sequences = dict(state.sequences)
    for fk, column in state.targets.items():
        if column is None:
            fk.__dict__.pop("column", None)
        else:
            fk.__dict__["column"] = column
