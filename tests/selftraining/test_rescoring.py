"""The combined rescoring score and its weights tuned on a dev set, on toy n-best lists."""

from __future__ import annotations

import pytest

from wav2vec_hf.selftraining.rescoring import (
    NBest,
    RescoreWeights,
    ScoredHypothesis,
    add_neural_scores,
    tune_rescoring,
)


def _nbest(uid: str, *entries: tuple[str, float, float, float]) -> NBest:
    hypotheses = [
        ScoredHypothesis(text=t, acoustic=a, ngram=n, neural=x, beam_rank=i)
        for i, (t, a, n, x) in enumerate(entries)
    ]
    return NBest(id=uid, path=f"{uid}.wav", hypotheses=hypotheses)


def test_combined_score_is_the_weighted_sum_of_the_features():
    h = ScoredHypothesis(text="THE CAT SAT", acoustic=-10.0, ngram=-6.0, neural=-4.0)
    weights = RescoreWeights(ngram_weight=0.5, neural_weight=2.0, word_bonus=1.5)
    assert weights.combined(h) == pytest.approx(-10.0 + 0.5 * -6.0 + 2.0 * -4.0 + 1.5 * 3)
    # A hypothesis without a neural score counts it as 0.
    assert RescoreWeights(1.0, 5.0, 0.0).combined(ScoredHypothesis("A", -1.0, -2.0)) == pytest.approx(-3.0)


def test_best_follows_the_weights_and_breaks_ties_by_beam_rank():
    nbest = _nbest(
        "u", ("RED CAT", -5.0, -9.0, -8.0), ("READ CAT", -5.5, -3.0, -2.0), ("RED CAT", -5.0, -9.0, -8.0)
    )
    assert RescoreWeights(0.0, 0.0, 0.0).best(nbest)[0].beam_rank == 0  # acoustics only
    best, score = RescoreWeights(0.0, 1.0, 0.0).best(nbest)
    assert best.text == "READ CAT" and score == pytest.approx(-7.5)
    tied = _nbest("t", ("A", -1.0, 0.0, 0.0), ("B", -1.0, 0.0, 0.0))
    assert RescoreWeights().best(tied)[0].text == "A"


def test_tuning_finds_the_neural_weight_that_fixes_the_dev_errors():
    # The acoustically best hypothesis is wrong in both utterances; only the neural LM knows better,
    # and only with a weight above 0.5 (acoustic gap 1.0, neural gap 2.0).
    dev = [
        _nbest("a", ("THE SUN IS HOT", -3.0, -5.0, -12.0), ("THE SON IS HOT", -4.0, -5.0, -10.0)),
        _nbest("b", ("I RED A BOOK", -2.0, -6.0, -11.0), ("I READ A BOOK", -3.0, -6.0, -9.0)),
    ]
    references = ["THE SON IS HOT", "I READ A BOOK"]
    tuning = tune_rescoring(
        dev, references, ngram_weights=(0.0, 1.0), neural_weights=(0.0, 0.25, 1.0), word_bonuses=(0.0,)
    )
    weights, wer = tuning.best
    assert wer == 0.0 and weights.neural_weight == 1.0
    table = {(w.ngram_weight, w.neural_weight): e for w, e in tuning.wer}
    assert table[(0.0, 0.0)] == pytest.approx(2 / 8) and table[(1.0, 0.25)] == pytest.approx(2 / 8)
    assert tuning.words == 8


def test_preferred_weights_win_ties_and_missing_neural_scores_are_refused():
    dev = [_nbest("a", ("X Y", -1.0, -1.0, -1.0), ("X Z", -2.0, -1.0, -1.0))]
    preferred = RescoreWeights(0.7, 0.0, 0.3)
    tuning = tune_rescoring(dev, ["X Y"], (0.0, 1.0), (0.0,), (0.0,), preferred=preferred)
    assert tuning.best == (preferred, 0.0)
    dev[0].hypotheses[1].neural = None
    with pytest.raises(ValueError, match="lack neural scores"):
        tune_rescoring(dev, ["X Y"], (1.0,), (0.5,), (0.0,))
    with pytest.raises(ValueError, match="references"):
        tune_rescoring(dev, [], (1.0,), (0.0,), (0.0,))


def test_add_neural_scores_scores_each_distinct_text_once():
    class CountingScorer:
        def __init__(self):
            self.seen = []

        def score(self, texts):
            self.seen.extend(texts)
            return [-float(len(t)) for t in texts]

    lists = [_nbest("a", ("AB", 0, 0, None), ("ABC", 0, 0, None)), _nbest("b", ("AB", 0, 0, None))]
    scorer = CountingScorer()
    assert add_neural_scores(lists, scorer) == 2
    assert sorted(scorer.seen) == ["AB", "ABC"]
    assert [h.neural for n in lists for h in n.hypotheses] == [-2.0, -3.0, -2.0]
