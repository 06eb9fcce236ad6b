"""Interpolated modified Kneser-Ney n-gram estimation, written as an ARPA file (any order).

The estimate follows Chen & Goodman (1998), "An empirical study of smoothing techniques for
language modeling", section 3 (interpolated Kneser-Ney with three discounts per order), the
variant KenLM's ``lmplz`` builds:

* Counts. The highest order uses raw counts ``c``. A lower-order n-gram uses its continuation count
  ``a(w_1..w_n) = |{v : c(v w_1..w_n) > 0}|`` (distinct left neighbours), except n-grams that start
  with ``<s>``: nothing can precede ``<s>``, so they keep their raw count.
* Discounts per order from the counts-of-counts ``t_k`` (n-grams whose count is exactly ``k``)::

      Y = t_1 / (t_1 + 2 t_2),   D_k = k - (k + 1) Y t_{k+1} / t_k   (k = 1, 2, 3; D_3 serves 3+)

  When a small corpus leaves a ``t_k`` at 0 or a ``D_k`` outside ``(0, k)``, the order falls back to
  fixed discounts (``DEFAULT_FALLBACK_DISCOUNTS``, as ``lmplz --discount_fallback``) and the model
  records that it did.
* Probabilities, for a context ``h`` (its last ``n - 1`` words) and its shortened context ``h'``::

      p(w | h) = (a(h w) - D(a(h w))) / sum_x a(h x)  +  gamma(h) p(w | h')
      gamma(h) = (D_1 N_1(h) + D_2 N_2(h) + D_3 N_3+(h)) / sum_x a(h x)

  where ``N_k(h)`` counts the words seen after ``h`` with count ``k`` (3+: at least 3). The unigram
  level interpolates with the uniform distribution over every word that can be predicted (the
  vocabulary, ``</s>`` and ``<unk>``; never ``<s>``), which gives ``<unk>`` its probability.
* ARPA stores ``log10 p(w | h)`` of every kept n-gram and ``log10`` of the back-off weight of every
  n-gram that is a context. Without pruning the back-off weight is ``gamma``. With pruning it is the
  weight that keeps every context's distribution summing to 1 given what was kept::

      bo(h) = gamma(h) + U_pruned(h) / (1 - sum_{w kept after h} p(w | h'))

  (``U_pruned`` is the discounted mass of the pruned continuations), so probabilities always sum
  to 1 whatever is pruned.

Pruning drops n-grams of an order (2 and up) whose raw count is at most that order's threshold, but
keeps every n-gram that is the context or the suffix of a kept higher-order n-gram (ARPA back-off
needs both).

Counting is vectorised: an n-gram is identified by ``(id of its first n-1 words, last word)`` packed
into one int64, and ``np.unique`` numbers the distinct n-grams of each order; ``np.unique`` sorts, so
n-grams that share a context are contiguous. About a million words at order 4 take a few seconds.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wav2vec_hf.extras import require_extra

UNK = "<unk>"
BOS = "<s>"
EOS = "</s>"
SPECIAL_WORDS = (UNK, BOS, EOS)
_UNK_ID, _BOS_ID, _EOS_ID = 0, 1, 2

DEFAULT_FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
"""D_1, D_2, D_3+ used where the counts-of-counts cannot estimate discounts (tiny corpora)."""

BOS_LOG10_PROBABILITY = -99.0
"""ARPA convention for ``<s>``: it is a context, never predicted."""


@dataclass
class NgramOrder:
    """The kept n-grams of one order, as parallel arrays (``K`` = kept n-grams of this order).

    Attributes:
        context: (K,) int64 index of the n-gram's first ``n - 1`` words in the previous order's
            arrays (-1 for unigrams).
        word: (K,) int64 id of the last word (an index into ``NgramModel.vocabulary``).
        count: (K,) int64 raw count in the text.
        adjusted_count: (K,) int64 count used by the estimate (raw at the highest order and for
            n-grams starting with ``<s>``, continuation count otherwise).
        log10_probability: (K,) float64 ``log10 p(word | context)``.
        log10_backoff: (K,) float64 ``log10`` back-off weight of the n-gram as a context (0 where it
            is none; all 0 at the highest order).
        discounts: (D_1, D_2, D_3+) of this order.
        fallback: whether ``discounts`` are the fallback values.
    """

    context: np.ndarray
    word: np.ndarray
    count: np.ndarray
    adjusted_count: np.ndarray
    log10_probability: np.ndarray
    log10_backoff: np.ndarray
    discounts: tuple[float, float, float]
    fallback: bool = False

    def __len__(self) -> int:
        return int(self.word.shape[0])


@dataclass
class NgramModel:
    """A back-off n-gram LM: the vocabulary and one ``NgramOrder`` per order (index 0 = unigrams)."""

    vocabulary: list[str]
    orders: list[NgramOrder]
    sentences: int = 0
    tokens: int = 0  # words in the text, without <s> and </s>
    pruning: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)

    @property
    def order(self) -> int:
        return len(self.orders)

    def ngram_texts(self, n: int) -> list[str]:
        """The kept n-grams of order ``n`` (1-based) as space-separated words, in array order."""
        texts: list[str] = []
        for level in self.orders[:n]:
            words = self.vocabulary
            if not texts:
                texts = [words[w] for w in level.word.tolist()]
            else:
                texts = [
                    f"{texts[c]} {words[w]}" for c, w in zip(level.context.tolist(), level.word.tolist())
                ]
        return texts

    def unigrams(self) -> list[str]:
        """The words of the text, sorted (no ``<s>``, ``</s>``, ``<unk>``): pyctcdecode's unigram list."""
        return sorted(self.vocabulary[len(SPECIAL_WORDS) :])


# ----------------------------------------------------------------------------------------------------
# Counting
# ----------------------------------------------------------------------------------------------------


def _token_stream(sentences: Iterable[str | Sequence[str]]) -> tuple[np.ndarray, list[str], int, int]:
    """(tokens, vocabulary, sentence count, word count): every sentence as ``<s> w.. </s>`` ids."""
    index: dict[str, int] = {word: i for i, word in enumerate(SPECIAL_WORDS)}
    stream: list[int] = []
    n_sentences = 0
    for sentence in sentences:
        words = sentence.split() if isinstance(sentence, str) else list(sentence)
        if not words:
            continue
        for word in words:
            if word in index and index[word] < len(SPECIAL_WORDS):
                raise ValueError(f"the text holds the reserved word {word!r}; remove it from the LM text")
        stream.append(_BOS_ID)
        stream.extend([index.setdefault(word, len(index)) for word in words])
        stream.append(_EOS_ID)
        n_sentences += 1
    if not n_sentences:
        raise ValueError("no words in the LM text (every line was empty after normalisation)")
    vocabulary = [""] * len(index)
    for word, i in index.items():
        vocabulary[i] = word
    tokens = np.asarray(stream, dtype=np.int64)
    return tokens, vocabulary, n_sentences, int(tokens.shape[0]) - 2 * n_sentences


@dataclass
class _RawOrder:
    """All distinct n-grams of one order before pruning (``M`` of them), sorted by (context, word)."""

    context: np.ndarray  # (M,) index into the previous order (-1 for unigrams)
    word: np.ndarray  # (M,)
    count: np.ndarray  # (M,) raw count
    suffix: np.ndarray  # (M,) index of w_2..w_n in the previous order (-1 for unigrams)
    starts_with_bos: np.ndarray  # (M,) bool


def _count_ngrams(tokens: np.ndarray, vocab_size: int, order: int) -> list[_RawOrder]:
    """Distinct n-grams of orders 1..``order`` that fit inside one sentence, with their raw counts."""
    positions = np.arange(tokens.shape[0], dtype=np.int64)
    # Tokens left in the sentence from each position (its </s> included).
    sentence_ends = np.flatnonzero(tokens == _EOS_ID)
    sentence_of_position = np.searchsorted(sentence_ends, positions)
    remaining = sentence_ends[sentence_of_position] - positions + 1

    # Unigrams: every vocabulary id, including <unk> which the text never holds (count 0).
    unigram_counts = np.bincount(tokens, minlength=vocab_size).astype(np.int64)
    everything = np.arange(vocab_size, dtype=np.int64)
    no_index = np.full(vocab_size, -1, dtype=np.int64)
    raw_orders = [_RawOrder(no_index, everything, unigram_counts, no_index, everything == _BOS_ID)]
    ids_at_position = tokens  # id of the (n-1)-gram starting at each position; unigram id = word id
    for n in range(2, order + 1):
        valid = np.flatnonzero(remaining >= n)
        if valid.size == 0:
            break
        keys = ids_at_position[valid] * vocab_size + tokens[valid + n - 1]
        unique_keys, first_index, inverse, counts = np.unique(
            keys, return_index=True, return_inverse=True, return_counts=True
        )
        first_position = valid[first_index]
        raw_orders.append(
            _RawOrder(
                context=unique_keys // vocab_size,
                word=unique_keys % vocab_size,
                count=counts.astype(np.int64),
                suffix=ids_at_position[first_position + 1],  # the (n-1)-gram starting one word later
                starts_with_bos=tokens[first_position] == _BOS_ID,
            )
        )
        ids_at_position = np.full(tokens.shape[0], -1, dtype=np.int64)
        ids_at_position[valid] = inverse.reshape(-1)
    return raw_orders


# ----------------------------------------------------------------------------------------------------
# Estimation
# ----------------------------------------------------------------------------------------------------


def count_of_counts(counts: np.ndarray) -> tuple[int, int, int, int]:
    """``(t_1, t_2, t_3, t_4)``: how many of ``counts`` equal 1, 2, 3, 4."""
    tally = np.bincount(np.clip(counts, 0, 5), minlength=6)
    return int(tally[1]), int(tally[2]), int(tally[3]), int(tally[4])


def modified_kneser_ney_discounts(
    counts_of_counts: tuple[int, int, int, int],
) -> tuple[float, float, float] | None:
    """Chen & Goodman's ``(D_1, D_2, D_3+)`` from ``(t_1..t_4)``; ``None`` when they cannot be estimated.

    ``None`` when a ``t_k`` is 0 or a discount falls outside ``(0, k)`` (then use fallback discounts).
    """
    t1, t2, t3, t4 = counts_of_counts
    if min(t1, t2, t3, t4) <= 0:
        return None
    y = t1 / (t1 + 2 * t2)
    discounts = (1 - 2 * y * t2 / t1, 2 - 3 * y * t3 / t2, 3 - 4 * y * t4 / t3)
    if not all(0 < d < k for k, d in zip((1, 2, 3), discounts)):
        return None
    return discounts


def _discount_of(adjusted: np.ndarray, discounts: tuple[float, float, float]) -> np.ndarray:
    d1, d2, d3 = discounts
    return np.where(adjusted == 1, d1, np.where(adjusted == 2, d2, d3))


def _check_pruning(pruning: Sequence[int] | None, order: int) -> tuple[int, ...]:
    if pruning is None:
        return (0,) * order
    thresholds = tuple(int(t) for t in pruning)
    if any(t < 0 for t in thresholds):
        raise ValueError(f"pruning thresholds {thresholds} must be >= 0")
    if thresholds and thresholds[0] != 0:
        raise ValueError(
            f"pruning thresholds {thresholds}: unigrams cannot be pruned (the first threshold must be 0)"
        )
    if len(thresholds) > order:
        raise ValueError(f"{len(thresholds)} pruning thresholds given for an order-{order} model")
    # Like lmplz, the last threshold given applies to the orders after it.
    last = thresholds[-1] if thresholds else 0
    return thresholds + (last,) * (order - len(thresholds))


def estimate_kneser_ney(
    sentences: Iterable[str | Sequence[str]],
    order: int,
    pruning: Sequence[int] | None = None,
    discounts: Sequence[tuple[float, float, float]] | None = None,
    fallback_discounts: tuple[float, float, float] = DEFAULT_FALLBACK_DISCOUNTS,
) -> NgramModel:
    """Interpolated modified Kneser-Ney estimate of an order-``order`` LM (see the module docstring).

    Args:
        sentences: normalised sentences (a string of space-separated words, or a word sequence each).
        order: the n-gram order (1 or more).
        pruning: per-order raw-count thresholds (``[0, 0, 1]`` drops trigrams seen once); the first
            must be 0 and the last one given also applies to higher orders.
        discounts: ``(D_1, D_2, D_3+)`` per order to use instead of estimating them (for tests and
            for matching another tool); ``None`` estimates them.
        fallback_discounts: discounts for an order whose counts-of-counts cannot estimate them.
    """
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"order={order!r}: give an n-gram order of at least 1")
    thresholds = _check_pruning(pruning, order)
    if discounts is not None and len(discounts) != order:
        raise ValueError(f"discounts: {len(discounts)} triples given for an order-{order} model")

    tokens, vocabulary, n_sentences, n_words = _token_stream(sentences)
    vocab_size = len(vocabulary)
    raw = _count_ngrams(tokens, vocab_size, order)
    notes = []
    if len(raw) < order:
        notes.append(f"the longest sentence allows n-grams up to order {len(raw)} only")

    # Adjusted counts: continuation counts below the highest order, except n-grams starting with <s>.
    adjusted = []
    for n, level in enumerate(raw, start=1):
        if n == len(raw):
            adjusted.append(level.count.copy())
            continue
        continuation = np.bincount(raw[n].suffix, minlength=len(level.word)).astype(np.int64)
        adjusted.append(np.where(level.starts_with_bos, level.count, continuation))

    # Pruning masks, closed under "context and suffix of a kept n-gram are kept".
    keep = [np.ones(len(level.word), dtype=bool) for level in raw]
    for n in range(len(raw), 1, -1):
        level = raw[n - 1]
        keep[n - 1] &= level.count > thresholds[n - 1]
        kept = keep[n - 1]
        keep[n - 2][level.context[kept]] = True
        keep[n - 2][level.suffix[kept]] = True

    orders_discounts: list[tuple[float, float, float]] = []
    fallback_used: list[bool] = []
    probabilities: list[np.ndarray] = []
    backoffs: list[np.ndarray] = [np.ones(len(level.word)) for level in raw]
    predictable = np.ones(vocab_size, dtype=bool)
    predictable[_BOS_ID] = False
    n_predictable = int(predictable.sum())  # the words, </s> and <unk>

    for n, level in enumerate(raw, start=1):
        a = adjusted[n - 1]
        in_distribution = predictable[level.word] if n == 1 else np.ones(len(a), dtype=bool)
        if discounts is not None:
            d = tuple(float(x) for x in discounts[n - 1])
            is_fallback = False
        else:
            estimated = modified_kneser_ney_discounts(count_of_counts(a[in_distribution & (a > 0)]))
            is_fallback = estimated is None
            d = tuple(fallback_discounts) if estimated is None else estimated
            if is_fallback:
                notes.append(f"order {n}: too few counts to estimate discounts; used fallback {d}")
        orders_discounts.append(d)
        fallback_used.append(is_fallback)

        seen = in_distribution & (a > 0)  # <unk> and <s> have no count to discount
        discount = np.where(seen, _discount_of(a, d), 0.0)
        a_f = np.where(in_distribution, a, 0).astype(np.float64)
        groups = np.zeros(len(a), dtype=np.int64) if n == 1 else level.context
        n_groups = 1 if n == 1 else len(raw[n - 2].word)
        total = np.bincount(groups, weights=a_f, minlength=n_groups)
        mass = np.bincount(groups, weights=discount, minlength=n_groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            gamma = np.where(total > 0, mass / total, 1.0)
            discounted = np.where(seen, (a_f - discount) / total[groups], 0.0)
        lower = np.full(len(a), 1.0 / n_predictable) if n == 1 else probabilities[n - 2][level.suffix]
        p = discounted + gamma[groups] * lower
        if n == 1:
            p = np.where(predictable[level.word], p, 0.0)
        probabilities.append(p)

        if n > 1:
            # Back-off weights of the contexts (order n-1 entries), renormalised for what is pruned.
            kept = keep[n - 1]
            pruned_mass = np.bincount(groups[~kept], weights=discounted[~kept], minlength=n_groups)
            kept_lower = np.bincount(groups[kept], weights=lower[kept], minlength=n_groups)
            with np.errstate(divide="ignore", invalid="ignore"):
                correction = np.where(pruned_mass > 0, pruned_mass / (1.0 - kept_lower), 0.0)
            has_continuation = np.bincount(groups, minlength=n_groups) > 0
            backoffs[n - 2] = np.where(has_continuation, gamma + correction, 1.0)

    orders: list[NgramOrder] = []
    new_index_previous: np.ndarray | None = None
    for n, level in enumerate(raw, start=1):
        kept = keep[n - 1]
        new_index = np.full(len(level.word), -1, dtype=np.int64)
        new_index[kept] = np.arange(int(kept.sum()))
        with np.errstate(divide="ignore"):
            log_p = np.log10(probabilities[n - 1][kept])
            log_bo = np.log10(backoffs[n - 1][kept])
        if n == 1:
            log_p = np.where(level.word[kept] == _BOS_ID, BOS_LOG10_PROBABILITY, log_p)
            context = level.context[kept]
        else:
            context = new_index_previous[level.context[kept]]
        orders.append(
            NgramOrder(
                context=context,
                word=level.word[kept],
                count=level.count[kept],
                adjusted_count=adjusted[n - 1][kept],
                log10_probability=log_p,
                log10_backoff=log_bo if n < len(raw) else np.zeros(int(kept.sum())),
                discounts=orders_discounts[n - 1],
                fallback=fallback_used[n - 1],
            )
        )
        new_index_previous = new_index
    return NgramModel(
        vocabulary=vocabulary,
        orders=orders,
        sentences=n_sentences,
        tokens=n_words,
        pruning=thresholds,
        notes=notes,
    )


# ----------------------------------------------------------------------------------------------------
# ARPA
# ----------------------------------------------------------------------------------------------------


def _format_log10(values: np.ndarray) -> list[str]:
    """ARPA numbers: 7 significant digits (KenLM stores float32), ``0`` for exact zeros."""
    return [(f"{v:.7g}") if v else "0" for v in values.tolist()]


def write_arpa(model: NgramModel, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` as an ARPA file (written next to ``path``, then renamed). Returns the path.

    KenLM only reads models of order 2 and up, so an order-1 model is written with an empty
    ``2-grams`` section (its probabilities are exactly the unigram ones).
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    with open(partial, "w", encoding="utf-8", newline="\n") as out:
        out.write("\\data\\\n")
        for n, level in enumerate(model.orders, start=1):
            out.write(f"ngram {n}={len(level)}\n")
        if model.order == 1:  # KenLM reads bigram models and up: a unigram LM gets an empty 2-gram section
            out.write("ngram 2=0\n")
        texts: list[str] = []
        for n, level in enumerate(model.orders, start=1):
            words = model.vocabulary
            if n == 1:
                texts = [words[w] for w in level.word.tolist()]
            else:
                texts = [
                    f"{texts[c]} {words[w]}" for c, w in zip(level.context.tolist(), level.word.tolist())
                ]
            out.write(f"\n\\{n}-grams:\n")
            probabilities = _format_log10(level.log10_probability)
            if n < model.order or model.order == 1:
                backoffs = _format_log10(level.log10_backoff)
                out.writelines(f"{p}\t{t}\t{b}\n" for p, t, b in zip(probabilities, texts, backoffs))
            else:
                out.writelines(f"{p}\t{t}\n" for p, t in zip(probabilities, texts))
        if model.order == 1:
            out.write("\n\\2-grams:\n")
        out.write("\n\\end\\\n")
    os.replace(partial, path)
    return path


def perplexity(model_path: str | os.PathLike[str], sentences: Iterable[str]) -> tuple[float, int, int]:
    """(perplexity, scored tokens, OOV words) of ``sentences`` under an ARPA/binary LM read by KenLM.

    Every word and each sentence's ``</s>`` is scored; OOV words are scored as ``<unk>`` and counted.
    """
    kenlm = require_extra("kenlm", "lm", "LM perplexity")
    lm = kenlm.Model(str(model_path))
    total, tokens, oov = 0.0, 0, 0
    for sentence in sentences:
        for log10_p, _, is_oov in lm.full_scores(sentence, bos=True, eos=True):
            total += log10_p
            tokens += 1
            oov += int(is_oov)
    if tokens == 0:
        raise ValueError("no sentences to score")
    return math.pow(10.0, -total / tokens), tokens, oov
