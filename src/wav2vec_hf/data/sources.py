"""One entry point for every audio input: ``open_audio_source``.

``open_audio_source(source)`` accepts

* a fairseq manifest ``.tsv`` (first line a root folder; ``.wrd`` / ``.ltr`` labels beside it),
* a transcript table ``.tsv`` (with a header line) / ``.csv`` / ``.jsonl`` of paths and transcripts,
* a folder of audio files (with an optional ``transcripts=`` table, or an audiofolder-style
  ``metadata.csv`` / ``metadata.jsonl`` inside it),
* a folder written by ``datasets``' ``save_to_disk`` (``split=`` picks from a ``DatasetDict``),
* a ``datasets.Dataset`` / ``DatasetDict`` object,
* a ``datasets.IterableDataset`` / ``IterableDatasetDict`` object (streaming),

and returns

* ``AudioSet`` for everything finite: validated ``AudioRecord``s (every header read and checked
  up front, and the audio decoded up front when the set holds at most 10 hours, see
  ``validation.py``) plus a way to fetch each utterance's audio, or
* ``AudioStream`` for an ``IterableDataset``: examples are checked as they stream by (a stream
  cannot be validated before it is read; ``StreamingAudioDataset`` applies the same rules and
  the same ``on_bad`` policy per example).

Rows that name the same audio twice are kept (fairseq manifests repeat utterances on purpose to
up-sample them) and reported: a warning with their count and the first of them
(``AudioSet.repeated``).
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wav2vec_hf.data.audio import (
    DEFAULT_SAMPLE_RATE,
    AudioError,
    AudioInfo,
    AudioPayload,
    check_decodes,
    load_payload,
    prepare_waveform,
    read_audio_info,
    read_audio_window,
)
from wav2vec_hf.data.file_facts import FileFacts, resolve_cache_folder
from wav2vec_hf.data.heap import release_free_memory
from wav2vec_hf.data.huggingface import (
    DatasetColumns,
    RowAudioReader,
    build_dataset,
    iterate_stream,
    resolve_columns,
    scan_dataset,
    without_audio_decoding,
)
from wav2vec_hf.data.record_table import RecordTable
from wav2vec_hf.data.records import (
    AudioRecord,
    ManifestEntry,
    ManifestError,
    is_fairseq_manifest,
    read_fairseq_manifest,
    read_transcript_table,
    scan_audio_folder,
)
from wav2vec_hf.data.validation import SkipReport, ValidationRules, check_on_bad, validate_entries

TABLE_SUFFIXES = (".tsv", ".csv", ".jsonl", ".json")
RELEASE_MEMORY_FROM = 10_000
"""Sets of at least this many entries give the heap their validation freed back (``data.heap``)."""

logger = logging.getLogger(__name__)


def _file_payload(path: str, row: int | None) -> AudioPayload:
    return path


class AudioSet(Sequence[AudioRecord]):
    """A finite, validated collection of utterances and the means to load their audio.

    Indexing gives ``AudioRecord``s; ``load(i)`` gives the model input for record ``i``.

    Attributes:
        records: the utterances that passed validation, in source order, as a columnar
            ``RecordTable`` (a few dozen bytes per utterance; indexing it builds an ``AudioRecord``).
        name: what the set was opened from (for messages).
        skip_report: what validation dropped (empty when ``on_bad="raise"``, which raises instead).
        repeated: rows that repeat an earlier row's audio (kept, and logged as a warning when opened).
        reads_windows: whether ``load_window`` decodes a crop alone (a subclass that keeps whole
            utterances says ``False``, so no batch rows are allocated for crops it cannot give).
    """

    reads_windows = True

    def __init__(
        self,
        records: Sequence[AudioRecord],
        *,
        name: str = "audio",
        skip_report: SkipReport | None = None,
        reader: Callable[[str, int | None], AudioPayload] = _file_payload,
    ) -> None:
        self.records = RecordTable.from_records(records)
        self.name = name
        self.skip_report = skip_report or SkipReport(source=name, seen=len(self.records))
        self._reader = reader
        self.repeated = RepeatedRows()

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index):  # int -> AudioRecord, slice -> list[AudioRecord]
        return self.records[index]

    def __repr__(self) -> str:
        return f"AudioSet({self.name!r}, {len(self)} utterances, {self.total_seconds / 3600:.2f} h)"

    @property
    def total_seconds(self) -> float:
        """Total duration in seconds."""
        return float(self.records.durations().sum())

    def payload(self, index: int) -> AudioPayload:
        """The path, bytes or decoded array of record ``index``."""
        return self._reader(self.records.path(index), self.records.row(index))

    def load(self, index: int, target_rate: int | None = DEFAULT_SAMPLE_RATE, **options) -> np.ndarray:
        """Model input for record ``index``: float32 ``(samples,)`` at ``target_rate`` Hz.

        ``options`` are ``load_audio``'s (``normalize``, ``strict_mono``, ...).

        Raises:
            AudioError: the audio cannot be decoded or holds NaN/inf (names the file).
        """
        return load_payload(self.payload(index), target_rate, name=self.records.path(index), **options)

    def load_window(
        self, index: int, start: int, frames: int, out: np.ndarray | None = None, **options
    ) -> np.ndarray | None:
        """Frames ``[start, start + frames)`` of record ``index`` at its own rate, decoded without the
        rest of the file: float32 ``(frames,)`` (mono, finite), or ``None`` when the record is not a
        plain file (dataset rows: ``load`` it whole). ``out``: a float32 ``(frames, channels)`` array
        to decode into (the result is then a view of it). ``options`` as ``load``'s.

        Raises:
            AudioError: the window cannot be decoded or holds NaN/inf (names the file).
        """
        payload = self.payload(index)
        if not isinstance(payload, str):
            return None
        name = self.records.path(index)
        window = read_audio_window(payload, start, frames, name=name, out=out)
        return prepare_waveform(
            window.waveform,
            window.sample_rate,
            None,
            name=name,
            channels_first=False,
            assume_finite=window.integer_coded,
            **options,
        )

    def lengths(self, target_rate: int = DEFAULT_SAMPLE_RATE) -> np.ndarray:
        """``(len(self),)`` int64: samples of each utterance after resampling to ``target_rate``."""
        return self.records.lengths(target_rate)

    def subset(self, indices: Sequence[int]) -> AudioSet:
        """A new set with the records at ``indices`` (same reader, same report)."""
        return AudioSet(
            self.records.take(indices),
            name=self.name,
            skip_report=self.skip_report,
            reader=self._reader,
        )

    def to_hf_dataset(self, *, embed_audio: bool = False):
        """A ``datasets.Dataset`` with columns id, audio, text, speaker, num_samples, sample_rate.

        ``audio`` has the ``Audio(decode=False)`` feature and holds ``{"path", "bytes"}``: absolute
        file paths, or with ``embed_audio=True`` the encoded file bytes. (``save_to_disk`` embeds the
        files' bytes itself either way, so a saved copy is self-contained.) Audio already held in a
        dataset is always embedded; decoded arrays cannot be (write them to files first).
        """
        rows = []
        for i, record in enumerate(self.records):
            payload = self.payload(i)
            if isinstance(payload, str) and embed_audio:
                payload = Path(payload).read_bytes()
            if isinstance(payload, str):
                audio = {"path": str(Path(payload).resolve()), "bytes": None}
            elif isinstance(payload, bytes):
                audio = {"path": Path(record.path).name if record.row is None else None, "bytes": payload}
            else:
                raise ValueError(
                    f"{record.path}: decoded arrays cannot go into an Audio column; write them to files."
                )
            rows.append(
                {
                    "id": record.id,
                    "audio": audio,
                    "text": record.transcript,
                    "speaker": record.speaker,
                    "num_samples": record.num_samples,
                    "sample_rate": record.sample_rate,
                }
            )
        return build_dataset(rows)


class AudioStream:
    """A ``datasets.IterableDataset`` read as ``(ManifestEntry, payload)`` pairs, never decoded by ``datasets``.

    Iterating yields ``(entry, payload)``; a row whose audio value is unusable yields
    ``(entry, AudioError)`` so the consumer can count it. Nothing here is validated: the consumer
    (``StreamingAudioDataset``) reads each header, applies the rules and decodes.
    """

    def __init__(self, dataset, columns: DatasetColumns, *, root=None, name: str = "stream") -> None:
        self.dataset = dataset
        self.columns = columns
        self.root = root
        self.name = name

    def __iter__(self) -> Iterator[tuple[ManifestEntry, AudioPayload | AudioError]]:
        return iterate_stream(self.dataset, self.columns, root=self.root, name=self.name)

    def __repr__(self) -> str:
        return f"AudioStream({self.name!r}, {self.n_shards} shards)"

    @property
    def n_shards(self) -> int:
        """Shards of the underlying dataset (files); DataLoader workers split these."""
        return int(getattr(self.dataset, "num_shards", getattr(self.dataset, "n_shards", 1)))

    def for_rank(self, rank: int, world_size: int) -> AudioStream:
        """This process's part (``datasets.distributed.split_dataset_by_node``): whole shards when
        ``n_shards`` divides evenly by ``world_size``, else every ``world_size``-th example."""
        if world_size == 1:
            return self
        from datasets.distributed import split_dataset_by_node

        part = split_dataset_by_node(self.dataset, rank=rank, world_size=world_size)
        return AudioStream(part, self.columns, root=self.root, name=f"{self.name}@rank{rank}")

    def set_epoch(self, epoch: int) -> None:
        """Forwarded to the dataset (reshuffles a ``.shuffle()``d stream per epoch)."""
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)


def _is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (
        (folder / "state.json").is_file() and (folder / "dataset_info.json").is_file()
    )


def _pick_split(dataset, split: str | None, name: str):
    import datasets

    if isinstance(dataset, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        if split is None:
            if len(dataset) == 1:
                return next(iter(dataset.values()))
            raise ValueError(f"{name}: holds several splits {list(dataset)}; pass split=... to choose one.")
        if split not in dataset:
            raise ValueError(f"{name}: no split {split!r}; the splits are {list(dataset)}.")
        return dataset[split]
    return dataset


def _header_reader(headers: dict[int, AudioInfo | AudioError]) -> Callable[[ManifestEntry], AudioInfo]:
    """Header reader for validation: files are read from disk, dataset rows come from ``headers``."""

    def read(entry: ManifestEntry) -> AudioInfo:
        if entry.row is None:
            return read_audio_info(entry.path)
        known = headers[entry.row]
        if isinstance(known, AudioError):
            raise known
        return known

    return read


def open_audio_source(
    source,
    *,
    rules: ValidationRules | None = None,
    on_bad: str = "raise",
    split: str | None = None,
    root: str | os.PathLike[str] | None = None,
    transcripts: str | os.PathLike[str] | None = None,
    audio_column: str | None = None,
    text_column: str | None = None,
    speaker_column: str | None = None,
    id_column: str | None = None,
    path_column: str | None = None,
    name: str | None = None,
    validation_cache: bool | str | os.PathLike[str] | None = None,
) -> AudioSet | AudioStream:
    """Open any supported audio input and validate it (see the module docstring for the inputs).

    Args:
        source: path (manifest, table, audio folder, saved dataset) or a ``datasets`` object.
        rules: what each utterance must satisfy (default ``ValidationRules()``: exists, readable,
            non-empty, agrees with the manifest).
        on_bad: ``"raise"``: one ``DataValidationError`` listing every bad utterance (before any
            training); ``"skip"``: drop them and count them in ``AudioSet.skip_report``.
        split: split of a ``DatasetDict`` / saved dataset dict.
        root: folder relative paths start from (tables: default their own folder; datasets:
            default the current folder).
        transcripts: transcript table for a folder of audio files.
        audio_column, text_column, speaker_column, id_column: ``datasets`` / table column names
            (default: found by name, see ``huggingface.py`` and ``records.py``).
        path_column: the audio path column of a transcript table.
        name: how messages refer to the source.
        validation_cache: where what validation learns about each audio file (header, decode check)
            is kept for the next run and the other ranks (``data.file_facts``): ``None`` / ``True``
            the default folder (``$WAV2VEC_HF_VALIDATION_CACHE``, ``off`` there disables it), ``False``
            none, or a folder. Files changed since are read again; the rules are applied afresh.

    Returns:
        ``AudioSet`` (finite sources) or ``AudioStream`` (an ``IterableDataset``).

    Raises:
        DataValidationError: ``on_bad="raise"`` and some utterances are bad.
        ManifestError: the manifest itself cannot be parsed.
        ValueError: unknown source type, missing column or split.
    """
    check_on_bad(on_bad)
    rules = rules or ValidationRules()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = name or str(path)
        if not (path.is_dir() and _is_saved_dataset(path)):
            table_options = {
                "path_column": path_column,
                "text_column": text_column,
                "speaker_column": speaker_column,
                "id_column": id_column,
            }

            def open_files() -> tuple[AudioSet, int]:
                entries = _entries_of_path(path, root=root, transcripts=transcripts, **table_options)
                cache = resolve_cache_folder(validation_cache)
                return _validated(entries, rules, on_bad, name, _header_reader({}), cache_folder=cache), len(
                    entries
                )

            return _settled(open_files)
    import datasets

    if isinstance(source, (str, os.PathLike)):  # a folder written by save_to_disk
        source = datasets.load_from_disk(str(source))

    label = name or type(source).__name__
    dataset = _pick_split(source, split, label)
    column_options = {
        "audio_column": audio_column,
        "text_column": text_column,
        "speaker_column": speaker_column,
        "id_column": id_column,
        "name": label,
    }
    if isinstance(dataset, datasets.IterableDataset):
        names = dataset.column_names or list(next(iter(dataset.take(1))).keys())
        columns = resolve_columns(names, **column_options)
        return AudioStream(without_audio_decoding(dataset, columns.audio), columns, root=root, name=label)
    if isinstance(dataset, datasets.Dataset):
        columns = resolve_columns(dataset.column_names, **column_options)
        dataset = without_audio_decoding(dataset, columns.audio)

        def open_rows() -> tuple[AudioSet, int]:
            entries, headers = scan_dataset(dataset, columns, root=root, name=label)
            reader = RowAudioReader(dataset, columns, root=root, name=label)
            return _validated(entries, rules, on_bad, label, _header_reader(headers), reader), len(entries)

        return _settled(open_rows)
    raise ValueError(
        f"cannot open {type(source).__name__} as audio; pass a manifest/table path, a folder, a saved "
        "dataset folder, or a datasets.Dataset / IterableDataset."
    )


def _settled(open_entries: Callable[[], tuple[AudioSet, int]]) -> AudioSet:
    """The set ``open_entries`` validates, and after a large open (at least ``RELEASE_MEMORY_FROM``
    entries) the heap its transient entries took handed back to the system.

    The entries live only inside ``open_entries``, so they are gone when it returns. The set's own
    small objects were allocated among theirs and would keep their allocator arenas alive: fresh
    copies made now gather in the few arenas still in use, and the original set is dropped before
    the heap is trimmed (``data.heap``). The reader (a file opener, or a dataset's rows) is shared,
    not copied.
    """
    audio, entries = open_entries()
    if entries < RELEASE_MEMORY_FROM:
        return audio
    audio = copy.deepcopy(audio, memo={id(audio._reader): audio._reader})  # the rows are not copied
    release_free_memory()
    return audio


def _validated(
    entries, rules, on_bad, label, read_header, reader=_file_payload, cache_folder=None
) -> AudioSet:
    """Validate ``entries`` (decoding too, see ``ValidationRules.decode``) into an ``AudioSet``.

    With ``cache_folder`` (files only), what is known about each file is reused and what is learnt is
    saved there, also when validation fails (the facts hold; the rules or the files get fixed).
    """

    def decode(record: AudioRecord) -> np.ndarray | int:
        # At the file's own rate: resampling cannot create NaN, and the length must match the header.
        payload = reader(record.path, record.row)
        if isinstance(payload, str):  # a file: block by block, never the whole file in memory
            return check_decodes(payload, name=record.path)
        return load_payload(payload, None, name=record.path, strict_mono=rules.strict_mono)

    repeated = repeated_rows(entries)
    if repeated.count:
        logger.warning(repeated.message(label))
    facts = None
    if cache_folder is not None and entries and all(entry.row is None for entry in entries):
        facts = FileFacts([entry.path for entry in entries], cache_folder)
    try:
        records, report = validate_entries(
            entries,
            rules,
            on_bad=on_bad,
            source=label,
            read_header=read_header,
            decode=decode,
            # Rows of a datasets.Dataset are read one at a time; files are decoded by several threads.
            decode_threads=None if reader is _file_payload else 1,
            facts=facts,
        )
    finally:
        if facts is not None:
            facts.save()
    if facts is not None and facts.reused:
        logger.info(
            "%s: %d of %d file headers from the validation cache %s",
            label,
            facts.reused,
            len(entries),
            facts.file,
        )
    audio = AudioSet(records, name=label, skip_report=report, reader=reader)
    audio.repeated = repeated
    return audio


@dataclass
class RepeatedRows:
    """Rows that name audio an earlier row already named (fairseq manifests may repeat utterances
    on purpose, to up-sample them; a merge of two manifests repeats them by accident).

    Attributes:
        count: rows that repeat an earlier row's audio (kept: each is used as often as it is listed).
        files: distinct files (or dataset rows) listed more than once.
        examples: ``(audio, [origins])`` of the first repeated files.
    """

    count: int = 0
    files: int = 0
    examples: list[tuple[str, list[str]]] = field(default_factory=list)

    def message(self, source: str) -> str:
        """The warning ``open_audio_source`` logs."""
        shown = "; ".join(f"{path} ({', '.join(origins)})" for path, origins in self.examples)
        return (
            f"{source}: {self.count} rows repeat an earlier row's audio ({self.files} files listed more "
            f"than once); they are kept and each is used as often as it is listed. First: {shown}. "
            "Remove the repeated rows if the repetition is not on purpose."
        )


def repeated_rows(entries: Sequence[ManifestEntry], max_examples: int = 3) -> RepeatedRows:
    """Count the entries whose audio (file path, or dataset row) an earlier entry already names."""
    origins: dict[tuple, list[str]] = {}
    for entry in entries:
        key = (os.path.normpath(entry.path), entry.row)
        origins.setdefault(key, []).append(entry.origin)
    repeated = [(key, found) for key, found in origins.items() if len(found) > 1]
    return RepeatedRows(
        count=sum(len(found) - 1 for _, found in repeated),
        files=len(repeated),
        examples=[(key[0], found[:3]) for key, found in repeated[:max_examples]],
    )


def _entries_of_path(path: Path, *, root, transcripts, **table_options) -> list[ManifestEntry]:
    """Manifest entries of a folder of audio, a fairseq manifest or a transcript table."""
    if path.is_dir():
        return scan_audio_folder(path, transcripts=transcripts, **table_options)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such file or folder; pass a manifest, table, audio folder or dataset."
        )
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise ManifestError(
            f"{path}: not a manifest ({', '.join(TABLE_SUFFIXES)}); for a single file use load_audio, "
            "for many pass their folder."
        )
    if is_fairseq_manifest(path):
        return read_fairseq_manifest(path)
    return read_transcript_table(path, root=root, **table_options)
