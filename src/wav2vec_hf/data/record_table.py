"""``RecordTable``: validated utterances held as columns, a few dozen bytes each, not one object each.

A corpus of millions of files cannot afford a Python object per utterance (an ``AudioRecord`` with its
strings and ints costs ~700 bytes of resident memory once the allocator's leftovers are counted). The
table keeps

* numbers in numpy arrays: ``num_samples`` int64, ``sample_rates`` int32, ``channels`` int16 and the
  dataset ``rows`` int64 (``-1``: a file on disk; the column is absent when no row is set);
* strings in ``PackedStrings``: one UTF-8 buffer and one offset per string. Columns that are ``None``
  for every utterance (transcripts of unlabelled audio, speakers) cost nothing; an id that is a part of
  its path (fairseq's relative path without extension, a folder scan's) is stored as a span of the path.

For a fairseq manifest that is ~30 bytes per utterance beyond the path's own UTF-8 bytes
(``benchmarks/validation_startup.py`` measures it). It is a ``Sequence[AudioRecord]``: ``table[i]``
builds the ``AudioRecord`` on demand, slices and ``take`` give tables; code that needs every
length should use the arrays (``lengths``, ``durations``), not a loop over records.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence

import numpy as np

from wav2vec_hf.data.audio import resampled_length
from wav2vec_hf.data.records import AudioRecord


class PackedStrings:
    """``n`` optional strings in one UTF-8 buffer.

    Attributes:
        buffer: the strings' UTF-8 bytes, back to back.
        offsets: ``(n + 1,)`` int64; string ``i`` is ``buffer[offsets[i]:offsets[i + 1]]``.
        missing: ``(n,)`` bool, ``True`` where the string is ``None``; ``None`` when no string is.
    """

    __slots__ = ("buffer", "missing", "offsets")

    def __init__(self, buffer: bytes, offsets: np.ndarray, missing: np.ndarray | None = None) -> None:
        self.buffer = buffer
        self.offsets = offsets
        self.missing = missing if missing is not None and missing.any() else None

    @classmethod
    def of(cls, strings: Iterable[str | None]) -> PackedStrings:
        """Pack ``strings`` (``None`` allowed)."""
        builder = PackedStringsBuilder()
        for text in strings:
            builder.append(text)
        return builder.build()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> str | None:
        if self.missing is not None and self.missing[index]:
            return None
        return self.buffer[int(self.offsets[index]) : int(self.offsets[index + 1])].decode("utf-8")

    def take(self, indices: np.ndarray) -> PackedStrings:
        """The strings at ``indices`` (int array), in that order."""
        starts, stops = self.offsets[indices], self.offsets[indices + 1]
        view = memoryview(self.buffer)
        buffer = b"".join(view[a:b] for a, b in zip(starts.tolist(), stops.tolist()))
        offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(stops - starts, out=offsets[1:])
        return PackedStrings(buffer, offsets, None if self.missing is None else self.missing[indices])

    @property
    def nbytes(self) -> int:
        """Memory held: buffer, offsets and mask."""
        return len(self.buffer) + self.offsets.nbytes + (0 if self.missing is None else self.missing.nbytes)


class PackedStringsBuilder:
    """Appends strings one at a time without keeping a Python object per string."""

    __slots__ = ("_buffer", "_missing", "_offsets")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._offsets = array("q", [0])
        self._missing: list[int] = []

    def append(self, text: str | None) -> None:
        if text is None:
            self._missing.append(len(self._offsets) - 1)
        else:
            self._buffer += text.encode("utf-8")
        self._offsets.append(len(self._buffer))

    def build(self) -> PackedStrings:
        count = len(self._offsets) - 1
        missing = None
        if self._missing:
            missing = np.zeros(count, dtype=bool)
            missing[self._missing] = True
        return PackedStrings(
            bytes(self._buffer), np.frombuffer(self._offsets, dtype=np.int64).copy(), missing
        )


class _AbsentStrings:
    """A string column that is ``None`` for every utterance: no memory at all."""

    __slots__ = ("count",)

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> None:
        return None

    def take(self, indices: np.ndarray) -> _AbsentStrings:
        return _AbsentStrings(len(indices))

    nbytes = 0


def _optional_column(packed: PackedStrings) -> PackedStrings | _AbsentStrings:
    if packed.missing is not None and packed.missing.all():
        return _AbsentStrings(len(packed))
    return packed


class RecordTable(Sequence[AudioRecord]):
    """Validated utterances as columns (see the module docstring); indexing gives ``AudioRecord``s.

    Attributes:
        num_samples: ``(n,)`` int64 frames per channel at the file's own rate.
        sample_rates: ``(n,)`` int32 rates in Hz.
        channels: ``(n,)`` int16 channel counts.
    """

    def __init__(
        self,
        *,
        paths: PackedStrings,
        ids: PackedStrings,
        id_spans: np.ndarray | None,
        transcripts,
        speakers,
        num_samples: np.ndarray,
        sample_rates: np.ndarray,
        channels: np.ndarray,
        rows: np.ndarray | None,
    ) -> None:
        self._paths, self._ids, self._id_spans = paths, ids, id_spans
        self._transcripts, self._speakers = transcripts, speakers
        self.num_samples, self.sample_rates, self.channels = num_samples, sample_rates, channels
        self._rows = rows

    @classmethod
    def from_records(cls, records: Iterable[AudioRecord]) -> RecordTable:
        """A table of ``records`` (any iterable; consumed once)."""
        if isinstance(records, RecordTable):
            return records
        builder = RecordTableBuilder()
        for record in records:
            builder.append(record)
        return builder.build()

    def __len__(self) -> int:
        return len(self.num_samples)

    def __getitem__(self, index):  # int -> AudioRecord, slice -> RecordTable
        if isinstance(index, slice):
            return self.take(np.arange(len(self))[index])
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"record {index} of a table of {len(self)}")
        return AudioRecord(
            id=self.id(index),
            path=self._paths[index],
            num_samples=int(self.num_samples[index]),
            sample_rate=int(self.sample_rates[index]),
            transcript=self._transcripts[index],
            speaker=self._speakers[index],
            channels=int(self.channels[index]),
            row=None if self._rows is None or self._rows[index] < 0 else int(self._rows[index]),
        )

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __eq__(self, other) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # mutable-like container semantics, as a list's

    def __repr__(self) -> str:
        return f"RecordTable({len(self)} utterances, {self.nbytes} bytes)"

    def id(self, index: int) -> str:
        """The id of utterance ``index`` (no ``AudioRecord`` built)."""
        if self._id_spans is not None and self._id_spans[index, 0] >= 0:
            start, stop = self._id_spans[index]
            path = self._paths.buffer[int(self._paths.offsets[index]) : int(self._paths.offsets[index + 1])]
            return path[int(start) : int(stop)].decode("utf-8")
        return self._ids[index]

    def path(self, index: int) -> str:
        """The path (or display name) of utterance ``index``."""
        return self._paths[index]

    def transcript(self, index: int) -> str | None:
        """The transcript of utterance ``index`` (``None``: unlabelled)."""
        return self._transcripts[index]

    def row(self, index: int) -> int | None:
        """The dataset row of utterance ``index``, or ``None`` for a file on disk."""
        if self._rows is None or self._rows[index] < 0:
            return None
        return int(self._rows[index])

    def paths(self) -> list[str]:
        """Every path, in order (a list of new strings)."""
        return [self._paths[i] for i in range(len(self))]

    def lengths(self, target_rate: int) -> np.ndarray:
        """``(n,)`` int64 samples after resampling to ``target_rate`` (``audio.resampled_length``, exact)."""
        return resampled_length(self.num_samples, self.sample_rates, target_rate)

    def durations(self) -> np.ndarray:
        """``(n,)`` float64 seconds."""
        return self.num_samples / self.sample_rates

    def take(self, indices: Sequence[int] | np.ndarray) -> RecordTable:
        """The utterances at ``indices``, in that order."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if len(indices) and (indices.min() < -len(self) or indices.max() >= len(self)):
            raise IndexError(f"indices outside a table of {len(self)}")
        indices = np.where(indices < 0, indices + len(self), indices)
        return RecordTable(
            paths=self._paths.take(indices),
            ids=self._ids.take(indices),
            id_spans=None if self._id_spans is None else self._id_spans[indices],
            transcripts=self._transcripts.take(indices),
            speakers=self._speakers.take(indices),
            num_samples=self.num_samples[indices],
            sample_rates=self.sample_rates[indices],
            channels=self.channels[indices],
            rows=None if self._rows is None else self._rows[indices],
        )

    @property
    def nbytes(self) -> int:
        """Memory the columns hold (buffers and arrays)."""
        arrays = (self.num_samples, self.sample_rates, self.channels, self._rows, self._id_spans)
        strings = (self._paths, self._ids, self._transcripts, self._speakers)
        return sum(a.nbytes for a in arrays if a is not None) + sum(s.nbytes for s in strings)


class RecordTableBuilder:
    """Appends ``AudioRecord``s to growing columns; ``build()`` gives the ``RecordTable``."""

    def __init__(self) -> None:
        self._paths = PackedStringsBuilder()
        self._ids = PackedStringsBuilder()
        self._id_spans = array("i")
        self._transcripts = PackedStringsBuilder()
        self._speakers = PackedStringsBuilder()
        self._num_samples = array("q")
        self._rates = array("i")
        self._channels = array("h")
        self._rows = array("q")

    def append(self, record: AudioRecord) -> None:
        path_bytes, id_bytes = record.path.encode("utf-8"), record.id.encode("utf-8")
        start = path_bytes.rfind(id_bytes)
        if record.id and start >= 0:
            self._id_spans.extend((start, start + len(id_bytes)))
            self._ids.append("")
        else:
            self._id_spans.extend((-1, -1))
            self._ids.append(record.id)
        self._paths.append(record.path)
        self._transcripts.append(record.transcript)
        self._speakers.append(record.speaker)
        self._num_samples.append(record.num_samples)
        self._rates.append(record.sample_rate)
        self._channels.append(record.channels)
        self._rows.append(-1 if record.row is None else record.row)

    def build(self) -> RecordTable:
        spans = np.frombuffer(self._id_spans, dtype=np.int32).reshape(-1, 2).copy()
        rows = np.frombuffer(self._rows, dtype=np.int64).copy()
        ids = self._ids.build()
        return RecordTable(
            paths=self._paths.build(),
            ids=ids if (spans[:, 0] < 0).any() else _AbsentStrings(len(spans)),
            id_spans=spans if (spans[:, 0] >= 0).any() else None,
            transcripts=_optional_column(self._transcripts.build()),
            speakers=_optional_column(self._speakers.build()),
            num_samples=np.frombuffer(self._num_samples, dtype=np.int64).copy(),
            sample_rates=np.frombuffer(self._rates, dtype=np.int32).copy(),
            channels=np.frombuffer(self._channels, dtype=np.int16).copy(),
            rows=rows if (rows >= 0).any() else None,
        )


__all__ = ["PackedStrings", "PackedStringsBuilder", "RecordTable", "RecordTableBuilder"]
