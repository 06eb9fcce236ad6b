"""Transcribe files with a fine-tuned CTC folder; write TSV / JSON-lines with timestamps.

``transcribe_files(model_dir, files)`` runs ``pipeline("automatic-speech-recognition")`` (this
package's ``SpeechRecognitionPipeline``) over many files, optionally chunked, and yields one
``Transcript`` per file in input order. ``write_tsv`` / ``write_jsonl`` save them:

* TSV without timestamps: ``path<TAB>text`` (one row per file, with a header);
* TSV with timestamps: ``path<TAB>start<TAB>end<TAB>text`` (one row per word or character, seconds);
* JSON lines: ``{"path", "text", "chunks": [{"text", "start", "end"}, ...]}`` per file.

``transcribe_arrays`` is the plain greedy decoder for arrays already in memory (padded batches of a
model and its processor), used by tests and evaluation code; its text is ``decoding.greedy``'s (the
fine-tuning metrics' and self-training's), which writes ``<unk>`` as ``⁇`` where the pipeline of
``transcribe_files`` (transformers' tokenizer) writes ``<unk>``.

Bad and unusual inputs (issue 17):

* a file shorter than the model's receptive field (a 10 ms file) is padded with silence to it and
  transcribed (usually ``""``); an empty, unreadable or NaN file is an ``AudioError`` naming it, or
  with ``skip_bad`` a ``Transcript`` with ``error`` set;
* a file that fails inside the model fails alone: a batch that raises is run again file by file,
  so the other files of its batch keep their transcripts;
* a truncated WAV (header declares more frames than the file holds) is transcribed as far as it
  goes, with ``Transcript.warning`` saying so;
* a file longer than the pipeline's ``max_unchunked_seconds`` (5 minutes, on CPU) without
  ``chunk_length_s`` is transcribed in ``AUTO_CHUNK_SECONDS`` chunks, with a warning (one forward
  pass over it would need memory quadratic in its length);
* ``transcribe_arrays`` takes integer arrays as PCM (``int16 / 32768``, ``int32 / 2 ** 31``, see
  ``wav2vec_hf.data.audio.as_float_waveform``) and refuses NaN / inf and empty arrays.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from wav2vec_hf.errors import Wav2VecHFError

TIMESTAMP_LEVELS = ("word", "char")
AUTO_CHUNK_SECONDS = (30.0, 5.0)
"""``(chunk_length_s, stride_length_s)`` for files too long for one forward pass."""


@dataclass
class Transcript:
    """One file's result.

    Attributes:
        path: the input file.
        text: the transcript.
        chunks: ``(text, start_seconds, end_seconds)`` per word / character when timestamps were asked for.
        error: the reason the file could not be transcribed (``--skip_bad``), else ``None``.
        warning: something the transcript's reader should know (a truncated file, automatic
            chunking), else ``None``.
    """

    path: str
    text: str = ""
    chunks: list[tuple[str, float, float]] = field(default_factory=list)
    error: str | None = None
    warning: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready form."""
        data = {"path": self.path, "text": self.text}
        if self.chunks:
            data["chunks"] = [{"text": t, "start": s, "end": e} for t, s, e in self.chunks]
        if self.error is not None:
            data["error"] = self.error
        if self.warning is not None:
            data["warning"] = self.warning
        return data


class TranscriptionError(Wav2VecHFError, ValueError):
    """A file that decoded but could not be transcribed (the model or the decoder failed on it)."""


def load_pipeline(model_dir: str | os.PathLike, device: str | int | None = None, **kwargs):
    """``pipeline("automatic-speech-recognition", model=model_dir)`` with this package's input decoding.

    Any model (also a stock checkpoint, which a plain ``pipeline()`` call leaves to transformers' class)
    gets ``SpeechRecognitionPipeline`` here, unless ``pipeline_class=`` says otherwise.

    Raises:
        LanguageModelError: the folder's ``alphabet.json`` / ``language_model/`` is bad (named, with
            the fix), checked before the pipeline loads it.
    """
    from transformers import pipeline

    import wav2vec_hf  # noqa: F401  (registers the Auto classes)
    from wav2vec_hf.decoding.language_model import KENLM_READ_ERRORS, kenlm_read_error
    from wav2vec_hf.decoding.processor import check_lm_files
    from wav2vec_hf.inference.pipeline import SpeechRecognitionPipeline
    from wav2vec_hf.model_folders import check_model_source

    check_model_source(model_dir)  # a missing folder or damaged weights, named before anything loads
    lm_file = check_lm_files(model_dir) if Path(model_dir).is_dir() else None  # bad LM files, named
    kwargs.setdefault("pipeline_class", SpeechRecognitionPipeline)
    try:
        return pipeline("automatic-speech-recognition", model=str(model_dir), device=device, **kwargs)
    except KENLM_READ_ERRORS as error:
        if lm_file is None or lm_file.name not in str(error):
            raise
        raise kenlm_read_error(lm_file, error) from error


def _chunks(output: dict) -> list[tuple[str, float, float]]:
    return [
        (str(chunk["text"]), float(chunk["timestamp"][0]), float(chunk["timestamp"][1]))
        for chunk in output.get("chunks", [])
    ]


def transcribe_files(
    model_dir: str | os.PathLike,
    files: Sequence[str | os.PathLike],
    *,
    batch_size: int = 1,
    chunk_length_s: float = 0.0,
    stride_length_s: float | None = None,
    timestamps: str | None = None,
    device: str | int | None = None,
    skip_bad: bool = False,
    progress: bool = True,
    asr=None,
) -> Iterator[Transcript]:
    """Transcribe ``files`` in order, one ``Transcript`` each.

    Args:
        model_dir: a fine-tuned CTC folder (any generation).
        files: audio files (anything libsndfile reads; any rate; channels are averaged).
        batch_size: files per forward pass (without chunking; padded batches).
        chunk_length_s, stride_length_s: split long audio into overlapping chunks (seconds); 0: whole
            files, except files longer than the pipeline's ``max_unchunked_seconds`` on CPU, which are
            chunked (``AUTO_CHUNK_SECONDS``) with a ``Transcript.warning``.
        timestamps: ``"word"``, ``"char"`` or ``None``.
        device: torch device for the model (``None``: CPU).
        skip_bad: a file that cannot be decoded or transcribed becomes a ``Transcript`` with
            ``error`` set instead of stopping the run; the other files of its batch are unaffected.
        progress: a tqdm progress bar on stderr.
        asr: an already built pipeline (``load_pipeline``) to reuse.

    Raises:
        AudioError: a missing, unreadable, empty or NaN file (names it), unless ``skip_bad``.
        TranscriptionError: the model or decoder failed on a file (names it), unless ``skip_bad``.
    """
    from tqdm.auto import tqdm

    from wav2vec_hf.data.audio import AudioError, load_audio, read_audio_info, truncation_message

    if timestamps not in (None, *TIMESTAMP_LEVELS):
        raise ValueError(f"timestamps must be one of {TIMESTAMP_LEVELS} or None, got {timestamps!r}")
    asr = asr if asr is not None else load_pipeline(model_dir, device=device)
    rate = int(asr.feature_extractor.sampling_rate)
    options = {"return_timestamps": timestamps} if timestamps else {}
    if chunk_length_s:
        options.update(chunk_length_s=chunk_length_s, stride_length_s=stride_length_s)
    limit = getattr(asr, "max_unchunked_seconds", None)
    if limit is not None and getattr(getattr(asr, "device", None), "type", "cpu") != "cpu":
        limit = None

    bar = tqdm(total=len(files), unit="file", disable=not progress, desc="transcribing")

    def decoded() -> Iterator[_Pending]:
        for path in files:
            name = os.fspath(path)
            try:
                info = read_audio_info(path)
                audio = load_audio(path, rate)
            except AudioError as error:
                if not skip_bad:
                    raise
                yield _Pending(name, error=str(error))
                continue
            warning = (
                f"{name}: {truncation_message(info)}; transcribed the part it holds"
                if info.truncated
                else None
            )
            item_options = options
            if not chunk_length_s and limit is not None and len(audio) > limit * rate:
                chunk, stride = AUTO_CHUNK_SECONDS
                item_options = {**options, "chunk_length_s": chunk, "stride_length_s": stride}
                note = (
                    f"{name}: {len(audio) / rate / 60:.1f} min, longer than one forward pass may take "
                    f"({limit:g} s on CPU): transcribed in {chunk:g} s chunks (pass --chunk-length-s to choose)"
                )
                warning = note if warning is None else f"{warning}; {note}"
            yield _Pending(name, audio, warning=warning, options=item_options)

    def run(items: list[_Pending], item_options: dict) -> list[dict | Exception]:
        """Outputs of ``items`` in order: one batched call, or file by file when the batch fails."""
        inputs = [{"raw": item.audio, "sampling_rate": rate} for item in items]
        try:
            return list(asr(inputs, batch_size=batch_size, **item_options))
        except Exception as error:  # the model or decoder failed on some input of the batch
            if len(items) == 1:
                return [error]
        outputs: list[dict | Exception] = []
        for item in items:
            try:
                outputs.append(asr({"raw": item.audio, "sampling_rate": rate}, **item_options))
            except Exception as error:
                outputs.append(error)
        return outputs

    pending: list[_Pending] = []

    def flush() -> Iterator[Transcript]:
        results: dict[int, dict | Exception] = {}
        groups: dict[tuple, list[int]] = {}
        for index, item in enumerate(pending):
            if item.error is None:
                groups.setdefault(tuple(sorted(item.options.items())), []).append(index)
        for indices in groups.values():
            outputs = run([pending[i] for i in indices], pending[indices[0]].options)
            results.update(zip(indices, outputs, strict=True))
        for index, item in enumerate(pending):
            output = results.get(index)
            if item.error is not None:
                transcript = Transcript(item.path, error=item.error)
            elif isinstance(output, Exception):
                message = f"{item.path}: cannot be transcribed ({type(output).__name__}: {output})"
                if not skip_bad:
                    pending.clear()
                    raise TranscriptionError(message) from output
                transcript = Transcript(item.path, error=message)
            else:
                text = " ".join(str(output["text"]).split())
                transcript = Transcript(item.path, text, _chunks(output), warning=item.warning)
            bar.update(1)
            yield transcript
        pending.clear()

    try:
        items = decoded()
        while True:
            try:
                item = next(items)
            except StopIteration:
                break
            except AudioError:
                yield from flush()  # the files decoded before the bad one keep their transcripts
                raise
            pending.append(item)
            if len(pending) >= max(batch_size, 1) * 8:
                yield from flush()
        yield from flush()
    finally:
        bar.close()


@dataclass
class _Pending:
    """A file waiting for its batch: its audio, or why it has none."""

    path: str
    audio: np.ndarray | None = None
    error: str | None = None
    warning: str | None = None
    options: dict = field(default_factory=dict)


def write_tsv(transcripts: Iterable[Transcript], path: str | os.PathLike, *, with_timestamps: bool) -> int:
    """Write transcripts as TSV (see the module docstring); returns the rows written.

    Files that could not be transcribed (``error`` set) have no row: an empty text would read as
    silence. ``write_jsonl`` keeps them, with their error.
    """
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(
            handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\"
        )
        writer.writerow(["path", "start", "end", "text"] if with_timestamps else ["path", "text"])
        for transcript in transcripts:
            if transcript.error is not None:
                continue
            if with_timestamps:
                for text, start, end in transcript.chunks:
                    writer.writerow([transcript.path, f"{start:.3f}", f"{end:.3f}", text])
                    rows += 1
            else:
                writer.writerow([transcript.path, transcript.text])
                rows += 1
    return rows


def write_jsonl(transcripts: Iterable[Transcript], path: str | os.PathLike) -> int:
    """Write one JSON object per transcript; returns the lines written."""
    lines = 0
    with open(path, "w", encoding="utf-8") as handle:
        for transcript in transcripts:
            handle.write(json.dumps(transcript.to_dict(), ensure_ascii=False) + "\n")
            lines += 1
    return lines


@torch.no_grad()
def transcribe_arrays(
    model,
    processor,
    waveforms: Sequence[np.ndarray],
    *,
    batch_size: int = 8,
    sampling_rate: int | None = None,
) -> list[str]:
    """Greedy CTC transcripts of in-memory waveforms (already at the model's rate), in padded batches.

    Logits come from ``decoding.logits.ctc_logits``, so the batch size never changes a transcript
    (group-norm wav2vec 2.0 models included, which get no attention mask). Integer arrays are PCM
    (``int16 / 32768``, ``int32 / 2 ** 31``); NaN / inf or empty arrays raise ``AudioError``;
    arrays shorter than the receptive field are padded with silence.
    """
    from wav2vec_hf.data.audio import prepare_waveform
    from wav2vec_hf.decoding.greedy import greedy_decode_ids, tokenizer_labels
    from wav2vec_hf.decoding.logits import ctc_logits, greedy_ids

    labels = tokenizer_labels(processor.tokenizer)
    model.eval()
    extractor = processor.feature_extractor
    rate = sampling_rate or extractor.sampling_rate
    texts: list[str] = []
    for start in range(0, len(waveforms), batch_size):
        batch = [
            prepare_waveform(w, rate, None, name=f"<waveform {start + i}>")
            for i, w in enumerate(waveforms[start : start + batch_size])
        ]
        inputs = extractor(
            batch, sampling_rate=rate, padding=True, return_attention_mask=True, return_tensors="pt"
        )
        logits, frames = ctc_logits(model, inputs["input_values"], inputs["attention_mask"])
        ids = greedy_ids(logits, frames, processor.tokenizer.pad_token_id)
        texts.extend(greedy_decode_ids(row, labels) for row in ids.tolist())
    return texts


def read_file_list(path: str | os.PathLike) -> list[str]:
    """Paths from a text file, one per line (blank lines and ``#`` comments skipped), relative to its folder."""
    base = Path(path).parent
    paths = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            paths.append(str(Path(line) if Path(line).is_absolute() else base / line))
    return paths


__all__ = [
    "AUTO_CHUNK_SECONDS",
    "Transcript",
    "TranscriptionError",
    "load_pipeline",
    "read_file_list",
    "transcribe_arrays",
    "transcribe_files",
    "write_jsonl",
    "write_tsv",
]
