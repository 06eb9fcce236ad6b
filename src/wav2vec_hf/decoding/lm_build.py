"""Build a word n-gram LM folder from text files: normalise, estimate, write ARPA and the unigram list.

Output folder::

    <order>gram.arpa   the model (interpolated modified Kneser-Ney, see ``ngram``)
    unigrams.txt       its words, one a line (what pyctcdecode and our decoder treat as known)
    build.json         settings, counts, discounts, timings, normalisation rules

``attach_language_model`` (``processor``) turns such a folder into the ``language_model/`` of a
fine-tuned model.
"""

from __future__ import annotations

import gzip
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from wav2vec_hf.data.normalization import PROJECT_NORMALIZER, TextNormalizer
from wav2vec_hf.decoding.language_model import LanguageModelError
from wav2vec_hf.decoding.ngram import NgramModel, estimate_kneser_ney, write_arpa
from wav2vec_hf.json_files import write_json

BUILD_INFO_FILE = "build.json"


@dataclass
class LmBuild:
    """A built LM folder and what went into it."""

    out_dir: Path
    arpa_path: Path
    unigrams_path: Path
    model: NgramModel
    lines_read: int
    lines_used: int
    seconds: dict

    def summary(self) -> str:
        counts = ", ".join(f"{n}-grams {len(level)}" for n, level in enumerate(self.model.orders, start=1))
        lines = [
            f"LM at {self.arpa_path}",
            f"  {self.lines_used} sentences ({self.lines_read - self.lines_used} empty lines skipped), "
            f"{self.model.tokens} words, vocabulary {len(self.model.unigrams())}",
            f"  {counts}",
            f"  built in {self.seconds['total']:.1f} s (read+normalise {self.seconds['read']:.1f}, "
            f"estimate {self.seconds['estimate']:.1f}, write {self.seconds['write']:.1f})",
        ]
        lines += [f"  note: {note}" for note in self.model.notes]
        return "\n".join(lines)


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_lines(paths: Sequence[str | os.PathLike[str]]) -> Iterator[str]:
    """The lines of every text file (``.gz`` read transparently), with a clear error for a bad file."""
    for raw in paths:
        path = Path(raw)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: LM text file not found")
        try:
            with _open_text(path) as handle:
                yield from handle
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not UTF-8 text ({error}); convert it to UTF-8 first") from error


def build_lm(
    text_files: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    order: int = 4,
    pruning: Sequence[int] | None = None,
    normalizer: TextNormalizer | None = None,
) -> LmBuild:
    """Estimate an order-``order`` LM from ``text_files`` (one sentence a line) into ``out_dir``.

    Args:
        text_files: plain or gzipped UTF-8 text files.
        out_dir: the folder to write (created; files in it with the same names are replaced).
        order: n-gram order (1 or more; the papers use 4).
        pruning: per-order raw-count thresholds (see ``ngram.estimate_kneser_ney``).
        normalizer: how lines become words (default: the project's UPPERCASE transcript rules; use
            ``lm_text.lm_text_normalizer`` to follow a model's tokenizer).
    """
    if not text_files:
        raise ValueError("no LM text files given")
    normalizer = normalizer or PROJECT_NORMALIZER
    started = time.perf_counter()
    counter = {"read": 0}

    def counted_lines():
        for line in read_lines(text_files):
            counter["read"] += 1
            yield line

    sentences = list(normalizer.sentences(counted_lines()))
    read_done = time.perf_counter()
    model = estimate_kneser_ney(sentences, order, pruning=pruning)
    estimate_done = time.perf_counter()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arpa_path = write_arpa(model, out / f"{order}gram.arpa")
    unigrams_path = out / "unigrams.txt"
    unigrams_path.write_text("".join(w + "\n" for w in model.unigrams()), encoding="utf-8")
    finished = time.perf_counter()
    seconds = {
        "read": read_done - started,
        "estimate": estimate_done - read_done,
        "write": finished - estimate_done,
        "total": finished - started,
    }
    info = {
        "order": order,
        "model_order": model.order,
        "pruning": list(model.pruning),
        "text_files": [str(Path(p)) for p in text_files],
        "lines_read": counter["read"],
        "sentences": model.sentences,
        "words": model.tokens,
        "vocabulary": len(model.unigrams()),
        "ngrams": [len(level) for level in model.orders],
        "discounts": [list(level.discounts) for level in model.orders],
        "fallback_discounts": [level.fallback for level in model.orders],
        "normalization": normalizer.describe(),
        "notes": model.notes,
        "seconds": seconds,
        "estimator": "interpolated modified Kneser-Ney (wav2vec_hf.decoding.ngram)",
    }
    write_json(out / BUILD_INFO_FILE, info)
    return LmBuild(out, arpa_path, unigrams_path, model, counter["read"], model.sentences, seconds)


def find_built_lm(folder: str | os.PathLike[str]) -> tuple[Path, Path | None]:
    """(LM file, unigrams.txt or None) of a ``build-lm`` folder, a ``language_model/`` folder or an LM file."""
    path = Path(folder)
    if path.is_file():
        unigrams = path.parent / "unigrams.txt"
        return path, unigrams if unigrams.is_file() else None
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no LM file or folder here")
    candidates = sorted(p for p in path.iterdir() if p.suffix in (".arpa", ".bin", ".binary") and p.is_file())
    if len(candidates) != 1:
        raise LanguageModelError(
            f"{path}: expected exactly one *.arpa / *.bin / *.binary file, found {[p.name for p in candidates]}; "
            "point at one LM file, or rebuild the folder with `wav2vec-hf build-lm`"
        )
    unigrams = path / "unigrams.txt"
    return candidates[0], unigrams if unigrams.is_file() else None
