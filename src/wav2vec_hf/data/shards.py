"""Audio in shard files, read as a stream: a folder (or glob) of Parquet, Arrow or tar shards.

Corpora too large to list and validate file by file (Libri-Light's millions of files) are stored
as shards: Parquet files (``Dataset.to_parquet``, the Hub's own format) or Arrow files (what
``save_to_disk`` writes), or tar archives in the WebDataset layout (``KEY.flac`` / ``KEY.wav`` with an
optional ``KEY.txt`` transcript per example). ``open_shards`` opens them as a ``datasets`` streaming ``IterableDataset``
(``load_dataset(..., streaming=True)``: nothing is read up front, one shard per ``n_shards``) and
returns the ``AudioStream`` of ``open_audio_source``: rows become ``(ManifestEntry, payload)`` pairs,
checked as they stream by.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from wav2vec_hf.data.records import ManifestError
from wav2vec_hf.data.sources import AudioStream, open_audio_source

SHARD_BUILDERS = {".parquet": "parquet", ".arrow": "arrow", ".tar": "webdataset"}
"""Shard file suffix -> the ``datasets`` packaged builder that streams it."""


def shard_files(location: str | os.PathLike[str]) -> tuple[str, list[str]]:
    """``(builder, files)`` of a folder of shards (its ``*.parquet`` / ``*.arrow``, sorted) or a glob.

    Raises:
        ManifestError: no shard there, or Parquet and Arrow shards mixed.
    """
    location = os.fspath(location)
    if Path(location).is_dir():
        files = sorted(str(p) for p in Path(location).iterdir() if p.suffix in SHARD_BUILDERS and p.is_file())
    else:
        files = sorted(glob.glob(location))
    files = [f for f in files if Path(f).suffix in SHARD_BUILDERS]
    if not files:
        raise ManifestError(
            f"{location}: no .parquet, .arrow or .tar shards there; write them with datasets' "
            "Dataset.to_parquet / save_to_disk (one file per shard) or as WebDataset tars (KEY.flac + "
            "KEY.txt), or give a manifest without --streaming"
        )
    kinds = {SHARD_BUILDERS[Path(f).suffix] for f in files}
    if len(kinds) > 1:
        raise ManifestError(
            f"{location}: shards of several kinds ({sorted(kinds)}); keep one kind per data source"
        )
    return kinds.pop(), files


def open_shards(
    location: str | os.PathLike[str], *, name: str | None = None, **column_options
) -> AudioStream:
    """The shards at ``location`` as an ``AudioStream`` (one ``datasets`` shard per file).

    ``column_options``: ``audio_column``, ``text_column``, ... as for ``open_audio_source``.
    """
    import datasets

    builder, files = shard_files(location)
    dataset = datasets.load_dataset(builder, data_files={"train": files}, split="train", streaming=True)
    if builder == "webdataset":  # columns are named by file extension: pick them by their features
        features = dataset.features or {}
        audio = [column for column, feature in features.items() if isinstance(feature, datasets.Audio)]
        if len(audio) != 1:
            raise ManifestError(
                f"{location}: a tar shard example needs exactly one audio file (KEY.flac, KEY.wav, ...); "
                f"its files give the columns {list(features)}"
            )
        column_options.setdefault("audio_column", audio[0])
        column_options.setdefault("id_column", "__key__")
        if "txt" in features:
            column_options.setdefault("text_column", "txt")
        # The file bytes as they are: datasets would encode them through torchcodec (absent here).
        # Loading again with these features costs one more read of the first examples of the first
        # shard only (how datasets learnt the columns above); a cast of the stream instead would encode
        # the audio through torchcodec.
        raw = {
            column: datasets.Value("binary") if column in audio else feature
            for column, feature in features.items()
        }
        dataset = datasets.load_dataset(
            builder,
            data_files={"train": files},
            split="train",
            streaming=True,
            features=datasets.Features(raw),
        )
    return open_audio_source(dataset, name=name or os.fspath(location), **column_options)


__all__ = ["SHARD_BUILDERS", "open_shards", "shard_files"]
