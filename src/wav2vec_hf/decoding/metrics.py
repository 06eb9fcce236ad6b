"""Word error rate for decoding decisions (tuning, benchmarks): edit distance over words."""

from __future__ import annotations

from collections.abc import Sequence


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1) between two sequences."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp in enumerate(hypothesis, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp))
        previous = current
    return previous[-1]


def word_errors(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[int, int]:
    """(word edits, reference words) summed over utterance pairs (texts of space-separated words)."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    errors = words = 0
    for reference, hypothesis in zip(references, hypotheses):
        ref_words = reference.split()
        errors += edit_distance(ref_words, hypothesis.split())
        words += len(ref_words)
    return errors, words


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER: total word edits / total reference words."""
    errors, words = word_errors(references, hypotheses)
    if words == 0:
        raise ValueError("the references hold no words; WER is undefined")
    return errors / words
