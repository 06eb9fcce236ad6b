"""The Kneser-Ney estimator: hand-computed values, an independent reference, normalisation through KenLM,
pruning, perplexity against kaldingram, a realistic size (speed: benchmarks/lm_build_speed.py)."""

from __future__ import annotations

import math
import random
from collections import Counter

import kenlm
import numpy as np
import pytest

from tests.decoding.support import dev_sentences, lm_sentences
from wav2vec_hf.decoding.ngram import (
    count_of_counts,
    estimate_kneser_ney,
    modified_kneser_ney_discounts,
    perplexity,
    write_arpa,
)

FALLBACK = (0.5, 1.0, 1.5)


def read_arpa(path) -> dict[str, tuple[float, float | None]]:
    """{n-gram text: (log10 p, log10 backoff or None)} parsed from an ARPA file."""
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) >= 2 and not line.startswith("\\"):
            entries[fields[1]] = (float(fields[0]), float(fields[2]) if len(fields) == 3 else None)
    return entries


def state_after(lm, words: list[str]) -> kenlm.State:
    """KenLM state after ``<s> words`` (``words[0] == "<s>"``) or after ``words`` from no context."""
    state = kenlm.State()
    if words and words[0] == "<s>":
        lm.BeginSentenceWrite(state)
        words = words[1:]
    else:
        lm.NullContextWrite(state)
    for word in words:
        out = kenlm.State()
        lm.BaseScore(state, word, out)
        state = out
    return state


def probability_sum(lm, context: list[str], vocabulary: list[str]) -> float:
    """Sum over ``vocabulary`` (+ </s> and <unk>) of p(w | context), queried through KenLM."""
    state = state_after(lm, context)
    return sum(10 ** lm.BaseScore(state, w, kenlm.State()) for w in [*vocabulary, "</s>", "<unk>"])


# ----------------------------------------------------------------------------------------------------
# Values computed by hand
# ----------------------------------------------------------------------------------------------------


def test_bigram_probabilities_equal_hand_computation(tmp_path):
    """Toy corpus "A B" / "A C" / "B A B", order 2, discounts D1=0.5, D2=1.0, D3+=1.5 at both orders.

    Bigram counts (highest order, raw): <s> A:2, <s> B:1, A B:2, A C:1, B </s>:2, B A:1, C </s>:1.
    Unigram continuation counts (distinct left neighbours): A {<s>, B} = 2, B {A, <s>} = 2, C {A} = 1,
    </s> {B, C} = 2; total 7. Predictable tokens: A, B, C, </s>, <unk> (5).
      unigram discounted: A (2-1)/7, B (2-1)/7, C (1-0.5)/7, </s> (2-1)/7
      gamma() = (D1*N1 + D2*N2) / 7 = (0.5*1 + 1.0*3) / 7 = 0.5, spread uniformly: 0.5/5 = 0.1 each
      p(A) = 1/7 + 0.1, p(C) = 0.5/7 + 0.1, p(<unk>) = 0.1
    Context <s>: A:2, B:1, total 3, gamma(<s>) = (0.5*1 + 1.0*1)/3 = 0.5
      p(A|<s>) = (2-1)/3 + 0.5 p(A);  p(B|<s>) = (1-0.5)/3 + 0.5 p(B);  p(C|<s>) = 0.5 p(C) (backed off)
    Context A: B:2, C:1 -> p(B|A) = 1/3 + 0.5 p(B), p(C|A) = 0.5/3 + 0.5 p(C), bo(A) = 0.5
    Context C: </s>:1, total 1, gamma(C) = 0.5 -> p(</s>|C) = 0.5/1 + 0.5 p(</s>)
    """
    model = estimate_kneser_ney(["A B", "A C", "B A B"], order=2, discounts=[FALLBACK, FALLBACK])
    arpa = write_arpa(model, tmp_path / "toy.arpa")
    p_a, p_b, p_c, p_end, p_unk = 1 / 7 + 0.1, 1 / 7 + 0.1, 0.5 / 7 + 0.1, 1 / 7 + 0.1, 0.1
    expected = {
        "A": p_a,
        "B": p_b,
        "C": p_c,
        "</s>": p_end,
        "<unk>": p_unk,
        "<s> A": 1 / 3 + 0.5 * p_a,
        "<s> B": 0.5 / 3 + 0.5 * p_b,
        "A B": 1 / 3 + 0.5 * p_b,
        "A C": 0.5 / 3 + 0.5 * p_c,
        "B </s>": 1 / 3 + 0.5 * p_end,
        "B A": 0.5 / 3 + 0.5 * p_a,
        "C </s>": 0.5 + 0.5 * p_end,
    }
    entries = read_arpa(arpa)
    assert set(entries) == set(expected) | {"<s>"}
    for ngram, probability in expected.items():
        assert entries[ngram][0] == pytest.approx(math.log10(probability), abs=1e-6), ngram
    for context in ("<s>", "A", "B", "C"):
        assert entries[context][1] == pytest.approx(math.log10(0.5), abs=1e-6), context
    assert entries["</s>"][1] == 0.0  # never a context

    lm = kenlm.Model(str(arpa))
    assert 10 ** lm.BaseScore(state_after(lm, ["<s>"]), "C", kenlm.State()) == pytest.approx(
        0.5 * p_c, rel=1e-5
    )
    assert 10 ** lm.BaseScore(state_after(lm, ["A"]), "C", kenlm.State()) == pytest.approx(
        0.5 / 3 + 0.5 * p_c, rel=1e-5
    )
    # A sentence's score is the product of its conditional probabilities.
    assert lm.score("A C", bos=True, eos=True) == pytest.approx(
        math.log10((1 / 3 + 0.5 * p_a) * (0.5 / 3 + 0.5 * p_c) * (0.5 + 0.5 * p_end)), abs=1e-5
    )


def test_discounts_from_counts_of_counts_by_hand():
    # t1..t4 = 10, 5, 3, 2: Y = 10 / (10 + 2*5) = 0.5
    # D1 = 1 - 2 * 0.5 * 5/10 = 0.5; D2 = 2 - 3 * 0.5 * 3/5 = 1.1; D3+ = 3 - 4 * 0.5 * 2/3 = 1.6667
    counts = np.array([1] * 10 + [2] * 5 + [3] * 3 + [4] * 2 + [7, 9])
    assert count_of_counts(counts) == (10, 5, 3, 2)
    d1, d2, d3 = modified_kneser_ney_discounts((10, 5, 3, 2))
    assert (d1, d2, d3) == pytest.approx((0.5, 1.1, 3 - 4 / 3))
    assert modified_kneser_ney_discounts((10, 0, 3, 2)) is None  # t2 = 0: cannot estimate
    # t = (1, 1, 10, 1): Y = 1/3, D2 = 2 - 3 * (1/3) * 10/1 = -8 < 0: out of range
    assert modified_kneser_ney_discounts((1, 1, 10, 1)) is None


# ----------------------------------------------------------------------------------------------------
# An independent, slow reference: the same definition written with dictionaries
# ----------------------------------------------------------------------------------------------------


def reference_kneser_ney(sentences: list[str], order: int):
    """p(w | h) and gamma(h) of interpolated modified Kneser-Ney, from the textbook definition."""
    raw = [Counter() for _ in range(order)]
    for sentence in sentences:
        tokens = ["<s>", *sentence.split(), "</s>"]
        for n in range(1, order + 1):
            for i in range(len(tokens) - n + 1):
                raw[n - 1][tuple(tokens[i : i + n])] += 1
    adjusted = [Counter() for _ in range(order)]
    adjusted[order - 1] = Counter(raw[order - 1])
    for n in range(1, order):
        for longer in raw[n]:  # each distinct (n+1)-gram is one distinct left neighbour of its suffix
            adjusted[n - 1][longer[1:]] += 1
        for gram, count in raw[n - 1].items():
            if gram[0] == "<s>":
                adjusted[n - 1][gram] = count
    words = sorted({w for s in sentences for w in s.split()})
    predictable = [*words, "</s>", "<unk>"]

    discounts = []
    for n in range(1, order + 1):
        values = [c for g, c in adjusted[n - 1].items() if g != ("<s>",)]
        t = [sum(1 for c in values if c == k) for k in (1, 2, 3, 4)]
        d = None
        if min(t) > 0:
            y = t[0] / (t[0] + 2 * t[1])
            d = (1 - 2 * y * t[1] / t[0], 2 - 3 * y * t[2] / t[1], 3 - 4 * y * t[3] / t[2])
            if not all(0 < x < k for k, x in zip((1, 2, 3), d)):
                d = None
        discounts.append(d or FALLBACK)

    def discount(n: int, count: int) -> float:
        return discounts[n - 1][min(count, 3) - 1]

    totals = [Counter() for _ in range(order)]
    continuations = [{} for _ in range(order)]
    for n in range(1, order + 1):
        for gram, count in adjusted[n - 1].items():
            if gram == ("<s>",):
                continue
            totals[n - 1][gram[:-1]] += count
            continuations[n - 1].setdefault(gram[:-1], []).append(count)

    def gamma(context: tuple) -> float:
        n = len(context) + 1
        counts = continuations[n - 1].get(context)
        if not counts:
            return 1.0
        return sum(discount(n, c) for c in counts) / totals[n - 1][context]

    def probability(word: str, context: tuple) -> float:
        n = len(context) + 1
        if n == 1:
            count = adjusted[0].get((word,), 0)
            own = (count - discount(1, count)) / totals[0][()] if count else 0.0
            return own + gamma(()) / len(predictable)
        if context not in continuations[n - 1]:
            return probability(word, context[1:])
        count = adjusted[n - 1].get((*context, word), 0)
        own = (count - discount(n, count)) / totals[n - 1][context] if count else 0.0
        return own + gamma(context) * probability(word, context[1:])

    return probability, gamma, raw, predictable


def random_corpus(seed: int, n_sentences: int = 400) -> list[str]:
    rng = random.Random(seed)
    words = [f"W{i}" for i in range(25)]
    weights = [1 / (i + 1) for i in range(25)]
    return [" ".join(rng.choices(words, weights, k=rng.randint(1, 9))) for _ in range(n_sentences)]


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_matches_independent_reference(tmp_path, order):
    sentences = random_corpus(seed=order)
    model = estimate_kneser_ney(sentences, order)
    entries = read_arpa(write_arpa(model, tmp_path / "lm.arpa"))
    probability, gamma, raw, _ = reference_kneser_ney(sentences, order)
    n_checked = 0
    for n in range(1, order + 1):
        for gram in raw[n - 1]:
            if gram == ("<s>",):
                continue
            text = " ".join(gram)
            assert entries[text][0] == pytest.approx(
                math.log10(probability(gram[-1], gram[:-1])), abs=2e-6
            ), text
            if n < order and entries[text][1] is not None:
                assert entries[text][1] == pytest.approx(math.log10(gamma(gram)), abs=2e-6), text
            n_checked += 1
    assert n_checked == sum(len(level) for level in model.orders) - 1 - 1  # all but <s> and <unk>
    assert entries["<unk>"][0] == pytest.approx(math.log10(probability("<unk>", ())), abs=2e-6)


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_probabilities_sum_to_one_through_kenlm(tmp_path, order):
    sentences = random_corpus(seed=10 + order)
    model = estimate_kneser_ney(sentences, order)
    lm = kenlm.Model(str(write_arpa(model, tmp_path / "lm.arpa")))
    vocabulary = model.unigrams()
    contexts = [
        ["<s>"],
        [],
        ["W0"],
        ["<s>", "W0"],
        ["W3", "W1"],
        ["W2", "W0", "W0"],
        ["W24", "W23", "W22", "W21"],
    ]
    contexts += [["<s>", *s.split()[:3]] for s in sentences[:5]]  # seen contexts of every length
    for context in contexts:
        assert probability_sum(lm, context, vocabulary) == pytest.approx(1.0, abs=2e-5), context
    # and the model agrees with itself: a sentence's log10 probability is the sum of its words'.
    sentence = sentences[0]
    words = sentence.split()
    state, total = state_after(lm, ["<s>"]), 0.0
    for w in [*words, "</s>"]:
        out = kenlm.State()
        total += lm.BaseScore(state, w, out)
        state = out
    assert lm.score(sentence) == pytest.approx(total, abs=1e-4)


def test_grammar_corpus_orders_sum_to_one(tmp_path):
    sentences = lm_sentences(1500)
    for order in (2, 4):
        model = estimate_kneser_ney(sentences, order)
        lm = kenlm.Model(str(write_arpa(model, tmp_path / f"{order}.arpa")))
        vocabulary = model.unigrams()
        for context in (["<s>"], ["<s>", "THE"], ["THE", "OLD"], ["ZEBRA"], ["THE", "RED", "BOX"]):
            assert probability_sum(lm, context, vocabulary) == pytest.approx(1.0, abs=2e-5), (order, context)


# ----------------------------------------------------------------------------------------------------
# Pruning
# ----------------------------------------------------------------------------------------------------


def test_pruning_drops_rare_ngrams_keeps_what_backoff_needs_and_still_sums_to_one(tmp_path):
    sentences = lm_sentences(1500)
    full = estimate_kneser_ney(sentences, 4)
    pruned = estimate_kneser_ney(sentences, 4, pruning=[0, 0, 1])
    assert len(pruned.orders[0]) == len(full.orders[0])  # unigrams are never pruned
    assert len(pruned.orders[2]) < 0.7 * len(full.orders[2])
    assert len(pruned.orders[3]) < 0.5 * len(full.orders[3])
    assert pruned.pruning == (0, 0, 1, 1)  # the last threshold carries on to order 4
    # Every kept n-gram's context and suffix are kept (ARPA back-off needs both).
    kept = [set(pruned.ngram_texts(n)) for n in range(1, 5)]
    for n in range(2, 5):
        for text in kept[n - 1]:
            words = text.split()
            assert " ".join(words[:-1]) in kept[n - 2], text
            assert " ".join(words[1:]) in kept[n - 2], text
    # Highest-order n-grams seen once are gone unless a longer n-gram needs them.
    counts = dict(zip(full.ngram_texts(4), full.orders[3].count.tolist()))
    assert all(counts[text] > 1 for text in kept[3])
    lm = kenlm.Model(str(write_arpa(pruned, tmp_path / "pruned.arpa")))
    for context in (["<s>"], ["<s>", "THE"], ["THE", "OLD"], ["SIX", "RED", "BOXES"], ["A", "BIG"]):
        assert probability_sum(lm, context, pruned.unigrams()) == pytest.approx(1.0, abs=2e-5), context


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="order"):
        estimate_kneser_ney(["A B"], 0)
    with pytest.raises(ValueError, match="unigrams cannot be pruned"):
        estimate_kneser_ney(["A B"], 2, pruning=[1, 1])
    with pytest.raises(ValueError, match="no words"):
        estimate_kneser_ney(["", "   "], 2)
    with pytest.raises(ValueError, match="reserved word"):
        estimate_kneser_ney(["A </s> B"], 2)


# ----------------------------------------------------------------------------------------------------
# Against another estimator, and a realistic size
# ----------------------------------------------------------------------------------------------------


def test_heldout_perplexity_close_to_kaldingram(tmp_path):
    """kaldingram (Kaldi's make_kn_lm: one discount per order, no <unk>) as an independent estimator.

    Modified Kneser-Ney should match or beat it on held-out text of the same distribution.
    """
    kaldingram_train = pytest.importorskip("kaldingram.train")
    train = lm_sentences(3000)
    vocabulary = {w for s in train for w in s.split()}
    heldout = [s for s in dev_sentences(300, exclude=train) if set(s.split()) <= vocabulary]
    assert len(heldout) > 200
    text = tmp_path / "train.txt"
    text.write_text("\n".join(train) + "\n", encoding="utf-8")
    for order in (2, 3, 4):
        ours = write_arpa(estimate_kneser_ney(train, order), tmp_path / f"ours{order}.arpa")
        theirs = tmp_path / f"kaldingram{order}.arpa"
        kaldingram_train.main(["--ngram-order", str(order), "--text", str(text), "--lm", str(theirs)])
        ours_ppl, tokens, oov = perplexity(ours, heldout)
        theirs_ppl, _, _ = perplexity(theirs, heldout)
        assert oov == 0 and tokens > 2000
        assert 0.8 * theirs_ppl < ours_ppl < 1.05 * theirs_ppl, (order, ours_ppl, theirs_ppl)


def test_builds_a_quarter_million_words_at_order_4(tmp_path):
    """A realistic size end to end (its speed, against kaldingram: benchmarks/lm_build_speed.py)."""
    sentences = lm_sentences(25_000, stream="speed")
    words = sum(len(s.split()) for s in sentences)
    assert words > 240_000
    model = estimate_kneser_ney(sentences, 4)
    path = write_arpa(model, tmp_path / "speed.arpa")
    assert len(model.orders[3]) > 100_000
    assert kenlm.Model(str(path)).order == 4
