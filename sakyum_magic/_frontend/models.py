"""Model cells that can be run again after an edit: the new declarations replace the cell's earlier ones.

A model cell declares ORM classes on a declarative base from an earlier cell (``class User(Base)``,
``class User(db.Model)``), and perhaps plain tables (``sa.Table("tags", Base.metadata, ...)``).
Run a second time, SQLAlchemy refuses it ("Table 'users' is already defined for this MetaData
instance"). :class:`ModelCells` makes the second run a replacement:

- :meth:`ModelCells.prepare`, before the cell runs, finds what the cell's previous run declared (by
  the notebook's cell id, else by the class names the two runs share) plus the classes of the same
  names declared in the notebook, takes their tables out of the MetaData and their classes out of
  the registry (:mod:`sakyum_magic._frontend.mappings`), and snapshots the MetaData first;
- :meth:`ModelCells.finish`, after it ran, either disposes of the old classes and remembers what
  this run declared, or, when the cell failed, disposes of what it half declared and puts the
  MetaData and the registry back exactly as they were before the cell.

So columns edited, added and removed take effect, a class taken out of the cell leaves the
metadata, relationships and foreign keys by name resolve to the new classes, and the other tables
of the same MetaData are untouched. Only classes declared in the notebook itself (``__module__`` is
the notebook's) are ever replaced, never one imported from a package. Nothing here needs IPython.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import mappings
from .mappings import Detached, MetadataState

if TYPE_CHECKING:
    from sqlalchemy import MetaData, Table
    from sqlalchemy.orm import registry


@dataclass(frozen=True)
class CellShape:
    """What a cell's source says it declares, read without running it."""

    classes: frozenset[str]
    tables: frozenset[str]
    registries: tuple[registry, ...]
    names: frozenset[str] = frozenset()


def cell_shape(source: str, namespace: Mapping[str, Any]) -> CellShape | None:
    """The top-level classes and ``Table("name", ...)`` calls of ``source``, and the registries of the
    declarative bases its classes name from ``namespace``; None when the source does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    local = _bound_names(tree.body)
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    found: dict[int, registry] = {}
    for node in classes:
        for base in node.bases:
            value = _resolve(base, namespace, local)
            declared = mappings.registry_of(value) if value is not None else None
            if declared is not None:
                found[id(declared)] = declared
    return CellShape(
        frozenset(node.name for node in classes),
        frozenset(_table_names(tree.body)),
        tuple(found.values()),
        frozenset(local),
    )


def _bound_names(body: list[ast.stmt]) -> set[str]:
    """Names the cell itself binds at top level (a base it defines is not one from an earlier cell)."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _resolve(expression: ast.expr, namespace: Mapping[str, Any], local: set[str]) -> object | None:
    """The value of a base written ``Name`` or ``name.attr`` (no code of the user's runs)."""
    import inspect

    path: list[str] = []
    while isinstance(expression, ast.Attribute):
        path.insert(0, expression.attr)
        expression = expression.value
    if not isinstance(expression, ast.Name) or expression.id in local or expression.id not in namespace:
        return None
    value: object = namespace[expression.id]
    for attribute in path:
        value = inspect.getattr_static(value, attribute, None)
    return value


def _table_names(body: list[ast.stmt]) -> Iterable[str]:
    """Names given to ``Table("name", ...)`` (or ``sa.Table``) in top-level statements."""
    for node in body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign | ast.Expr) else None
        if not isinstance(value, ast.Call) or not value.args:
            continue
        function, first = value.func, value.args[0]
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        if name == "Table" and isinstance(first, ast.Constant) and isinstance(first.value, str):
            yield first.value


@dataclass
class Record:
    """What one run of a model cell declared: its classes (by their SQLAlchemy class managers) and
    tables, and the class names it holds."""

    cell_id: str | None
    names: frozenset[str]
    managers: list[Any]
    tables: list[Table]


@dataclass
class Pending:
    """A model cell about to run: what was taken out for it, and how to put it back."""

    shape: CellShape
    cell_id: str | None
    previous: Record | None
    detached: list[Detached]
    removed: list[Table]
    states: list[MetadataState]
    registries: list[registry]
    bindings: dict[str, Any] = field(default_factory=dict)
    managers_before: set[Any] = field(default_factory=set)
    tables_before: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Outcome:
    """What a model cell's run did to the models (names, for a one-line note)."""

    ok: bool
    declared: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    tables_removed: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()


class ModelCells:
    """The model cells run so far (one :class:`Record` each) and the replacing of their declarations."""

    def __init__(self, module: str = "__main__") -> None:
        self.module = module
        self.records: list[Record] = []

    def prepare(
        self,
        shape: CellShape,
        namespace: Mapping[str, Any],
        cell_id: str | None = None,
        forced: bool = False,
    ) -> Pending | None:
        """Take out what the cell's previous run declared; None when the cell (its
        :func:`cell_shape`) is no model cell (``forced``: the user said it is one, ``%%migrate models``)."""
        previous = self._previous(shape, cell_id)
        if not (shape.registries or previous or forced):
            return None
        registries = _unique([*shape.registries, *_registries_of(previous)])
        replaced = self._replaced(shape, previous, registries)
        tables = _unique([*(previous.tables if previous else []), *_own_tables(replaced)])
        metadatas = _unique([*(r.metadata for r in registries), *(t.metadata for t in tables)])
        if forced:  # %%migrate models: also the tables its Table("name", ...) calls declare again
            metadatas = _unique([*metadatas, *_candidates(namespace)])
            tables += [t for t in _named(metadatas, shape.tables) if all(t is not k for k in tables)]
        states = [mappings.metadata_state(m) for m in metadatas]
        detached = [mappings.detach(manager) for manager in replaced]
        removed = [table for table in tables if mappings.remove_table(table)]
        pending = Pending(shape, cell_id, previous, detached, removed, states, registries)
        pending.bindings = {name: namespace[name] for name in shape.names if name in namespace}
        pending.managers_before = _managers(registries)
        pending.tables_before = _table_ids(metadatas)
        return pending

    def finish(self, pending: Pending, ok: bool, namespace: MutableMapping[str, Any]) -> Outcome:
        """After the cell ran: keep its declarations (``ok``), or put the models back as they were
        before the cell (the MetaData, the registry, and the names the cell bound to them)."""
        new_managers = _managers(pending.registries) - pending.managers_before
        new_tables = [
            table
            for state in pending.states
            for table in state.metadata.tables.values()
            if id(table) not in pending.tables_before
        ]
        new_tables = _unique([*new_tables, *_own_tables(new_managers)])
        if not ok:
            self._undo(pending, new_managers, new_tables)
            undone = [*(manager.class_ for manager in new_managers), *new_tables]
            _rebind(namespace, pending.bindings, {id(x) for x in undone})
            return Outcome(ok=False)
        replaced = {d.manager.mapper for d in pending.detached if d.manager.is_mapped}
        for detached in pending.detached:
            mappings.dispose_detached(detached)
        declared = sorted(new_managers, key=_name)
        names = pending.shape.classes | {_name(manager) for manager in declared}
        record = Record(pending.cell_id, names, declared, new_tables)
        self._remember(record, pending)
        stale = mappings.stale_relationships(replaced, set(pending.registries))
        return _outcome(pending, record, stale)

    # -- which declarations a run replaces ----------------------------------------------------

    def _previous(self, shape: CellShape, cell_id: str | None) -> Record | None:
        """The record of this cell's previous run: same cell id, else the latest sharing a name."""
        for record in reversed(self.records):
            if cell_id is not None and record.cell_id == cell_id:
                return record
        for record in reversed(self.records):
            other_cell = cell_id is not None and record.cell_id is not None
            shared = record.names & shape.classes or {t.name for t in record.tables} & shape.tables
            if shared and not other_cell:
                return record
        return None

    def _replaced(self, shape: CellShape, previous: Record | None, registries: list[registry]) -> list[Any]:
        """The managers of the previous run's classes still in their registry, and of the notebook's
        classes the cell declares again (a class whose declaration failed half way included)."""
        present = _managers(registries)
        named = {m for m in present if _name(m) in shape.classes and m.class_.__module__ == self.module}
        kept = [manager for manager in (previous.managers if previous else []) if manager in present]
        return _unique([*kept, *sorted(named - set(kept), key=_name)])

    def _remember(self, record: Record, pending: Pending) -> None:
        """Replace the previous run's record; other cells' records lose what this one re-declared."""
        gone = {id(d.manager) for d in pending.detached} | {id(t) for t in pending.removed}
        kept = []
        for other in self.records:
            if other is pending.previous:
                continue
            other.managers = [manager for manager in other.managers if id(manager) not in gone]
            other.tables = [table for table in other.tables if id(table) not in gone]
            other.names = frozenset(map(_name, other.managers))
            if other.managers or other.tables:
                kept.append(other)
        self.records = [*kept, record] if record.managers or record.tables else kept

    def _undo(self, pending: Pending, new_managers: set[Any], new_tables: list[Table]) -> None:
        """The cell failed: dispose of what it declared, put the metadata and old classes back."""
        for manager in new_managers:
            mappings.dispose(manager.registry, manager)
        for state in pending.states:
            mappings.restore(state)
        for table in new_tables:  # declared in a MetaData no snapshot covers (a Flask-SQLAlchemy bind)
            if all(table.metadata is not state.metadata for state in pending.states):
                mappings.remove_table(table)
        for detached in pending.detached:
            mappings.attach(detached)


def _rebind(namespace: MutableMapping[str, Any], before: dict[str, Any], undone: set[int]) -> None:
    """Names the failed cell bound to a class or table it declared get their earlier value back."""
    for name, value in list(namespace.items()):
        if id(value) not in undone:
            continue
        if name in before:
            namespace[name] = before[name]
        else:
            del namespace[name]


def _name(manager: Any) -> str:
    """The name of a manager's class."""
    return str(manager.class_.__name__)


def _registries_of(record: Record | None) -> list[registry]:
    return [manager.registry for manager in record.managers] if record else []


def _own_tables(managers: Iterable[Any]) -> list[Table]:
    return [table for table in map(mappings.own_table, managers) if table is not None]


def _candidates(namespace: Mapping[str, Any]) -> list[MetaData]:
    """The MetaData objects the namespace holds (a MetaData, a Base, a db)."""
    from .._core.binding import find_candidates

    return list(find_candidates(namespace).values())


def _named(metadatas: Iterable[MetaData], names: frozenset[str]) -> list[Table]:
    return [t for m in metadatas for t in m.tables.values() if t.name in names]


def _outcome(pending: Pending, record: Record, stale: list[str]) -> Outcome:
    declared = sorted(_name(manager) for manager in record.managers if manager.is_mapped)
    before = [d.cls.__name__ for d in pending.detached]
    now_keys = {t.key for state in pending.states for t in state.metadata.tables.values()}
    now_keys |= {t.key for t in record.tables}
    return Outcome(
        ok=True,
        declared=tuple(declared),
        replaced=tuple(name for name in before if name in declared),
        removed=tuple(name for name in before if name not in declared),
        tables_removed=tuple(sorted(t.key for t in pending.removed if t.key not in now_keys)),
        stale=tuple(stale),
    )


def _managers(registries: Iterable[registry]) -> set[Any]:
    return {manager for registry in registries for manager in mappings.managers(registry)}


def _table_ids(metadatas: Iterable[MetaData]) -> set[int]:
    return {id(table) for metadata in metadatas for table in metadata.tables.values()}


def _unique(items: Iterable[Any]) -> list[Any]:
    """Items in order, each object once (by identity: a MetaData or registry compares by identity)."""
    seen: dict[int, Any] = {}
    for item in items:
        seen.setdefault(id(item), item)
    return list(seen.values())
