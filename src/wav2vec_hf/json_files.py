"""The one JSON writer of the package: ``write_json`` (atomic, durable).

Run records (``results.json``, ``trainer_state.json``, ``pretraining_summary.json``, ``attrs.json``,
self-training's stage files, ...) are read by reruns, other processes and the Hub cards; a crash in
the middle of a write must leave either the old file or the new one. So the content goes to a
hidden temporary file beside the target (``.<name>.partial-<pid>-<thread>``: never listed as a
run file, never mistaken for one by pyctcdecode's three-file rule), is flushed to disk, and
replaces the target in one ``os.replace``. A failure (a value JSON cannot hold, a full disk)
removes the temporary file and leaves the target as it was. The file gets the usual permissions
(the process umask), and ends with a newline.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from pathlib import Path
from typing import Any


def write_json(
    path: str | os.PathLike[str], payload: Any, *, indent: int | None = 2, sort_keys: bool = False
) -> Path:
    """Write ``payload`` as JSON to ``path`` atomically (see the module docstring); returns the path.

    Args:
        path: the target (its folder is created).
        payload: anything ``json`` writes; other objects (paths, ...) as ``str``.
        indent: ``None`` for one line.
        sort_keys: keys in sorted order.

    Raises:
        ValueError, TypeError: the payload cannot be written as JSON (a circular reference, ...).
        OSError: the folder cannot be written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial-{os.getpid()}-{threading.get_ident()}")
    try:
        text = json.dumps(payload, indent=indent, sort_keys=sort_keys, default=str)
        with open(temporary, "w", encoding="utf-8") as stream:
            stream.write(text + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def record_from_dict(record_type: type, content: dict[str, Any] | None):
    """The dataclass ``record_type`` from a JSON object read back: keys it does not know are ignored
    (files written by a later version), fields the object lacks take their defaults (earlier ones)."""
    content = content if isinstance(content, dict) else {}
    return record_type(
        **{f.name: content[f.name] for f in dataclasses.fields(record_type) if f.name in content}
    )


def record_field(
    record_type: type, name: str, *, also: frozenset[str] | set[str] = frozenset(), file: str
) -> str:
    """``name`` if it is a field of the dataclass ``record_type`` (or one of ``also``): how readers of a
    run record (the model card) name its keys, so a field renamed by its writer is a ``KeyError`` in
    their tests, not a row gone quiet.

    Raises:
        KeyError: ``name`` is neither (the message names ``file``, the record's JSON file).
    """
    if name not in also and name not in {field.name for field in dataclasses.fields(record_type)}:
        raise KeyError(f"{file} has no key {name!r} ({record_type.__name__} has no such field)")
    return name


__all__ = ["record_field", "record_from_dict", "write_json"]
