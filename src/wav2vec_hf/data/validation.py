"""Up-front checks: every utterance is checked before training starts.

``validate_entries`` reads each file's header with ``soundfile.info`` (threads for large
manifests), compares it with what the manifest claims and with ``ValidationRules``, and turns good
entries into ``AudioRecord``s. Then it decodes the audio to find what no header shows (NaN / inf
samples, data corrupt past the header), according to ``ValidationRules.decode``:

* ``"auto"`` (default): decode every file up front when the set holds at most
  ``decode_limit_hours`` of audio (10 h by default: measured on 2 cores with files in the page
  cache, 16 kHz WAV is checked at about 7,000x real time and FLAC at about 5,000x, so 10 h take
  5-7 s, plus the disk's read time; files are decoded block by block, never whole); a larger set is
  checked as each utterance is loaded (``AudioDataset`` and friends: an ``AudioError`` naming the
  file, or with ``on_bad="skip"`` a counted skip), and a log line says so;
* ``True``: always decode up front; ``False``: never (headers only).

``SkipReport.decode_checked`` records which happened. Each bad entry gets one reason code:

=================  ==========================================================================
reason             meaning
=================  ==========================================================================
missing_file       the path does not exist (or names a folder)
permission_denied  this user may not read the file (or enter a folder of its path)
unreadable         libsndfile cannot parse the header / decode the data (corrupt file, or a
                   format libsndfile does not read; the message says which), or a disk error
empty              0 samples
truncated          a WAV whose header declares more frames than the file holds (cut short)
length_mismatch    the manifest's ``num_samples`` differs from the header's frames
rate_mismatch      the manifest's ``sample_rate`` differs from the header's
wrong_rate         a strict rate was asked for (``expected_rate``) and the file has another
multichannel       more than one channel under ``strict_mono``
too_short          shorter than ``min_samples`` at ``target_rate`` (e.g. the receptive field)
too_long           longer than ``max_samples`` at ``target_rate``
no_transcript      ``require_transcript`` and the entry is unlabeled
bad_transcript     characters outside ``vocabulary``
non_finite         NaN / inf samples (found by decoding: up front, see ``decode``, or at load time)
=================  ==========================================================================

``on_bad="raise"`` (default) collects every problem and raises one ``DataValidationError``
listing counts per reason, example files and the fix. ``on_bad="skip"`` drops bad entries and
counts them in a ``SkipReport`` (``print(report)`` gives a summary): never a silent loss.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from wav2vec_hf.data.audio import (
    DEFAULT_SAMPLE_RATE,
    EMPTY,
    MISSING_FILE,
    MULTICHANNEL,
    NON_FINITE,
    PERMISSION_DENIED,
    UNREADABLE,
    WRONG_RATE,
    AudioError,
    AudioInfo,
    read_audio_info,
    resampled_length,
    truncation_message,
)
from wav2vec_hf.data.file_facts import FileFacts
from wav2vec_hf.data.record_table import RecordTable, RecordTableBuilder
from wav2vec_hf.data.records import AudioRecord, ManifestEntry
from wav2vec_hf.errors import Wav2VecHFError

LENGTH_MISMATCH = "length_mismatch"
RATE_MISMATCH = "rate_mismatch"
TOO_SHORT = "too_short"
TOO_LONG = "too_long"
NO_TRANSCRIPT = "no_transcript"
BAD_TRANSCRIPT = "bad_transcript"
TRUNCATED = "truncated"

ON_BAD_CHOICES = ("raise", "skip")
DECODE_CHOICES = (True, False, "auto")
DECODE_LIMIT_HOURS = 10.0
"""``decode="auto"`` decodes a set up front when it holds at most this many hours of audio."""

logger = logging.getLogger(__name__)

FIXES = {
    MISSING_FILE: "fix the path or the manifest's root folder, or remove the row",
    PERMISSION_DENIED: "check the file's permissions (and its folders'): the user running this must read it",
    UNREADABLE: "re-encode the file (WAV/FLAC) or remove it",
    EMPTY: "remove the row",
    TRUNCATED: "copy the file again from its source, or remove the row",
    LENGTH_MISMATCH: "regenerate the manifest (num_samples = soundfile.info(path).frames)",
    RATE_MISMATCH: "regenerate the manifest (sample_rate = soundfile.info(path).samplerate)",
    WRONG_RATE: "resample the files to the required rate, or drop expected_rate to let the loader resample",
    MULTICHANNEL: "mix the files down to mono, or set strict_mono=False to average channels",
    TOO_SHORT: "remove utterances shorter than min_samples (the model's receptive field)",
    TOO_LONG: "split long utterances, raise max_samples, or crop them when batching",
    NO_TRANSCRIPT: "add the transcript, or use unlabeled data only for pretraining",
    BAD_TRANSCRIPT: "normalise the text (case, digits spelled out) or add the characters to the vocabulary",
    NON_FINITE: "re-export the file from its source, or remove it",
}


class DataValidationError(Wav2VecHFError, ValueError):
    """Some utterances failed validation; ``.report`` holds the counts and examples."""

    def __init__(self, report: SkipReport, report_file: str | os.PathLike | None = None) -> None:
        listed = f"\nEvery bad file, with its reason: {report_file}" if report_file is not None else ""
        super().__init__(
            f"{report.failed_count} of {report.seen} utterances in {report.source or 'the data'} failed "
            f"validation:\n{report.details()}{listed}\nFix them, or pass on_bad='skip' to skip and count them."
        )
        self.report = report
        self.report_file = report_file


@dataclass
class SkipReport:
    """Counts of bad utterances per reason, with a few example files each.

    Attributes:
        source: what was checked (a manifest path, a dataset name).
        seen: utterances looked at (0: not known, e.g. a report fed from batches).
        counts: reason code -> number of utterances.
        examples: reason code -> up to ``max_examples`` ``(file, message)`` pairs.
        decode_checked: whether validation decoded every file (``True``), read headers only
            (``False``: NaN / inf and corrupt data surface at load time), or ``None`` (not validation).
        failures: every bad utterance as ``(reason, file, message)``, in the order met (for the
            run's ``bad_files.tsv``: the screen shows counts and ``examples`` only).
    """

    source: str = ""
    seen: int = 0
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    max_examples: int = 5
    decode_checked: bool | None = None
    failures: list[tuple[str, str, str]] = field(default_factory=list, repr=False, compare=False)
    _loaded_failures: set = field(default_factory=set, init=False, repr=False, compare=False)

    def add(self, reason: str, path: str, message: str) -> None:
        """Count one bad utterance."""
        self.counts[reason] += 1
        self.failures.append((reason, path, message))
        shown = self.examples.setdefault(reason, [])
        if len(shown) < self.max_examples:
            shown.append((path, message))

    def add_load_failure(self, reason: str, path: str, message: str) -> None:
        """Count a file that failed to load, once however often it is loaded (every epoch, several
        segments of one epoch, training and evaluation)."""
        if path in self._loaded_failures:
            return
        self._loaded_failures.add(path)
        self.add(reason, path, message)

    def add_error(self, error: AudioError) -> None:
        """Count an ``AudioError`` met while loading, under its own reason (once per file)."""
        self.add_load_failure(error.reason, error.path, str(error))

    def record_skipped(self, skipped: Iterable[dict]) -> None:
        """Count the ``batch["skipped"]`` entries a collator passed on (from DataLoader workers),
        each file once however many batches skip it."""
        for item in skipped:
            self.add_load_failure(item["reason"], item["path"], item["message"])

    def merge(self, other: SkipReport) -> None:
        """Add another report's counts (e.g. from another rank or worker)."""
        self.seen += other.seen
        self.failures.extend(other.failures)
        for reason, count in other.counts.items():
            self.counts[reason] += count
            shown = self.examples.setdefault(reason, [])
            shown.extend(other.examples.get(reason, [])[: max(0, self.max_examples - len(shown))])

    @property
    def failed_count(self) -> int:
        """Utterances counted as bad, over all reasons."""
        return sum(self.counts.values())

    def details(self) -> str:
        """One block per reason: count, fix, example files."""
        lines = []
        for reason, count in sorted(self.counts.items(), key=lambda item: (-item[1], item[0])):
            lines.append(f"  {reason}: {count} (fix: {FIXES.get(reason, 'see the messages')})")
            lines.extend(f"    - {message}" for _, message in self.examples.get(reason, []))
        return "\n".join(lines)

    def summary(self) -> str:
        """Human-readable summary, e.g. for the end of a run."""
        count = self.failed_count
        # seen is 0 (unknown) in reports fed from batches: say "N utterances", never "N of 0".
        of = f" of {self.seen}" if self.seen >= count and self.seen else ""
        noun = "utterances" if of or count != 1 else "utterance"
        head = f"{self.source or 'data'}: {count}{of} {noun} skipped"
        return head if not self.counts else f"{head}\n{self.details()}"

    __str__ = summary

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "source": self.source,
            "seen": self.seen,
            "skipped": self.failed_count,
            "counts": dict(self.counts),
            "examples": {reason: [path for path, _ in shown] for reason, shown in self.examples.items()},
            "decode_checked": self.decode_checked,
        }


@dataclass(frozen=True)
class ValidationRules:
    """What an utterance must satisfy. Lengths are in samples at ``target_rate``.

    Attributes:
        target_rate: the model's rate (Hz), used for ``min_samples`` / ``max_samples``.
        min_samples: shortest usable input, e.g. the feature encoder's receptive field
            (400 samples for wav2vec 2.0, 465 for wav2vec). ``None``: only empty files fail.
        max_samples: longest allowed input (``None``: no limit).
        expected_rate: if set, files at any other rate fail instead of being resampled.
        strict_mono: multi-channel files fail instead of being mixed down.
        vocabulary: allowed transcript characters (a string or iterable of single characters);
            the space between words is always allowed. ``None``: no check.
        require_transcript: unlabeled entries fail (CTC fine-tuning).
        check_manifest: compare a manifest's ``num_samples`` / ``sample_rate`` with the header.
        decode: decode every file up front to find NaN/inf and corrupt data past the header:
            ``"auto"`` (default) when the set holds at most ``decode_limit_hours`` of audio,
            ``True`` always, ``False`` never. Files not decoded up front are checked when loaded.
        decode_limit_hours: the size limit of ``decode="auto"``.
    """

    target_rate: int = DEFAULT_SAMPLE_RATE
    min_samples: int | None = None
    max_samples: int | None = None
    expected_rate: int | None = None
    strict_mono: bool = False
    vocabulary: str | frozenset[str] | None = None
    require_transcript: bool = False
    check_manifest: bool = True
    decode: bool | str = "auto"
    decode_limit_hours: float = DECODE_LIMIT_HOURS

    def __post_init__(self) -> None:
        if self.decode not in DECODE_CHOICES:
            raise ValueError(f"decode must be True, False or 'auto', got {self.decode!r}")

    def decodes(self, total_seconds: float) -> bool:
        """Whether a set of ``total_seconds`` of audio is decoded up front."""
        if self.decode == "auto":
            return total_seconds <= self.decode_limit_hours * 3600
        return bool(self.decode)

    def allowed_characters(self) -> frozenset[str] | None:
        """The vocabulary as a set of characters (with the space), or ``None``."""
        if self.vocabulary is None:
            return None
        return frozenset(self.vocabulary) | {" "}


def entry_location(entry: ManifestEntry) -> str:
    """How messages name an entry: its path, plus the manifest line when that differs."""
    return entry.path if entry.origin == entry.path else f"{entry.path} ({entry.origin})"


def check_entry(entry: ManifestEntry, info: AudioInfo, rules: ValidationRules) -> tuple[str, str] | None:
    """The first problem of one entry given its header, as ``(reason, detail)``, or ``None``.

    ``detail`` says what is wrong; ``FIXES[reason]`` says what to do; ``entry_location`` names the entry.
    """
    if info.truncated:
        return TRUNCATED, truncation_message(info)
    if info.frames == 0:
        return EMPTY, "0 samples"
    if rules.check_manifest and entry.num_samples is not None and entry.num_samples != info.frames:
        return LENGTH_MISMATCH, (f"manifest says {entry.num_samples} samples, the file has {info.frames}")
    if rules.check_manifest and entry.sample_rate is not None and entry.sample_rate != info.sample_rate:
        return RATE_MISMATCH, (f"manifest says {entry.sample_rate} Hz, the file is {info.sample_rate} Hz")
    if rules.expected_rate is not None and info.sample_rate != rules.expected_rate:
        return (
            WRONG_RATE,
            f"{info.sample_rate} Hz but {rules.expected_rate} Hz is required",
        )
    if rules.strict_mono and info.channels != 1:
        return MULTICHANNEL, f"{info.channels} channels, mono required"
    length = resampled_length(info.frames, info.sample_rate, rules.target_rate)
    if rules.min_samples is not None and length < rules.min_samples:
        return TOO_SHORT, (
            f"{length} samples at {rules.target_rate} Hz, shorter than min_samples={rules.min_samples}"
        )
    if rules.max_samples is not None and length > rules.max_samples:
        return TOO_LONG, (
            f"{length} samples at {rules.target_rate} Hz, longer than max_samples={rules.max_samples}"
        )
    if rules.require_transcript and entry.transcript is None:
        return NO_TRANSCRIPT, "no transcript"
    allowed = rules.allowed_characters()
    if allowed is not None and entry.transcript is not None:
        unknown = sorted(set(entry.transcript) - allowed)
        if unknown:
            return BAD_TRANSCRIPT, (
                f"transcript {entry.transcript!r} has characters outside the vocabulary: "
                f"{', '.join(repr(c) for c in unknown)}"
            )
    return None


def entry_error(entry: ManifestEntry, info: AudioInfo, rules: ValidationRules) -> AudioError | None:
    """``check_entry`` as an ``AudioError`` (named by ``entry_location``), or ``None``."""
    problem = check_entry(entry, info, rules)
    if problem is None:
        return None
    reason, detail = problem
    return AudioError(entry_location(entry), reason, f"{detail}; {FIXES[reason]}.")


def record_from(entry: ManifestEntry, info: AudioInfo) -> AudioRecord:
    """The ``AudioRecord`` of an entry whose header passed."""
    return AudioRecord(
        id=entry.id,
        path=entry.path,
        num_samples=info.frames,
        sample_rate=info.sample_rate,
        transcript=entry.transcript,
        speaker=entry.speaker,
        channels=info.channels,
        row=entry.row,
    )


def _header_of_file(entry: ManifestEntry) -> AudioInfo:
    return read_audio_info(entry.path)


def check_on_bad(on_bad: str) -> str:
    """Validate the ``on_bad`` argument."""
    if on_bad not in ON_BAD_CHOICES:
        raise ValueError(f"on_bad must be one of {ON_BAD_CHOICES}, got {on_bad!r}")
    return on_bad


def _remembered(known, compute: Callable[[], object], learn: Callable[[object], None]):
    """A per-file fact from the validation cache (``known``; a cached ``AudioError`` is raised again),
    or ``compute()``'s result or error, handed to ``learn`` before it is returned or raised."""
    if isinstance(known, AudioError):
        raise known
    if known is not None:
        return known
    try:
        outcome = compute()
    except AudioError as error:
        learn(error)
        raise
    learn(outcome)
    return outcome


def _worker_count(items: int, num_threads: int | None, threshold: int) -> int:
    if num_threads is not None:
        return max(1, num_threads)
    return min(8, os.cpu_count() or 1) if items > threshold else 1


def _map(function, items: Sequence, threads: int, chunk: int = 64) -> list:
    """``[function(item) for item in items]``, on ``threads`` threads in chunks of ``chunk`` items
    (one task per item would cost more than a cached header read: ``Executor.map`` ignores chunksize
    for threads)."""
    if threads > 1 and len(items) > chunk:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            parts = pool.map(
                lambda start: [function(item) for item in items[start : start + chunk]],
                range(0, len(items), chunk),
            )
            return [result for part in parts for result in part]
    return [function(item) for item in items]


def validate_entries(
    entries: Sequence[ManifestEntry],
    rules: ValidationRules | None = None,
    *,
    on_bad: str = "raise",
    source: str = "",
    read_header: Callable[[ManifestEntry], AudioInfo] = _header_of_file,
    decode: Callable[[AudioRecord], object] | None = None,
    num_threads: int | None = None,
    decode_threads: int | None = None,
    facts: FileFacts | None = None,
) -> tuple[RecordTable, SkipReport]:
    """Check every entry from its header, then (see ``ValidationRules.decode``) decode the survivors,
    and return the good ones as records.

    Args:
        entries: what the manifest claims.
        rules: the checks (default ``ValidationRules()``: readable, non-empty, manifest agrees, and
            decoded up front when the set holds at most 10 hours).
        on_bad: ``"raise"`` (one ``DataValidationError`` listing every problem) or ``"skip"``.
        source: name used in messages and the report.
        read_header: entry -> ``AudioInfo``, raising ``AudioError`` (default: ``soundfile.info`` of
            ``entry.path``). Dataset adapters pass their own.
        decode: called on each record when the rules decode the set; must raise ``AudioError`` for
            bad audio (e.g. ``lambda r: audio.check_decodes(r.path)``). When it returns an array, or
            a frame count, short of what the header promised, the record fails as ``truncated``.
        num_threads: threads reading headers (default: up to 8 for large sets; libsndfile releases
            the GIL).
        decode_threads: threads decoding (default: ``num_threads``, else up to 8 for more than 16 files).
        facts: what earlier validations learnt about these files (``FileFacts`` over the entries'
            paths, in order): known headers and decode results are reused instead of read again, new
            ones are learnt (the caller saves them). The rules are applied afresh either way.

    Returns:
        ``(records, report)``: records in entry order (a columnar ``RecordTable``), and the report of
        what was dropped.

    Raises:
        DataValidationError: ``on_bad="raise"`` and at least one entry failed.
    """
    check_on_bad(on_bad)
    rules = rules or ValidationRules()
    report = SkipReport(source=source, seen=len(entries))

    def header(index: int, entry: ManifestEntry) -> AudioInfo:
        if facts is None:
            return read_header(entry)
        return _remembered(
            facts.header(index), lambda: read_header(entry), partial(facts.learn_header, index)
        )

    def inspect(item: tuple[int, ManifestEntry]) -> AudioRecord | tuple[str, str, str]:
        index, entry = item
        try:
            info = header(index, entry)
        except AudioError as error:
            return (
                error.reason,
                entry.path,
                f"{error} ({entry.origin})" if entry.origin != entry.path else str(error),
            )
        problem = check_entry(entry, info, rules)
        if problem is not None:
            return problem[0], entry.path, f"{entry_location(entry)}: {problem[1]}"
        return record_from(entry, info)

    def decode_once(index: int, record: AudioRecord):
        if facts is None:
            return decode(record)

        def learn(outcome) -> None:  # sample counts and errors are facts; waveforms are not kept
            if isinstance(outcome, (int, AudioError)):
                facts.learn_decoded(index, outcome)

        return _remembered(facts.decoded(index), lambda: decode(record), learn)

    def decoded(item: tuple[int, AudioRecord]) -> AudioRecord | tuple[str, str, str]:
        index, record = item
        try:
            waveform = decode_once(index, record)
        except AudioError as error:
            return error.reason, record.path, str(error)
        held = waveform if isinstance(waveform, int) else getattr(waveform, "shape", (None,))[0]
        if held is not None and held < record.num_samples:
            return (
                TRUNCATED,
                record.path,
                (
                    f"{record.path}: truncated: the header declares {record.num_samples} frames but "
                    f"{held} decode"
                ),
            )
        return record

    header_threads = 1 if facts is not None and facts.all_headers_known() else num_threads
    outcomes = _map(inspect, list(enumerate(entries)), _worker_count(len(entries), header_threads, 256))
    headers_passed = [(i, outcome) for i, outcome in enumerate(outcomes) if isinstance(outcome, AudioRecord)]
    seconds = sum(record.duration for _, record in headers_passed)
    report.decode_checked = decode is not None and rules.decodes(seconds)
    if report.decode_checked:
        checked = iter(
            _map(
                decoded, headers_passed, _worker_count(len(headers_passed), decode_threads or num_threads, 16)
            )
        )
        outcomes = [next(checked) if isinstance(outcome, AudioRecord) else outcome for outcome in outcomes]
    elif decode is not None and rules.decode == "auto" and headers_passed:
        logger.info(
            "%s: %.1f h of audio, more than decode_limit_hours=%g: headers checked; NaN/inf samples and "
            "data corrupt past the header are found when each utterance is loaded (on_bad=%r).",
            source or "data", seconds / 3600, rules.decode_limit_hours, on_bad,
        )  # fmt: skip

    builder = RecordTableBuilder()
    for outcome in outcomes:
        if isinstance(outcome, AudioRecord):
            builder.append(outcome)
        else:
            report.add(*outcome)
    records = builder.build()
    if report.failed_count and on_bad == "raise":
        raise DataValidationError(report)
    return records, report


__all__ = [
    "BAD_TRANSCRIPT",
    "EMPTY",
    "LENGTH_MISMATCH",
    "MISSING_FILE",
    "MULTICHANNEL",
    "NON_FINITE",
    "NO_TRANSCRIPT",
    "PERMISSION_DENIED",
    "RATE_MISMATCH",
    "TOO_LONG",
    "TOO_SHORT",
    "TRUNCATED",
    "UNREADABLE",
    "WRONG_RATE",
    "DataValidationError",
    "SkipReport",
    "ValidationRules",
    "check_entry",
    "entry_error",
    "entry_location",
    "validate_entries",
]
