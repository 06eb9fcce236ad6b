"""Transcript normalisation, fairseq letter lines and the seeded sentence grammar."""

from __future__ import annotations

import itertools
import re

import pytest

from wav2vec_hf.data.normalization import normalize_transcript
from wav2vec_hf.recipes.corpus_text import (
    MAX_WORDS,
    MIN_WORDS,
    letters_line,
    load_lexicon,
    sentence_stream,
)

TRANSCRIPT_PATTERN = re.compile(r"[A-Z']+( [A-Z']+)*")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello,   world!", "HELLO WORLD"),
        ("don't stop-now", "DON'T STOP NOW"),
        ("  'quoted'  words\t\nhere ", "QUOTED WORDS HERE"),
        ("tom's 2 cats", "TOM'S CATS"),
        ("the café-owner", "THE CAFE OWNER"),  # accents fold to the base letter, as in LM text
    ],
)
def test_normalize_transcript(raw: str, expected: str) -> None:
    assert normalize_transcript(raw) == expected


def test_normalize_transcript_rejects_text_without_letters() -> None:
    with pytest.raises(ValueError, match="no letters"):
        normalize_transcript(" 42 -- !! ")


def test_letters_line_is_fairseq_ltr() -> None:
    assert letters_line("HELLO WORLD") == "H E L L O | W O R L D |"
    assert letters_line("I'M") == "I ' M |"
    with pytest.raises(ValueError, match="not normalised"):
        letters_line("hello  world")


def test_vocabulary_is_small_closed_and_uppercase() -> None:
    vocabulary = load_lexicon().vocabulary()
    assert 250 <= len(vocabulary) <= 500
    assert all(TRANSCRIPT_PATTERN.fullmatch(word) for word in vocabulary)


def test_sentences_are_normalised_in_range_and_in_vocabulary() -> None:
    vocabulary = load_lexicon().vocabulary()
    sentences = list(itertools.islice(sentence_stream(seed=3, stream="unit"), 2000))
    lengths = [len(s.split(" ")) for s in sentences]
    assert min(lengths) >= MIN_WORDS and max(lengths) <= MAX_WORDS
    assert all(TRANSCRIPT_PATTERN.fullmatch(s) for s in sentences)
    used = {word for s in sentences for word in s.split(" ")}
    assert used <= vocabulary
    # Words repeat a lot (toy models must be able to learn them) but most of the vocabulary is used.
    assert len(used) >= 0.9 * len(vocabulary)
    assert len(set(sentences)) == len(sentences)


def test_streams_are_deterministic_independent_and_honour_exclusions() -> None:
    first = list(itertools.islice(sentence_stream(0, "dev"), 50))
    assert first == list(itertools.islice(sentence_stream(0, "dev"), 50))
    assert first != list(itertools.islice(sentence_stream(1, "dev"), 50))
    assert first != list(itertools.islice(sentence_stream(0, "test"), 50))
    excluded = set(first[:10])
    rest = list(itertools.islice(sentence_stream(0, "dev", exclude=excluded), 40))
    assert not excluded & set(rest)
    assert rest == first[10:50]
