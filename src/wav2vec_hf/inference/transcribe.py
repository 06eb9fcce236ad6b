"""Transcribe files with a fine-tuned CTC folder; write TSV / JSON-lines with timestamps.

``transcribe_files(model_dir, files)`` runs ``pipeline("automatic-speech-recognition")`` (this
package's ``SpeechRecognitionPipeline``) over many files, optionally chunked, and yields one
``Transcript`` per file in input order. ``write_tsv`` / ``write_jsonl`` save them:

* TSV without timestamps: ``path<TAB>text`` (one row per file, with a header);
* TSV with timestamps: ``path<TAB>start<TAB>end<TAB>text`` (one row per word or character, seconds);
* JSON lines: ``{"path", "text", "chunks": [{"text", "start", "end"}, ...]}`` per file.

``transcribe_arrays`` is the plain greedy decoder for arrays already in memory (padded batches of a
model and its processor), used by tests and evaluation code.
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

TIMESTAMP_LEVELS = ("word", "char")


@dataclass
class Transcript:
    """One file's result.

    Attributes:
        path: the input file.
        text: the transcript.
        chunks: ``(text, start_seconds, end_seconds)`` per word / character when timestamps were asked for.
        error: the reason the file could not be transcribed (``--skip_bad``), else ``None``.
    """

    path: str
    text: str = ""
    chunks: list[tuple[str, float, float]] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict:
        """JSON-ready form."""
        data = {"path": self.path, "text": self.text}
        if self.chunks:
            data["chunks"] = [{"text": t, "start": s, "end": e} for t, s, e in self.chunks]
        if self.error is not None:
            data["error"] = self.error
        return data


def load_pipeline(model_dir: str | os.PathLike, device: str | int | None = None, **kwargs):
    """``pipeline("automatic-speech-recognition", model=model_dir)`` with this package's input decoding."""
    from transformers import pipeline

    import wav2vec_hf  # noqa: F401  (registers the Auto classes and the pipeline class)

    return pipeline("automatic-speech-recognition", model=str(model_dir), device=device, **kwargs)


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
        chunk_length_s, stride_length_s: split long audio into overlapping chunks (seconds); 0: whole files.
        timestamps: ``"word"``, ``"char"`` or ``None``.
        device: torch device for the model (``None``: CPU).
        skip_bad: a file that cannot be decoded becomes a ``Transcript`` with ``error`` set instead
            of stopping the run.
        progress: a tqdm progress bar on stderr.
        asr: an already built pipeline (``load_pipeline``) to reuse.

    Raises:
        AudioError: a missing or unreadable file (names it), unless ``skip_bad``.
    """
    from tqdm.auto import tqdm

    from wav2vec_hf.data.audio import AudioError, load_audio

    if timestamps not in (None, *TIMESTAMP_LEVELS):
        raise ValueError(f"timestamps must be one of {TIMESTAMP_LEVELS} or None, got {timestamps!r}")
    asr = asr if asr is not None else load_pipeline(model_dir, device=device)
    rate = int(asr.feature_extractor.sampling_rate)
    options = {"return_timestamps": timestamps} if timestamps else {}
    if chunk_length_s:
        options.update(chunk_length_s=chunk_length_s, stride_length_s=stride_length_s)

    bar = tqdm(total=len(files), unit="file", disable=not progress, desc="transcribing")

    def decoded() -> Iterator[tuple[str, np.ndarray | None, str | None]]:
        for path in files:
            try:
                yield os.fspath(path), load_audio(path, rate), None
            except AudioError as error:
                if not skip_bad:
                    raise
                yield os.fspath(path), None, str(error)

    pending: list[tuple[str, np.ndarray | None, str | None]] = []

    def flush() -> Iterator[Transcript]:
        good = [(p, a) for p, a, e in pending if e is None]
        outputs = (
            iter(asr([{"raw": a, "sampling_rate": rate} for _, a in good], batch_size=batch_size, **options))
            if good
            else iter(())
        )
        for path, _, error in pending:
            if error is not None:
                yield Transcript(path, error=error)
            else:
                output = next(outputs)
                yield Transcript(path, " ".join(str(output["text"]).split()), _chunks(output))
            bar.update(1)
        pending.clear()

    try:
        for item in decoded():
            pending.append(item)
            if len(pending) >= max(batch_size, 1) * 8:
                yield from flush()
        yield from flush()
    finally:
        bar.close()


def write_tsv(transcripts: Iterable[Transcript], path: str | os.PathLike, *, with_timestamps: bool) -> int:
    """Write transcripts as TSV (see the module docstring); returns the rows written."""
    rows = 0
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(
            handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_NONE, escapechar="\\"
        )
        writer.writerow(["path", "start", "end", "text"] if with_timestamps else ["path", "text"])
        for transcript in transcripts:
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

    Logits come from ``inference.logits.ctc_logits``, so the batch size never changes a transcript
    (group-norm wav2vec 2.0 models included, which get no attention mask).
    """
    from wav2vec_hf.inference.logits import ctc_logits, greedy_ids

    model.eval()
    extractor = processor.feature_extractor
    rate = sampling_rate or extractor.sampling_rate
    texts: list[str] = []
    for start in range(0, len(waveforms), batch_size):
        batch = [np.asarray(w, dtype=np.float32) for w in waveforms[start : start + batch_size]]
        inputs = extractor(
            batch, sampling_rate=rate, padding=True, return_attention_mask=True, return_tensors="pt"
        )
        logits, frames = ctc_logits(model, inputs["input_values"], inputs["attention_mask"])
        ids = greedy_ids(logits, frames, processor.tokenizer.pad_token_id)
        texts.extend(" ".join(t.split()) for t in processor.tokenizer.batch_decode(ids.tolist()))
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
    "Transcript",
    "load_pipeline",
    "read_file_list",
    "transcribe_arrays",
    "transcribe_files",
    "write_jsonl",
    "write_tsv",
]
