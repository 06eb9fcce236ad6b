"""What a data source is called in run records and model cards, and its Hub dataset id when it has one.

``dataset_reference(source, split)`` describes anything ``open_audio_source`` accepts without opening
it again:

* a path (manifest, transcript table, audio folder, ``save_to_disk`` folder): its file or folder name,
  no Hub id (a local copy cannot prove where it came from);
* a ``datasets`` object loaded from the Hub (``load_dataset("org/name")``): the Hub id, read from
  ``datasets``' own records: ``info.dataset_name`` and the ``org___name`` folder that ``datasets``
  caches Hub datasets in; its config (``info.config_name``) and split;
* any other ``datasets`` object (``Dataset.from_dict``, local files, kept in memory): a short
  description such as ``"in-memory dataset (120 rows)"``, never its ``repr``, and no Hub id.

A Hub id is therefore only given when the data demonstrably came from the Hub, so a model card's
``model-index`` never links a dataset that does not exist. (``datasets`` stores the repo name in
snake case; a repo named in CamelCase gets an id the Hub does not know, which is rare.)
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path, PurePath
from typing import Any

_HUB_CACHE_FOLDER = re.compile(r"^(?P<namespace>[A-Za-z0-9][\w.-]*)___(?P<name>[\w.-]+)$")


@dataclass(frozen=True)
class DatasetReference:
    """A data source as records and cards name it.

    Attributes:
        name: human-readable name (a file or folder name, a Hub id, or a short description).
        hub_id: the Hub dataset id (``org/name``), only when the data came from the Hub.
        config: the dataset configuration, if any (Hub datasets).
        split: the split, if any.
    """

    name: str
    hub_id: str | None = None
    config: str | None = None
    split: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return asdict(self)

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> DatasetReference:
        """The reference a run record holds (``to_dict``); unknown keys are ignored."""
        return cls(**{key: content.get(key) for key in ("name", "hub_id", "config", "split")})


def dataset_reference(source: Any, split: str | None = None) -> DatasetReference:
    """Describe a data source (see the module docstring); ``split`` is the one it was opened with."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return DatasetReference(name=path.name or str(path), split=split)
    dataset = _pick(source, split)
    info = getattr(dataset, "info", None)
    dataset_name = getattr(info, "dataset_name", None)
    split = split or (str(dataset.split) if getattr(dataset, "split", None) is not None else None)
    hub_id = _hub_id(dataset, dataset_name)
    config = getattr(info, "config_name", None)
    if hub_id is not None:
        return DatasetReference(
            name=hub_id,
            hub_id=hub_id,
            config=config if config not in (None, "default") else None,
            split=split,
        )
    rows = getattr(dataset, "num_rows", None)
    size = f" ({rows} rows)" if isinstance(rows, int) else ""
    kind = dataset_name or getattr(info, "builder_name", None)
    return DatasetReference(name=f"{kind or 'in-memory'} dataset{size}", split=split)


def describe_source(source: Any, split: str | None = None) -> str | None:
    """The source as recorded in an argument record: a path as given, anything else by its name."""
    if source is None or isinstance(source, (str, os.PathLike)):
        return None if source is None else os.fspath(source)
    return dataset_reference(source, split).name


def _pick(source: Any, split: str | None) -> Any:
    """The split of a ``DatasetDict`` (or its only one); other objects as they are."""
    if isinstance(source, dict) and not hasattr(source, "info"):
        if split in source:
            return source[split]
        if len(source) == 1:
            return next(iter(source.values()))
    return source


def _hub_id(dataset: Any, dataset_name: str | None) -> str | None:
    """``org/name`` when ``dataset``'s cache files lie in the ``org___name`` folder ``datasets`` keeps a
    Hub dataset in (``name`` in snake case, as ``datasets`` writes it), else None."""
    if not dataset_name:
        return None
    from datasets.naming import camelcase_to_snakecase

    folder_name = camelcase_to_snakecase(dataset_name)
    for cache_file in getattr(dataset, "cache_files", None) or ():
        filename = cache_file.get("filename") if isinstance(cache_file, dict) else None
        for part in PurePath(filename or "").parts:
            match = _HUB_CACHE_FOLDER.match(part)
            if match and match.group("name") == folder_name:
                return f"{match.group('namespace')}/{dataset_name}"
    return None


__all__ = ["DatasetReference", "dataset_reference", "describe_source"]
