"""Distribution alignment of pseudo-labels: Sinkhorn scaling, the labels it changes, the filter's ranking."""

from __future__ import annotations

import numpy as np
import pytest

from wav2vec_hf.selftraining.prior_alignment import (
    align_pseudo_labels,
    sinkhorn_log_weights,
    transcript_prior,
)
from wav2vec_hf.selftraining.pseudo_labels import FilterSettings, filter_pseudo_labels
from wav2vec_hf.selftraining.rescoring import NBest, RescoreWeights, ScoredHypothesis

WEIGHTS = RescoreWeights(ngram_weight=0.0, neural_weight=0.0, word_bonus=0.0)


def _nbest(uid: str, scores: dict[str, float]) -> NBest:
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    return NBest(
        id=uid,
        path=f"/a/{uid}.wav",
        hypotheses=[
            ScoredHypothesis(text, acoustic, beam_rank=i) for i, (text, acoustic) in enumerate(ranked)
        ],
    )


def _confused_speaker(rng: np.random.Generator, per_word: int = 40):
    """A speaker whose SIX the model hears as TWO: SIX utterances score TWO a little above SIX.

    Returns (n-best lists, true transcripts).
    """
    nbests, truth = [], []
    for word in ("ONE", "TWO", "SIX"):
        for k in range(per_word):
            scores = {w: -12.0 + rng.normal(0, 0.5) for w in ("ONE", "TWO", "SIX")}
            scores[word] = -2.0 + rng.normal(0, 0.5)
            if word == "SIX":  # the systematic confusion
                scores["TWO"] = scores["SIX"] + rng.uniform(0.2, 1.5)
            nbests.append(_nbest(f"{word}{k}", scores))
            truth.append(word)
    return nbests, truth


def test_sinkhorn_meets_the_column_targets_and_leaves_impossible_columns_alone():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, size=(50, 4))
    logits[:, 3] = -np.inf  # no row can take column 3
    logits[:, 0] += 3.0  # column 0 is favoured
    log_posteriors = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    target = np.array([12.5, 12.5, 25.0, 0.0])
    weights, converged = sinkhorn_log_weights(log_posteriors, target)
    assert converged
    aligned = log_posteriors + weights
    aligned = np.exp(aligned - np.log(np.exp(aligned).sum(axis=1, keepdims=True)))
    np.testing.assert_allclose(aligned.sum(axis=0)[:3], target[:3], atol=0.05)
    assert weights[3] == 0.0
    assert weights[0] < weights[2]  # the favoured column is weighed down


def test_alignment_undoes_a_systematic_confusion_without_reading_the_truth():
    nbests, truth = _confused_speaker(np.random.default_rng(1))
    unaligned = [WEIGHTS.best(n)[0].text for n in nbests]
    assert sum(u != t for u, t in zip(unaligned, truth)) == 40  # every SIX is labelled TWO

    report = align_pseudo_labels(nbests, WEIGHTS, transcript_prior(["ONE", "TWO", "SIX"] * 10))
    aligned = [label.text for label in report.labels]
    errors = sum(a != t for a, t in zip(aligned, truth))
    assert errors <= 4, errors
    assert report.converged and report.outside_prior == 0
    assert report.changed == sum(a != u for a, u in zip(aligned, unaligned))
    assert all(0.0 < label.posterior <= 1.0 for label in report.labels)
    assert report.log_weights["TWO"] < report.log_weights["SIX"]


def test_a_prior_the_model_already_matches_changes_nothing():
    rng = np.random.default_rng(2)
    nbests = []
    for word in ("ONE", "TWO"):
        for k in range(20):
            nbests.append(
                _nbest(f"{word}{k}", {"ONE": -9.0 + rng.normal(), "TWO": -9.0 + rng.normal(), word: -1.0})
            )
    report = align_pseudo_labels(nbests, WEIGHTS, transcript_prior(["ONE", "TWO"]))
    assert report.changed == 0
    assert [label.text for label in report.labels] == [w for w in ("ONE", "TWO") for _ in range(20)]


def test_utterances_without_a_labelled_transcript_keep_their_best_and_are_counted():
    nbests = [
        _nbest("a", {"ONE": -1.0, "TWO": -3.0}),
        _nbest("b", {"ONE TWO": -1.0, "THREE": -2.0}),  # nothing the labelled table says
    ]
    report = align_pseudo_labels(nbests, WEIGHTS, transcript_prior(["ONE", "TWO"]))
    assert report.outside_prior == 1
    assert (report.labels[1].text, report.labels[1].posterior) == ("ONE TWO", None)
    assert report.labels[0].text in ("ONE", "TWO") and report.labels[0].posterior is not None


def test_the_filter_ranks_aligned_labels_by_posterior():
    nbests, _ = _confused_speaker(np.random.default_rng(3), per_word=10)
    report = align_pseudo_labels(nbests, WEIGHTS, transcript_prior(["ONE", "TWO", "SIX"]))
    kept = filter_pseudo_labels(
        report.labels, FilterSettings(keep_fraction=0.5, balance_transcripts=True)
    ).kept
    for word in ("ONE", "TWO", "SIX"):
        group = [label for label in report.labels if label.text == word]
        chosen = [label for label in kept if label.text == word]
        threshold = sorted((label.posterior for label in group), reverse=True)[len(chosen) - 1]
        assert all(label.posterior >= threshold for label in chosen)


def test_an_empty_labelled_table_is_refused():
    with pytest.raises(ValueError, match="no transcripts"):
        transcript_prior(["", ""])
