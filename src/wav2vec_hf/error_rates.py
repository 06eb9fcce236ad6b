"""Word and character error rates: Levenshtein alignment counts summed over a set of utterances.

Definitions (those of jiwer and of the papers): over a whole set,
``error rate = (substitutions + deletions + insertions) / reference tokens``. Words are split on
whitespace; characters are the characters of the text with single spaces between words (spaces
count, as in jiwer's CER). An empty hypothesis has an error rate of exactly 1 (all deletions): the
"all-blank" level of a CTC model that has not started to write.

Used by fine-tuning (``finetuning.metrics``: Trainer and ``evaluate`` metrics), LM tuning,
self-training and the benchmarks; one implementation for all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Stand-ins for <unk> when decoding ids: never equal to each other or to real text, so an unknown
# reference character always counts as one error (the model cannot write it).
REFERENCE_UNKNOWN = "\ufffd"
HYPOTHESIS_UNKNOWN = "\ufffc"


@dataclass(frozen=True)
class ErrorCounts:
    """Edit operations between hypotheses and references, summed over utterances."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_length: int = 0

    @property
    def errors(self) -> int:
        """Substitutions + deletions + insertions."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """errors / reference tokens (0 for an empty reference set with no insertions, inf with some)."""
        if self.reference_length == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.reference_length

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.reference_length + other.reference_length,
        )


def _as_codes(tokens: Sequence, vocabulary: dict) -> np.ndarray:
    return np.fromiter((vocabulary.setdefault(t, len(vocabulary)) for t in tokens), dtype=np.int64)


def align(reference: Sequence, hypothesis: Sequence) -> ErrorCounts:
    """Levenshtein alignment of two token sequences: substitution, deletion, insertion counts.

    Rows of the dynamic programme are computed with numpy: within a row, the insertion chain is a
    running minimum of ``cost[k] - k``, so each row is O(len(hypothesis)) vectorised work.
    """
    vocabulary: dict = {}
    ref, hyp = _as_codes(reference, vocabulary), _as_codes(hypothesis, vocabulary)
    n, m = len(ref), len(hyp)
    if n == 0 or m == 0:
        return ErrorCounts(deletions=n, insertions=m, reference_length=n)
    table = np.empty((n + 1, m + 1), dtype=np.int64)
    table[0] = np.arange(m + 1)
    columns = np.arange(m + 1)
    for i in range(1, n + 1):
        previous = table[i - 1]
        best = np.empty(m + 1, dtype=np.int64)
        best[0] = i
        best[1:] = np.minimum(previous[1:] + 1, previous[:-1] + (hyp != ref[i - 1]))
        # Insertions: table[i, j] = min_k (best[k] + j - k) for k <= j.
        table[i] = np.minimum.accumulate(best - columns) + columns
    substitutions = deletions = insertions = 0
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and table[i, j] == table[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            substitutions += int(ref[i - 1] != hyp[j - 1])
            i, j = i - 1, j - 1
        elif i > 0 and table[i, j] == table[i - 1, j] + 1:
            deletions += 1
            i -= 1
        else:
            insertions += 1
            j -= 1
    return ErrorCounts(substitutions, deletions, insertions, n)


def _characters(text: str) -> list[str]:
    return list(" ".join(text.split()))


def error_counts(references: Sequence[str], hypotheses: Sequence[str], unit: str = "word") -> ErrorCounts:
    """Summed ``ErrorCounts`` of ``hypotheses`` against ``references`` at ``unit`` ``"word"`` or ``"char"``."""
    if len(references) != len(hypotheses):
        raise ValueError(
            f"{len(references)} references but {len(hypotheses)} hypotheses; give one per utterance."
        )
    if unit not in ("word", "char"):
        raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")
    split = str.split if unit == "word" else _characters
    total = ErrorCounts()
    for reference, hypothesis in zip(references, hypotheses):
        total = total + align(split(reference), split(hypothesis))
    return total


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """WER over a set: word edit operations / reference words."""
    return error_counts(references, hypotheses, "word").rate


def character_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """CER over a set: character edit operations / reference characters (spaces included)."""
    return error_counts(references, hypotheses, "char").rate


def word_errors(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[int, int]:
    """``(word edit operations, reference words)`` summed over utterance pairs."""
    counts = error_counts(references, hypotheses, "word")
    return counts.errors, counts.reference_length


__all__ = [
    "HYPOTHESIS_UNKNOWN",
    "REFERENCE_UNKNOWN",
    "ErrorCounts",
    "align",
    "character_error_rate",
    "error_counts",
    "word_error_rate",
    "word_errors",
]
