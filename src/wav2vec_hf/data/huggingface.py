"""Reading Hugging Face ``datasets`` (``Dataset`` and ``IterableDataset``) without their audio decoding.

``datasets`` 4+/5 decodes its ``Audio`` feature with torchcodec + FFmpeg, which this package does
not require. We never let it decode: an ``Audio`` column is cast to ``Audio(decode=False)`` (which
works without torchcodec) and our own loader decodes the path or bytes.

Accepted audio column values (per row):

* a path string (relative paths start at ``root``, default the current folder),
* encoded bytes,
* a dict ``{"path", "bytes"}`` (what ``Audio(decode=False)`` returns; bytes win when present),
* a dict ``{"array", "sampling_rate"}`` (already decoded audio).

Columns are found by name: audio ``"audio"`` (or ``AUDIO_COLUMNS``), transcript ``"text"`` /
``"transcript"`` / ``"sentence"`` / ``"transcription"``, speaker ``"speaker"`` / ``"speaker_id"``
/ ``"client_id"``, id ``"id"``; every name can be given explicitly.

Note: ``load_dataset("audiofolder", ...)`` cannot build a dataset here at all (its builder encodes
the ``Audio`` feature, which needs torchcodec, even with ``Audio(decode=False)`` and with
``streaming=True``). Point ``open_audio_source`` at the folder instead: it reads the same
``metadata.csv`` / ``metadata.jsonl`` layout itself. ``AudioSet.to_hf_dataset`` builds a plain
``Dataset`` from records when a ``datasets`` object is wanted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wav2vec_hf.data.audio import (
    MISSING_FILE,
    UNREADABLE,
    AudioError,
    AudioInfo,
    AudioPayload,
    DecodedAudio,
    payload_info,
)
from wav2vec_hf.data.records import SPEAKER_COLUMNS, TEXT_COLUMNS, ManifestEntry, clean_transcript

AUDIO_COLUMNS = ("audio", "path", "file", "file_name", "audio_path", "audio_filepath")
SCAN_BATCH_SIZE = 256


@dataclass(frozen=True)
class DatasetColumns:
    """Which column holds what (``None``: absent)."""

    audio: str
    text: str | None = None
    speaker: str | None = None
    id: str | None = None


def _first_present(names: Sequence[str], candidates: Iterable[str]) -> str | None:
    lowered = {n.lower(): n for n in names}
    return next((lowered[c] for c in candidates if c in lowered), None)


def resolve_columns(
    column_names: Sequence[str],
    *,
    audio_column: str | None = None,
    text_column: str | None = None,
    speaker_column: str | None = None,
    id_column: str | None = None,
    name: str = "dataset",
) -> DatasetColumns:
    """Pick the audio / text / speaker / id columns; explicit names must exist.

    Raises:
        ValueError: a named column is missing, or no audio column can be found.
    """
    names = list(column_names)
    for role, wanted in (
        ("audio", audio_column),
        ("text", text_column),
        ("speaker", speaker_column),
        ("id", id_column),
    ):
        if wanted is not None and wanted not in names:
            raise ValueError(f"{name}: no {role} column {wanted!r}; the columns are {names}.")
    audio = audio_column or _first_present(names, AUDIO_COLUMNS)
    if audio is None:
        raise ValueError(
            f"{name}: no audio column among {names}; name it 'audio' or pass audio_column=... "
            "(it must hold paths, bytes, {'path','bytes'} or {'array','sampling_rate'})."
        )
    return DatasetColumns(
        audio=audio,
        text=text_column or _first_present(names, TEXT_COLUMNS),
        speaker=speaker_column or _first_present(names, SPEAKER_COLUMNS),
        id=id_column or _first_present(names, ("id",)),
    )


def without_audio_decoding(dataset, audio_column: str):
    """``dataset`` with its ``Audio`` column (if any) cast to ``Audio(decode=False)``."""
    import datasets

    features = getattr(dataset, "features", None)
    feature = features.get(audio_column) if features else None
    if isinstance(feature, datasets.Audio) and feature.decode:
        return dataset.cast_column(audio_column, datasets.Audio(decode=False))
    return dataset


def audio_payload(
    value: object, *, root: str | os.PathLike[str] | None = None, name: str
) -> tuple[AudioPayload, str | None]:
    """Turn one audio column value into a loader payload and the file path it names (if any).

    Raises:
        AudioError: an empty value or one of an unsupported type (naming ``name``).
    """

    def resolve(path: str) -> str:
        return str(Path(root) / path) if root is not None and not os.path.isabs(path) else path

    if isinstance(value, (str, os.PathLike)):
        path = resolve(os.fspath(value))
        return path, path
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), None
    if isinstance(value, dict):
        path = value.get("path")
        if value.get("bytes"):
            return bytes(value["bytes"]), path
        if value.get("array") is not None:
            if value.get("sampling_rate") is None:
                raise AudioError(
                    name, UNREADABLE, "decoded audio without 'sampling_rate'; add the rate to the column."
                )
            return DecodedAudio(np.asarray(value["array"]), int(value["sampling_rate"])), path
        if path:
            path = resolve(path)
            return path, path
    if value is None or isinstance(value, dict):
        raise AudioError(
            name, MISSING_FILE, "the audio column is empty in this row; fill it or drop the row."
        )
    raise AudioError(
        name,
        UNREADABLE,
        f"unsupported audio value of type {type(value).__name__}; use a path, bytes, "
        "{'path','bytes'} or {'array','sampling_rate'}.",
    )


def _entry(example: dict, columns: DatasetColumns, row: int, path: str | None, in_file: bool, name: str):
    label = f"{name}[{row}]"
    identity = example.get(columns.id) if columns.id else None
    if identity in (None, ""):
        identity = Path(path).with_suffix("").as_posix() if path else f"row{row}"
    return ManifestEntry(
        id=str(identity),
        path=path if (in_file and path) else (f"{label} ({path})" if path else label),
        origin=label,
        transcript=clean_transcript(example.get(columns.text)) if columns.text else None,
        speaker=clean_transcript(example.get(columns.speaker)) if columns.speaker else None,
        row=None if in_file else row,
    )


def entry_and_payload(
    example: dict, columns: DatasetColumns, row: int, *, root=None, name: str = "dataset"
) -> tuple[ManifestEntry, AudioPayload]:
    """One dataset example as a ``ManifestEntry`` and its payload.

    Raises:
        AudioError: the audio value is empty or of an unsupported type.
    """
    payload, path = audio_payload(example.get(columns.audio), root=root, name=f"{name}[{row}]")
    return _entry(example, columns, row, path, isinstance(payload, str), name), payload


def scan_dataset(
    dataset, columns: DatasetColumns, *, root=None, name: str = "dataset"
) -> tuple[list[ManifestEntry], dict[int, AudioInfo | AudioError]]:
    """Entries of a map-style ``Dataset``, plus the headers of rows whose audio is in the dataset.

    Audio held as bytes or arrays is described now (its header is read from memory, in batches,
    so the whole column is never in memory at once); audio held as file paths is left to the
    usual file header reads. A row whose value is unusable gets an ``AudioError`` instead of a
    header, so validation counts it like any other bad file.
    """
    wanted = [c for c in (columns.audio, columns.text, columns.speaker, columns.id) if c]
    entries: list[ManifestEntry] = []
    headers: dict[int, AudioInfo | AudioError] = {}
    row = 0
    for batch in dataset.select_columns(list(dict.fromkeys(wanted))).iter(batch_size=SCAN_BATCH_SIZE):
        for i in range(len(batch[columns.audio])):
            example = {c: batch[c][i] for c in batch}
            try:
                entry, payload = entry_and_payload(example, columns, row, root=root, name=name)
            except AudioError as error:
                entry = _entry(example, columns, row, None, False, name)
                headers[row] = error
            else:
                if not isinstance(payload, str):
                    try:
                        headers[row] = payload_info(payload, name=entry.path)
                    except AudioError as error:
                        headers[row] = error
            entries.append(entry)
            row += 1
    return entries, headers


class RowAudioReader:
    """Fetches the payload of one record from a map-style dataset (or its file path)."""

    def __init__(self, dataset, columns: DatasetColumns, *, root=None, name: str = "dataset") -> None:
        self._audio_only = dataset.select_columns([columns.audio])
        self._column = columns.audio
        self._root = root
        self._name = name

    def __call__(self, path: str, row: int | None) -> AudioPayload:
        if row is None:
            return path
        value = self._audio_only[row][self._column]
        payload, _ = audio_payload(value, root=self._root, name=f"{self._name}[{row}]")
        return payload


def iterate_stream(
    dataset, columns: DatasetColumns, *, root=None, name: str = "stream"
) -> Iterator[tuple[ManifestEntry, AudioPayload | AudioError]]:
    """``(entry, payload)`` for each example of an ``IterableDataset``; a bad value yields its error."""
    for row, example in enumerate(dataset):
        try:
            yield entry_and_payload(example, columns, row, root=root, name=name)
        except AudioError as error:
            yield _entry(example, columns, row, None, False, name), error


EXPORT_COLUMNS = ("id", "text", "speaker", "num_samples", "sample_rate")


def build_dataset(rows: list[dict]):
    """A ``datasets.Dataset`` from row dicts with ``"audio"`` (``{"path", "bytes"}``) and ``EXPORT_COLUMNS``.

    The audio column gets the ``Audio(decode=False)`` feature, so the dataset saves and loads with
    ``save_to_disk`` / ``load_from_disk`` and reads back through ``open_audio_source``.
    """
    import datasets

    features = datasets.Features(
        {
            "audio": datasets.Audio(decode=False),
            "id": datasets.Value("string"),
            "text": datasets.Value("string"),
            "speaker": datasets.Value("string"),
            "num_samples": datasets.Value("int64"),
            "sample_rate": datasets.Value("int64"),
        }
    )
    columns = {name: [row[name] for row in rows] for name in ("audio", *EXPORT_COLUMNS)}
    # from_dict with the Audio feature would encode (needs torchcodec); casting plain structs does not.
    plain = datasets.Dataset.from_dict(columns)
    return plain.cast(features) if len(plain) else datasets.Dataset.from_dict(columns, features=features)
