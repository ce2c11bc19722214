"""``%migrate schema``: an ER picture of the database, the models, a revision, or their difference.

The picture is one object with three forms, chosen by the front end through ``_repr_mimebundle_``:
``text/vnd.mermaid`` (paracelsus's Mermaid text, which JupyterLab 4.1+ and Notebook 7.1+ draw), an
SVG drawn here (:mod:`.er_draw`, for VS Code, nbconvert's HTML and nbviewer), and a text listing for
a terminal. Nothing is fetched and no program is run to draw it. This module is imported only when
a picture is made (SQLAlchemy is loaded by then).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.types import UserDefinedType

from .er_draw import draw_svg, draw_text
from .er_model import ADDED, REMOVED, ERTable

if TYPE_CHECKING:
    from sqlalchemy import MetaData

MERMAID = "text/vnd.mermaid"
# The note under a --diff picture, and its words in the text listing (no colours, nothing to hover).
LEGEND = f"Marked: {ADDED} (green, +), {REMOVED} (red, -), changed (amber, ~); hover a row for its detail."
TEXT_LEGEND = f"Marked: {ADDED} +, {REMOVED} -, changed ~."


@dataclass(frozen=True)
class SchemaDiagram:
    """An ER picture: its tables (with ``--diff`` marks), the Mermaid text, and what it shows."""

    title: str
    tables: tuple[ERTable, ...]
    mermaid: str | None = None
    """paracelsus's Mermaid text; None when the ``schema`` extra is not installed."""
    notes: tuple[str, ...] = ()
    command: str = field(default="", compare=False)
    equivalent: str = field(default="", compare=False)
    show_cli: bool = field(default=False, compare=False)

    def describe_with(self, **attributes: Any) -> SchemaDiagram:
        """Set ``command=``, ``equivalent=`` and ``show_cli=`` (as on a RevisionGraph); return itself."""
        for name, value in attributes.items():
            if name in {"command", "equivalent", "show_cli"}:
                object.__setattr__(self, name, value)
        return self

    def text(self) -> str:
        notes = [TEXT_LEGEND if note == LEGEND else note for note in self.notes]
        listing = ["", draw_text(self.tables)] if self.tables or not notes else []  # a note says "none"
        return "\n".join([self.title, *listing, *(["", *notes] if notes else [])])

    def svg(self) -> str:
        return draw_svg(self.tables, self.title)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Mermaid where the front end draws it, else the SVG, else text. JupyterLab prefers HTML to
        Mermaid and Mermaid to SVG (its renderers' ranks: 50, 61, 80), so HTML (the SVG with the
        footer) is offered only when there is no Mermaid text; VS Code and nbconvert take the SVG."""
        bundle = {"text/plain": repr(self), "image/svg+xml": self.svg()}
        if self.mermaid is not None:
            bundle[MERMAID] = f"---\ntitle: {_one_line(self.title)}\n---\n{self.mermaid}"
        else:
            bundle["text/html"] = self._html()
        return bundle

    def _html(self) -> str:
        from html import escape

        from .._display.footer import footer_html

        lines = [f'<div style="overflow-x:auto">{self.svg()}</div>']
        lines += [f"<p>{escape(note)}</p>" for note in self.notes]
        return "\n".join([*lines, *footer_html(self.command, self.equivalent, self.show_cli)])

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def __repr__(self) -> str:
        from .._display.footer import footer_lines
        from .._display.terminal import terminal_width

        footer = footer_lines(self.command, self.equivalent, self.show_cli, terminal_width())
        return "\n".join([self.text(), *footer])

    __str__ = __repr__


def _one_line(text: str) -> str:
    return " ".join(text.replace(":", " -").split())


def diagram(title: str, tables: Sequence[ERTable], notes: Sequence[str] = ()) -> SchemaDiagram:
    """The picture of ``tables``, with paracelsus's Mermaid text when paracelsus is installed."""
    text = mermaid(tables)
    extra = () if text is not None else ("pip install 'sakyum-magic[schema]' for the Mermaid form",)
    return SchemaDiagram(title, tuple(tables), text, (*notes, *extra))


def mermaid(tables: Sequence[ERTable]) -> str | None:
    """paracelsus's ``erDiagram`` of the tables; diff marks become column comments."""
    try:
        from paracelsus.transformers.mermaid import Mermaid
    except ImportError:
        return None
    return str(Mermaid(as_metadata(tables), "preserve-order"))


def as_metadata(tables: Sequence[ERTable]) -> MetaData:
    """A MetaData holding what the picture shows, for paracelsus: types as their SQL text (spaces
    joined with ``_``, which Mermaid's attribute types cannot hold), marks as comments."""
    import sqlalchemy as sa

    metadata = sa.MetaData()
    shown = {(t.key, c.name) for t in tables for c in t.columns}
    for table in tables:
        columns = []
        for column in table.columns:
            refers = _reference(table, column.references, shown)
            args: list[Any] = [sa.ForeignKey(refers)] if refers else []
            comment = f"{column.mark}: {column.detail}" if column.detail else column.mark or None
            columns.append(
                sa.Column(
                    column.name,
                    _Shown(column.type.replace(" ", "_")),
                    *args,
                    primary_key=column.primary_key,
                    nullable=column.nullable,
                    comment=comment,
                )
            )
        sa.Table(table.name, metadata, *columns, schema=table.schema)
    return metadata


def _reference(table: ERTable, references: str | None, shown: set[tuple[str, str]]) -> str | None:
    if references is None:
        return None
    target, column = references.rsplit(".", 1)
    key = f"{table.schema}.{target}" if table.schema and "." not in target else target
    return f"{key}.{column}" if (key, column) in shown else None


class _Shown(UserDefinedType):  # type: ignore[type-arg]
    """A column type that prints as the text it was given."""

    cache_ok = True

    def __init__(self, text: str) -> None:
        self.text = text

    def get_col_spec(self, **kw: Any) -> str:
        return self.text
