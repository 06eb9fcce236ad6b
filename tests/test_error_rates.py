"""WER / CER through jiwer: equal to a plain Levenshtein on any input, summed over the set, edge cases kept."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import levenshtein
from wav2vec_hf.error_rates import (
    ErrorCounts,
    align,
    character_error_rate,
    error_counts,
    word_error_rate,
    word_errors,
)

# Few distinct words and letters, so that matches, ties and repeats are common; whitespace of every
# kind (tabs, newlines, runs of spaces) separates words.
WORDS = st.sampled_from(["a", "b", "ab", "ba", "the", "cat", "é", "\ufffd"])
SEPARATORS = st.sampled_from([" ", "  ", "\t", "\n", " \t "])
TEXT = st.builds(
    lambda words, seps, lead, trail: lead + "".join(w + s for w, s in zip(words, seps)).rstrip() + trail,
    st.lists(WORDS, max_size=12),
    st.lists(SEPARATORS, min_size=12, max_size=12),
    st.sampled_from(["", " ", "\t"]),
    st.sampled_from(["", " ", "\n"]),
)
PAIRS = st.lists(st.tuples(TEXT, TEXT), max_size=6)


def _expected(pairs, split) -> tuple[int, int]:
    """(sum of edit distances, sum of reference tokens) over ``pairs``."""
    edits = sum(levenshtein(split(r), split(h)) for r, h in pairs)
    return edits, sum(len(split(r)) for r, _ in pairs)


def _characters(text: str) -> list[str]:
    return list(" ".join(text.split()))


def _rate(edits: int, tokens: int) -> float:
    if tokens == 0:
        return 0.0 if edits == 0 else float("inf")
    return edits / tokens


@settings(max_examples=300, deadline=None)
@given(PAIRS)
def test_set_rates_are_summed_edit_distances_over_summed_reference_tokens(pairs):
    references, hypotheses = [r for r, _ in pairs], [h for _, h in pairs]
    word_edits, words = _expected(pairs, str.split)
    char_edits, chars = _expected(pairs, _characters)
    counts = error_counts(references, hypotheses, "word")
    assert (counts.errors, counts.reference_length) == (word_edits, words)
    assert word_errors(references, hypotheses) == (word_edits, words)
    assert word_error_rate(references, hypotheses) == _rate(word_edits, words)
    assert character_error_rate(references, hypotheses) == _rate(char_edits, chars)
    # corpus level, not the mean of per-utterance rates
    chars_counts = error_counts(references, hypotheses, "char")
    assert (chars_counts.errors, chars_counts.reference_length) == (char_edits, chars)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from([0, 1, 2, "1", None]), max_size=10),
    st.lists(st.sampled_from([0, 1, "1"]), max_size=10),
)
def test_align_takes_any_hashable_tokens_and_its_operations_rebuild_the_lengths(reference, hypothesis):
    counts = align(reference, hypothesis)
    assert counts.errors == levenshtein(reference, hypothesis)  # 1 and "1" are different tokens
    assert counts.reference_length == len(reference)
    assert len(reference) - counts.deletions + counts.insertions == len(hypothesis)
    assert min(counts.substitutions, counts.deletions, counts.insertions) >= 0


def test_edge_cases_keep_the_package_definitions():
    assert word_error_rate([""], [""]) == 0.0  # nothing said, nothing written
    assert word_error_rate([""], ["a b"]) == float("inf")  # no reference word: insertions are unbounded
    assert character_error_rate([" "], ["ab"]) == float("inf")
    assert (
        word_error_rate(["", "a b"], ["x", "a b"]) == 0.5
    )  # an empty reference among others: its insertions
    assert word_error_rate(["a b c"], [""]) == 1.0 and character_error_rate(["a b"], ["\n"]) == 1.0
    assert word_error_rate([], []) == 0.0 and error_counts([], [], "char") == ErrorCounts()
    assert word_error_rate(["a\tb\nc"], ["a b  c"]) == 0.0  # any whitespace separates words
    assert align("abc", "abd") == ErrorCounts(1, 0, 0, 3)  # a string is a sequence of characters
    with pytest.raises(ValueError, match="unit must be"):
        error_counts(["a"], ["a"], unit="phone")


def test_a_3000_word_character_alignment_counts_every_operation():
    reference = " ".join(["alpha", "beta", "gamma", "delta"] * 750)  # 3,000 words, 17,249 characters
    # X and Y occur nowhere in the reference, so each costs exactly one operation: 750 substitutions
    # (a -> X) and 750 insertions (Y), and no cheaper alignment exists.
    hypothesis = reference.replace("gamma", "gXmma").replace("delta", "deltYa")
    counts = error_counts([reference], [hypothesis], "char")
    assert counts == ErrorCounts(substitutions=750, deletions=0, insertions=750, reference_length=17249)
    assert character_error_rate([reference], [hypothesis]) == 1500 / 17249
