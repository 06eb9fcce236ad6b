"""Manifest parsing: every input format becomes ``ManifestEntry`` rows, validation makes ``AudioRecord``s.

Two types, on purpose:

* ``ManifestEntry`` is what a manifest *claims* about one utterance (a path, maybe a length,
  maybe a rate, a transcript). Parsers here produce it without touching the audio.
* ``AudioRecord`` is an utterance whose header was read and checked (``validation.py``): its
  ``num_samples`` and ``sample_rate`` are the file's own. Everything downstream uses records.

Formats read here (the HF ``datasets`` adapter lives in ``huggingface.py``):

* fairseq manifests (``read_fairseq_manifest``): ``train.tsv`` whose first line is the root
  folder and whose rows are ``relative_path<TAB>num_samples``; labels from ``train.wrd`` (one
  line of words per row) or else ``train.ltr`` (letters separated by spaces, ``|`` between words,
  e.g. ``H E L L O | W O R L D |``); when both exist the words win, and lines where the two spell
  different words are logged as a warning (count and first line numbers). Extra columns after
  ``num_samples`` are ignored.
* transcript tables (``read_transcript_table``): TSV (no quoting), CSV or JSON lines with a header,
  a path column (``path``, ``file_name``, ``file``, ``audio``, ``audio_filepath``, ``filename``) and
  optionally a transcript column (``transcript``, ``text``, ``sentence``, ``transcription``), a
  speaker column (``speaker``, ``speaker_id``, ``client_id``), ``num_samples`` and ``sample_rate``
  (both checked against the file when present) and ``id``. Relative paths are relative to
  ``root`` (default: the table's folder). An empty transcript means "unlabeled" (``None``).
* audio folders (``scan_audio_folder``): every audio file below a folder, in sorted order; or,
  when the folder holds Hugging Face's audiofolder ``metadata.csv`` / ``metadata.jsonl``, the
  files that table lists, with its transcripts.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from wav2vec_hf.errors import Wav2VecHFError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".w64", ".caf")
PATH_COLUMNS = ("path", "file_name", "file", "audio", "audio_filepath", "filename")
TEXT_COLUMNS = ("transcript", "text", "sentence", "transcription")
SPEAKER_COLUMNS = ("speaker", "speaker_id", "client_id")
NUM_SAMPLES_COLUMNS = ("num_samples", "frames")
SAMPLE_RATE_COLUMNS = ("sample_rate", "sampling_rate")
AUDIOFOLDER_METADATA = ("metadata.csv", "metadata.jsonl")

logger = logging.getLogger(__name__)


class ManifestError(Wav2VecHFError, ValueError):
    """A manifest or label file that cannot be parsed; the message names the file, line and fix."""


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One utterance as a manifest describes it (nothing read from the audio yet).

    Attributes:
        id: unique name of the utterance (relative path without extension, an ``id`` column, ...).
        path: the audio file, or for in-memory audio a display name such as ``"dataset[12]"``.
        origin: where the entry came from, for error messages (``"train.tsv:5"``).
        transcript: words separated by single spaces, or ``None`` when unlabeled.
        speaker: speaker id or ``None``.
        num_samples: frames per channel the manifest claims, or ``None`` if it does not say.
        sample_rate: rate (Hz) the manifest claims, or ``None``.
        row: row of a Hugging Face dataset holding the audio, when it is not a file on disk.
    """

    id: str
    path: str
    origin: str
    transcript: str | None = None
    speaker: str | None = None
    num_samples: int | None = None
    sample_rate: int | None = None
    row: int | None = None


@dataclass(frozen=True, slots=True)
class AudioRecord:
    """One checked utterance: the common currency of the data layer.

    Attributes:
        id: unique name of the utterance.
        path: the audio file, or a display name for audio held in a dataset row.
        num_samples: frames per channel at ``sample_rate``, read from the file's header.
        sample_rate: the file's own rate in Hz (the loader resamples to the model's rate).
        transcript: words separated by single spaces, or ``None`` when unlabeled.
        speaker: speaker id or ``None``.
        channels: channels in the file (mixed down to mono when loaded).
        row: row of a Hugging Face dataset holding the audio, when it is not a file on disk.
    """

    id: str
    path: str
    num_samples: int
    sample_rate: int
    transcript: str | None = None
    speaker: str | None = None
    channels: int = 1
    row: int | None = None

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.num_samples / self.sample_rate


def ltr_to_words(line: str) -> str:
    """fairseq ``.ltr`` line (``"H E L L O | W O R L D |"``) to words (``"HELLO WORLD"``)."""
    letters = "".join(line.split())
    return " ".join(word for word in letters.split("|") if word)


def clean_transcript(text: object) -> str | None:
    """Strip surrounding whitespace and collapse inner runs of whitespace; empty or ``None`` -> ``None``."""
    if text is None:
        return None
    words = str(text).split()
    return " ".join(words) if words else None


def _strip_extension(relative: str) -> str:
    root, ext = os.path.splitext(relative)
    return root if ext else relative


def join_path(root: str, relative: str) -> str:
    """``str(Path(root) / relative)`` without pathlib for the common case.

    pathlib interns every path part for the life of the process: on a manifest of millions of
    files that is memory never given back. Relative paths that pathlib would rewrite (``./``,
    ``//``, a trailing ``/``) still go through it, so the result is the same string either way.
    """
    if os.path.isabs(relative) or root == ".":
        root = ""
    plain = (
        relative
        and os.sep == "/"
        and not relative.startswith("./")
        and "//" not in relative
        and "/./" not in relative
        and not relative.endswith(("/", "/."))
        and relative != "."
    )
    if not plain:
        return str(Path(root) / relative) if root else str(Path(relative))
    return relative if not root else root + relative if root.endswith("/") else f"{root}/{relative}"


def read_utf8(path: str | os.PathLike[str]) -> str:
    """The text of a UTF-8 manifest, table or label file.

    Raises:
        ManifestError: the file is in another encoding; names the file, the line and the fix
            (instead of Python's "'utf-8' codec can't decode byte 0xe9 in position 69").
    """
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise ManifestError(
            f"{path}:{line}: not UTF-8 (byte 0x{data[error.start]:02x} at column {column}); save the file as "
            f"UTF-8, e.g. `iconv -f latin1 -t utf-8 {path} > utf8-copy` if it is Latin-1, and use that copy."
        ) from None


def _read_label_lines(path: Path, expected: int, manifest: Path) -> list[str]:
    lines = read_utf8(path).splitlines()
    # A trailing empty line is an artefact of the writer, not a label.
    while len(lines) > expected and lines[-1].strip() == "":
        lines.pop()
    if len(lines) != expected:
        raise ManifestError(
            f"{path}: has {len(lines)} lines but {manifest} has {expected} rows; label files must have "
            "exactly one line per manifest row, in the same order (regenerate them together)."
        )
    return lines


def _resolve_fairseq_root(first_line: str, manifest: Path) -> Path:
    root = Path(first_line.strip())
    if root.is_dir():
        return root
    beside = manifest.parent / root
    if not root.is_absolute() and beside.is_dir():
        return beside
    raise ManifestError(
        f"{manifest}:1: root folder {first_line.strip()!r} does not exist (tried it as given and "
        f"relative to {manifest.parent}); the first line of a fairseq manifest must be the folder the "
        "audio paths are relative to. Fix that line."
    )


def read_fairseq_manifest(manifest: str | os.PathLike[str]) -> list[ManifestEntry]:
    """Parse a fairseq ``.tsv`` manifest and its ``.wrd`` / ``.ltr`` labels (same stem, same folder).

    Returns:
        One entry per row, in file order, with the claimed ``num_samples``; transcripts from the
        ``.wrd`` file, else from the ``.ltr`` file, else ``None``.

    Raises:
        ManifestError: unreadable root, malformed row, or label files with the wrong line count.
    """
    manifest = Path(manifest)
    lines = read_utf8(manifest).splitlines()
    if not lines:
        raise ManifestError(f"{manifest}: empty file; a fairseq manifest starts with its root folder.")
    root = _resolve_fairseq_root(lines[0], manifest)
    rows: list[tuple[int, str, int]] = []
    for line_number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or not fields[1].strip().isdigit():
            raise ManifestError(
                f"{manifest}:{line_number}: expected 'relative_path<TAB>num_samples', got {line!r}. "
                "Regenerate the manifest (num_samples is soundfile.info(path).frames)."
            )
        if ":" in fields[0] and Path(fields[0]).suffix.lower() not in AUDIO_EXTENSIONS:
            raise ManifestError(
                f"{manifest}:{line_number}: {fields[0]!r} looks like fairseq's 'file:offset:length' "
                "form (audio inside a zip), which is not supported; extract the audio to files."
            )
        rows.append((line_number, fields[0], int(fields[1])))

    transcripts: list[str | None] = [None] * len(rows)
    words_file, letters_file = manifest.with_suffix(".wrd"), manifest.with_suffix(".ltr")
    if words_file.is_file():
        transcripts = [clean_transcript(t) for t in _read_label_lines(words_file, len(rows), manifest)]
        if letters_file.is_file():
            letters = [
                clean_transcript(ltr_to_words(t))
                for t in _read_label_lines(letters_file, len(rows), manifest)
            ]
            _warn_if_labels_disagree(words_file, letters_file, rows, transcripts, letters)
    elif letters_file.is_file():
        letter_lines = _read_label_lines(letters_file, len(rows), manifest)
        transcripts = [clean_transcript(ltr_to_words(t)) for t in letter_lines]

    root_text = str(root)
    return [
        ManifestEntry(
            id=_strip_extension(relative),
            path=join_path(root_text, relative),
            origin=f"{manifest}:{line_number}",
            transcript=transcript,
            num_samples=num_samples,
        )
        for (line_number, relative, num_samples), transcript in zip(rows, transcripts)
    ]


def _warn_if_labels_disagree(
    words_file: Path, letters_file: Path, rows: list, words: list, letters: list, max_examples: int = 5
) -> None:
    """Log a warning when the ``.ltr`` line of a row spells other words than its ``.wrd`` line."""
    differ = [
        (line_number, word, letter)
        for (line_number, _, _), word, letter in zip(rows, words, letters)
        if word != letter
    ]
    if not differ:
        return
    # Label files have one line per manifest row, without the root line: manifest line - 1.
    shown = "; ".join(
        f"line {line_number - 1}: {word!r} vs {letter!r}"
        for line_number, word, letter in differ[:max_examples]
    )
    logger.warning(
        "%s and %s disagree on %d of %d lines; the words (.wrd) are used. First: %s. Regenerate the .ltr "
        "from the .wrd (or delete the one that is wrong).",
        words_file, letters_file.name, len(differ), len(rows), shown,
    )  # fmt: skip


def is_fairseq_manifest(path: str | os.PathLike[str]) -> bool:
    """True for a ``.tsv`` laid out as fairseq writes it: a bare folder line (no tab), then
    ``path<TAB>num_samples`` rows (or nothing). A one-column table with a header is not one."""
    path = Path(path)
    if path.suffix.lower() != ".tsv":
        return False
    try:
        with path.open(encoding="utf-8") as handle:
            first = handle.readline().rstrip("\r\n")
            second = handle.readline().rstrip("\r\n")
    except UnicodeDecodeError:
        read_utf8(path)  # raises the ManifestError that names the line
        raise
    if not first or "\t" in first:
        return False
    fields = second.split("\t")
    return not second or (len(fields) >= 2 and fields[1].strip().isdigit())


def _pick_column(
    header: Sequence[str], wanted: str | None, candidates: Iterable[str], table: Path, role: str
):
    if wanted is not None:
        if wanted not in header:
            raise ManifestError(
                f"{table}: no column {wanted!r} for the {role}; the columns are {list(header)}."
            )
        return wanted
    lowered = {name.lower(): name for name in header}
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    return None


def _read_table_rows(table: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    """Header and ``(line_number, row)`` pairs of a TSV, CSV or JSON-lines file."""
    suffix = table.suffix.lower()
    if suffix in (".jsonl", ".json"):
        rows: list[tuple[int, dict]] = []
        header: dict[str, None] = {}
        for line_number, line in enumerate(read_utf8(table).split("\n"), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ManifestError(
                    f"{table}:{line_number}: not valid JSON ({error}); JSON-lines tables hold one object per line."
                ) from error
            if not isinstance(row, dict):
                raise ManifestError(
                    f"{table}:{line_number}: expected a JSON object, got {type(row).__name__}."
                )
            header.update(dict.fromkeys(row))
            rows.append((line_number, row))
        return list(header), rows
    if suffix not in (".tsv", ".csv", ".txt"):
        raise ManifestError(f"{table}: unknown table format {suffix!r}; use .tsv, .csv or .jsonl.")
    with io.StringIO(read_utf8(table), newline="") as handle:
        if suffix == ".csv":
            reader = csv.reader(handle)
        else:
            # TSV transcripts may contain quote characters: read fields verbatim.
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        lines = list(reader)
    if not lines:
        raise ManifestError(f"{table}: empty file; expected a header line naming the columns.")
    header = [name.strip() for name in lines[0]]
    rows = []
    for line_number, fields in enumerate(lines[1:], start=2):
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) > len(header):
            raise ManifestError(
                f"{table}:{line_number}: {len(fields)} fields but the header has {len(header)}; "
                "check the delimiter and quoting of this line."
            )
        # Short rows: trailing empty fields (e.g. an empty transcript) may be dropped by some writers.
        rows.append((line_number, dict(zip(header, fields + [""] * (len(header) - len(fields))))))
    return header, rows


def _optional_int(value: object, table: Path, line_number: int, column: str) -> int | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError as error:
        raise ManifestError(
            f"{table}:{line_number}: column {column!r} must be an integer, got {value!r}."
        ) from error


def read_transcript_table(
    table: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    path_column: str | None = None,
    text_column: str | None = None,
    speaker_column: str | None = None,
    id_column: str | None = None,
) -> list[ManifestEntry]:
    """Parse a TSV / CSV / JSON-lines table of audio paths and (optional) transcripts.

    Args:
        table: the table file; its extension picks the format (``.tsv``, ``.csv``, ``.jsonl``).
        root: folder that relative paths start from (default: the table's folder).
        path_column, text_column, speaker_column: column names; ``None`` picks the first of
            ``PATH_COLUMNS`` / ``TEXT_COLUMNS`` / ``SPEAKER_COLUMNS`` present. A table with no
            transcript column is unlabeled.
        id_column: column holding utterance ids (default: ``id`` when present); without one, the
            relative path without its extension is the id.

    Raises:
        ManifestError: no path column, malformed line, non-integer ``num_samples``/``sample_rate``.
    """
    table = Path(table)
    base = Path(root) if root is not None else table.parent
    header, rows = _read_table_rows(table)
    path_key = _pick_column(header, path_column, PATH_COLUMNS, table, "audio path")
    if path_key is None:
        raise ManifestError(
            f"{table}: no audio path column among {header}; name it one of {list(PATH_COLUMNS)} "
            "or pass path_column=..."
        )
    text_key = _pick_column(header, text_column, TEXT_COLUMNS, table, "transcript")
    speaker_key = _pick_column(header, speaker_column, SPEAKER_COLUMNS, table, "speaker")
    frames_key = _pick_column(header, None, NUM_SAMPLES_COLUMNS, table, "num_samples")
    rate_key = _pick_column(header, None, SAMPLE_RATE_COLUMNS, table, "sample_rate")
    id_key = _pick_column(header, id_column, ("id",), table, "id")

    base_text = str(base)
    entries = []
    for line_number, row in rows:
        relative = str(row.get(path_key) or "").strip()
        if not relative:
            raise ManifestError(
                f"{table}:{line_number}: empty {path_key!r} field; every row needs an audio path."
            )
        path = join_path(base_text, relative)
        speaker = clean_transcript(row.get(speaker_key)) if speaker_key else None
        entries.append(
            ManifestEntry(
                id=str(row[id_key])
                if id_key and row.get(id_key) not in (None, "")
                else _strip_extension(relative),
                path=path,
                origin=f"{table}:{line_number}",
                transcript=clean_transcript(row.get(text_key)) if text_key else None,
                speaker=speaker,
                num_samples=_optional_int(row.get(frames_key), table, line_number, frames_key)
                if frames_key
                else None,
                sample_rate=_optional_int(row.get(rate_key), table, line_number, rate_key)
                if rate_key
                else None,
            )
        )
    return entries


def scan_audio_folder(
    folder: str | os.PathLike[str],
    *,
    transcripts: str | os.PathLike[str] | None = None,
    extensions: Sequence[str] = AUDIO_EXTENSIONS,
    **table_options,
) -> list[ManifestEntry]:
    """Entries for a folder of audio files.

    Args:
        folder: the folder (searched recursively).
        transcripts: a transcript table (see ``read_transcript_table``) whose relative paths start at
            ``folder``; then exactly the files it lists are used. Without it, an audiofolder-style
            ``metadata.csv`` / ``metadata.jsonl`` in ``folder`` is used if present; otherwise every
            file with one of ``extensions`` is an unlabeled entry.
        **table_options: ``path_column``, ``text_column``, ``speaker_column``, ``id_column``.

    Raises:
        ManifestError: no audio files found, or a malformed transcript table.
    """
    folder = Path(folder)
    if transcripts is None:
        for name in AUDIOFOLDER_METADATA:
            if (folder / name).is_file():
                transcripts = folder / name
                break
    if transcripts is not None:
        return read_transcript_table(transcripts, root=folder, **table_options)
    wanted = {ext.lower() for ext in extensions}
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in wanted)
    if not files:
        raise ManifestError(
            f"{folder}: no audio files with extensions {sorted(wanted)}; point at the folder holding the audio."
        )
    return [
        ManifestEntry(
            id=_strip_extension(p.relative_to(folder).as_posix()),
            path=str(p),
            origin=str(p),
        )
        for p in files
    ]
