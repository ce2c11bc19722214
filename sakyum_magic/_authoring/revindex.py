"""The revision index: each revision file's header, kept on disk, so that reading the map needs no import.

``history``, ``heads``, ``branches``, ``current``, ``show``, the graph and completion need each file's
identifiers, ``down_revision``, branch labels, ``depends_on`` and docstring, not its executed module.
Alembic imports every file to get them. Here a file whose header is literal (those four names
assigned once, at the top level, to a string, None or a tuple or list of strings) is read with
:mod:`ast` once, and what it says is kept in an index under the user's cache directory
(``$XDG_CACHE_HOME/sakyum-magic/revisions``, or ``~/.cache/...``: nothing is written beside the
revision files, where git or the ``alembic`` CLI would see it). An entry is used only while its
file has the same path, size, modification time and content hash (every file is read and hashed
on each load, so an edit that keeps size and mtime is still noticed); a stale, missing or corrupt
index is rebuilt, never trusted. A file whose header is not literal is imported as Alembic imports
it (and never indexed). Commands that run migrations always import every file.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import marshal
import os
import re
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.script import Script, ScriptDirectory

FORMAT = 1
NAMES = ("revision", "down_revision", "branch_labels", "depends_on")
_SOURCE_FILE = re.compile(r"(?!\.\#|__init__)(.*\.py)$")  # the files Alembic reads (not sourceless)
_Entry = tuple[int, int, bytes, "tuple[Any, ...] | None"]
Fingerprint = dict[str, tuple[int, int, int]]


def cache_dir() -> Path:
    """Where the indexes live: the user's cache directory."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "sakyum-magic" / "revisions"


def light_directory(directory: ScriptDirectory, files: Fingerprint) -> ScriptDirectory | None:
    """A copy of ``directory`` whose revision map is built from the index (no file executed), or None
    where only Alembic's own loading will do (sourceless files)."""
    from alembic.script.revision import RevisionMap

    if directory.sourceless:
        return None
    where = f"{os.path.abspath(directory.dir)}\0{directory.version_locations}"
    index_path = cache_dir() / (hashlib.blake2b(where.encode(), digest_size=12).hexdigest() + ".idx")
    index = _load(index_path)
    fresh = {}
    for path in _revision_files(files):
        entry = _entry(path, files[path], index.get(path))
        if entry is None:
            return None  # the file vanished meanwhile: let Alembic's load report it
        fresh[path] = entry
    if fresh != index:
        _save(index_path, fresh)
    if any(entry[3] is None for entry in fresh.values()):
        return None  # a header that is not literal: Alembic imports every file
    folders: dict[str, str] = {}  # Alembic names each file by its resolved path

    def resolved(path: str) -> str:
        folder, name = os.path.split(path)
        if folder not in folders:
            folders[folder] = str(Path(folder).resolve())
        return os.path.join(folders[folder], name)

    scripts = [_script(resolved(path), entry[3]) for path, entry in fresh.items() if entry[3] is not None]
    light = copy.copy(directory)
    light.revision_map = RevisionMap(lambda: iter(scripts))
    return light


def _revision_files(files: Fingerprint) -> list[str]:
    """The paths Alembic would load, in its order (each folder's files sorted, then its sub-folders)."""
    found = [p for p in files if "__pycache__" not in Path(p).parts and _SOURCE_FILE.match(Path(p).name)]
    return sorted(found, key=lambda p: (Path(p).parent.parts, os.path.basename(p)))


def _entry(path: str, state: tuple[int, int, int], known: _Entry | None) -> _Entry | None:
    """The index entry of ``path``: the known one if size, mtime and content hash still match."""
    try:
        with open(path, "rb") as handle:
            source = handle.read()
    except OSError:
        return None
    digest = hashlib.blake2b(source, digest_size=16).digest()
    if _valid(known) and known is not None and known[:3] == (state[0], state[1], digest):
        return known
    return (state[0], state[1], digest, header(source))


def _valid(entry: Any) -> bool:
    """Whether an entry read from disk has the shape this version writes (a corrupt one is re-read)."""
    if not (isinstance(entry, tuple) and len(entry) == 4):
        return False
    found = entry[3]
    return found is None or (isinstance(found, tuple) and len(found) == 5 and isinstance(found[0], str))


def header(source: bytes) -> tuple[Any, ...] | None:
    """(revision, down_revision, branch_labels, depends_on, docstring) read from a file's source, or
    None when they are not all literal (the file must be imported)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    values: dict[str, Any] = {}
    for node in tree.body:
        target, value = _assignment(node)
        if target in NAMES:
            if target in values:
                return None
            try:
                values[target] = ast.literal_eval(value)
            except ValueError:
                return None
    stores = [n for n in ast.walk(tree) if _binds(n)]
    if len(stores) != len(values) or "down_revision" not in values:
        return None
    if not isinstance(values.get("revision"), str):
        return None
    if not all(_revision_ids(values.get(name)) for name in NAMES):
        return None
    docstring = ast.get_docstring(tree, clean=False)
    return (*(values.get(name) for name in NAMES), docstring)


def _assignment(node: ast.stmt) -> tuple[str | None, Any]:
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id, node.value
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
        return node.target.id, node.value
    return None, None


def _binds(node: ast.AST) -> bool:
    """Whether ``node`` binds one of the header names (any assignment, import, def, global...)."""
    if isinstance(node, ast.Name):
        return isinstance(node.ctx, ast.Store) and node.id in NAMES
    if isinstance(node, ast.alias):
        return (node.asname or node.name).split(".")[0] in NAMES or node.name == "*"
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return node.name in NAMES
    return isinstance(node, ast.Global | ast.Nonlocal) and bool(set(node.names) & set(NAMES))


def _revision_ids(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return True
    return isinstance(value, tuple | list) and all(isinstance(item, str) for item in value)


def _script(path: str, header: tuple[Any, ...]) -> Script:
    """A Script from the header: its module a namespace holding the header's names and docstring."""
    from alembic.script import Script

    revision, down, labels, depends, doc = header
    module: Any = SimpleNamespace(down_revision=down, branch_labels=labels, depends_on=depends, __doc__=doc)
    return Script(module, revision, path)


def _load(path: Path) -> dict[str, _Entry]:
    try:
        data = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if not (isinstance(data, tuple) and len(data) == 2 and data[0] == FORMAT and isinstance(data[1], dict)):
        return {}
    return data[1]


def _save(path: Path, entries: dict[str, _Entry]) -> None:
    """Write the index atomically (another process may be reading it); a read-only cache is no error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(marshal.dumps((FORMAT, entries)))
        os.replace(temporary, path)
    except OSError:
        return
