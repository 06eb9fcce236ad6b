"""Offline WER / CER: alignment counts, set-level rates, the evaluate metrics, Trainer decoding."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from transformers import EvalPrediction

from tests.helpers import levenshtein
from wav2vec_hf.finetuning.metrics import (
    CTCMetrics,
    ErrorCounts,
    align,
    character_error_rate,
    error_counts,
    load_metric,
    word_error_rate,
)
from wav2vec_hf.finetuning.vocabulary import Vocabulary


def test_alignment_counts_match_a_plain_levenshtein_distance():
    rng = random.Random(0)
    for _ in range(300):
        a = [rng.choice("abcd") for _ in range(rng.randint(0, 12))]
        b = [rng.choice("abcd") for _ in range(rng.randint(0, 12))]
        counts = align(a, b)
        assert counts.errors == levenshtein(a, b)
        assert counts.reference_length == len(a)
        # the operations rebuild the lengths: |b| = |a| - deletions + insertions
        assert len(a) - counts.deletions + counts.insertions == len(b)


def test_known_edit_operations():
    assert align(["the", "cat", "sat"], ["the", "bat", "sat", "down"]) == ErrorCounts(1, 0, 1, 3)
    assert align(list("abc"), []) == ErrorCounts(0, 3, 0, 3)
    assert align([], list("ab")) == ErrorCounts(0, 0, 2, 0)


def test_set_rates_sum_counts_over_utterances():
    references = ["the cat sat", "a dog"]
    hypotheses = ["the cat", "a big dog"]
    assert word_error_rate(references, hypotheses) == pytest.approx(2 / 5)
    # "the cat sat" -> "the cat": 4 deleted characters (" sat"); "a dog" -> "a big dog": 4 inserted
    assert character_error_rate(references, hypotheses) == pytest.approx(8 / 16)
    assert word_error_rate(["a b"], [""]) == 1.0  # all blank: every word deleted
    assert character_error_rate(["ab cd"], [""]) == 1.0
    assert error_counts(["  a   b "], ["a b"], unit="char").errors == 0  # whitespace is normalised
    with pytest.raises(ValueError, match="one per utterance"):
        word_error_rate(["a"], [])


def test_evaluate_metrics_work_offline_and_in_batches():
    wer, cer = load_metric("wer"), load_metric("cer")
    assert wer.compute(predictions=["a b c"], references=["a x c"]) == {"wer": pytest.approx(1 / 3)}
    cer.add_batch(predictions=["ab"], references=["ab"])
    cer.add_batch(predictions=[""], references=["cd"])
    assert cer.compute() == {"cer": pytest.approx(2 / 4)}
    with pytest.raises(ValueError, match="unknown metric"):
        load_metric("bleu")


def test_ctc_metrics_decode_greedy_ids_and_labels():
    vocabulary = Vocabulary.from_transcripts(["AB BA"])
    tokenizer = vocabulary.tokenizer()
    a, b, bar = (vocabulary.tokens.index(t) for t in "AB|")
    blank = vocabulary.blank_id
    # frame ids: "AAB|BA" with repeats and blanks, -100 padding; second utterance all blank
    predictions = np.array([[a, a, b, bar, b, blank, a, -100], [blank] * 6 + [-100, -100]])
    labels = np.array([[a, b, bar, b, a], [a, vocabulary.unknown_id, -100, -100, -100]])
    metrics = CTCMetrics(tokenizer)(EvalPrediction(predictions=predictions, label_ids=labels))
    assert all(isinstance(value, float) for value in metrics.values())  # loggable numbers
    assert CTCMetrics(tokenizer).decode_predictions(predictions) == ["AB BA", ""]
    # the unknown reference character can never be matched: it counts as an error
    assert metrics["wer"] == pytest.approx((0 + 1) / 3)
    assert metrics["cer"] == pytest.approx((0 + 2) / (5 + 2))
    assert metrics["empty_rate"] == 0.5
    assert metrics["blank_rate"] == pytest.approx(7 / 13)


def test_all_blank_predictions_score_exactly_one():
    vocabulary = Vocabulary.from_transcripts(["ABC"])
    metric = CTCMetrics(vocabulary.tokenizer())
    labels = np.array([vocabulary.encode("AB C")])
    for frames in itertools.islice(itertools.count(1), 3):
        result = metric(EvalPrediction(predictions=np.zeros((1, frames), dtype=int), label_ids=labels))
        assert result["wer"] == 1.0 and result["cer"] == 1.0 and result["empty_rate"] == 1.0
