"""Word and character error rates: Levenshtein alignment counts summed over a set of utterances.

Definitions (those of jiwer and of the papers): over a whole set,
``error rate = (substitutions + deletions + insertions) / reference tokens``. Words are split on
whitespace; characters are the characters of the text with single spaces between words (spaces
count, as in jiwer's CER). An empty hypothesis has an error rate of exactly 1 (all deletions): the
"all-blank" level of a CTC model that has not started to write. A set whose references hold no
token at all scores 0 when the hypotheses hold none either and ``inf`` otherwise (where jiwer would
give the insertion count); an empty reference among others just adds its insertions.

The alignment is jiwer's (``jiwer.process_words``: rapidfuzz's Levenshtein in C), run once over the
whole set; this module only splits the text (``str.split`` for words, so tabs and newlines separate
words too) and sums the counts.

Used by fine-tuning (``finetuning.metrics``: Trainer and ``evaluate`` metrics), LM tuning,
self-training and the benchmarks; one implementation for all.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import jiwer

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


class _Tokenised(jiwer.AbstractTransform):
    """jiwer "transform" for input this module has already split: one list of ``str`` tokens per utterance."""

    def process_string(self, s: str) -> list[list[str]]:
        raise TypeError("error_rates passes jiwer token lists, never a raw string")

    def process_list(self, inp: list[list[str]]) -> list[list[str]]:
        return inp


_TOKENISED = _Tokenised()


def _as_strings(tokens: Sequence, vocabulary: dict) -> list[str]:
    """``tokens`` as strings for jiwer: equal tokens map to equal strings, different ones to different."""
    return [vocabulary.setdefault(t, str(len(vocabulary))) for t in tokens]


def _count(references: list[list[str]], hypotheses: list[list[str]]) -> ErrorCounts:
    """Summed edit operations of token lists, aligned by jiwer (rapidfuzz's Levenshtein opcodes)."""
    if not references:
        return ErrorCounts()
    output = jiwer.process_words(
        references, hypotheses, reference_transform=_TOKENISED, hypothesis_transform=_TOKENISED
    )
    return ErrorCounts(
        output.substitutions, output.deletions, output.insertions, sum(len(r) for r in references)
    )


def align(reference: Sequence, hypothesis: Sequence) -> ErrorCounts:
    """Levenshtein alignment of two token sequences: substitution, deletion, insertion counts.

    Tokens may be any hashable values (words, characters, ids); jiwer does the alignment. The total
    (``errors``) is the Levenshtein distance; where alignments of that cost tie, the split between
    substitutions, deletions and insertions is rapidfuzz's choice.
    """
    if all(isinstance(t, str) for t in itertools.chain(reference, hypothesis)):
        return _count([list(reference)], [list(hypothesis)])
    vocabulary: dict = {}
    return _count([_as_strings(reference, vocabulary)], [_as_strings(hypothesis, vocabulary)])


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
    return _count([split(r) for r in references], [split(h) for h in hypotheses])


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
