"""The lines under every result: the ``%migrate`` line that made it and its ``alembic`` equivalent.

Shared by tables and texts (:mod:`sakyum_magic._display.results`) and the revision graph
(:mod:`sakyum_magic._features.graph`); plain strings,
no pandas, so drawing a graph does not import it.
"""

from __future__ import annotations

import html

QUIET = "color: #777; font-size: smaller"


def equivalent_html(line: str) -> str:
    """The ``alembic`` line as a quiet paragraph, the command (between backquotes) as code."""
    first, last = line.find("`"), line.rfind("`")
    if first == -1 or last == first:
        return f'<p style="{QUIET}">{html.escape(line)}</p>'
    command = f"<code>{html.escape(line[first + 1 : last])}</code>"
    return f'<p style="{QUIET}">{html.escape(line[:first])}{command}{html.escape(line[last + 1 :])}</p>'


def footer_lines(command: str, equivalent: str, show_cli: bool, width: int | None = None) -> list[str]:
    """The lines under a result: its ``%migrate`` line, then its ``alembic`` line (while ``show_cli``),
    each wrapped at word boundaries to ``width`` when one is given."""
    from .terminal import wrap_prose

    lines = ([f"({command})"] if command else []) + ([equivalent] if show_cli and equivalent else [])
    return [part for line in lines for part in wrap_prose(line, width)] if width else lines


def footer_html(command: str, equivalent: str, show_cli: bool) -> list[str]:
    """:func:`footer_lines` as quiet paragraphs, the commands as code."""
    parts = [f'<p style="{QUIET}"><code>{html.escape(command)}</code></p>'] if command else []
    return parts + ([equivalent_html(equivalent)] if show_cli and equivalent else [])
