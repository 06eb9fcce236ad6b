"""N-best lists with their scores, the combined rescoring score, and its weights tuned on a dev set.

Every hypothesis carries four features (natural logs):

* ``acoustic``: the CTC log-probability the beam search kept for its text;
* ``ngram``: ``ln(10) * log10 P_ngram(words)`` (0 when decoded without an n-gram LM);
* ``neural``: ``ln P_neural(text)`` from a causal LM (``neural_lm.CausalLMScorer``);
* ``words``: the number of words.

``combined = acoustic + ngram_weight * ngram + neural_weight * neural + word_bonus * words``.
``tune_rescoring`` picks the weights with the lowest WER of the top hypotheses on a labelled dev
set (ties: the earliest grid point, so the grid's order says which weights are preferred).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

from wav2vec_hf.finetuning.metrics import error_counts

LN10 = math.log(10.0)

DEFAULT_NGRAM_WEIGHTS = (0.0, 0.5, 1.0, 1.5, 2.0)
DEFAULT_NEURAL_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 1.5)
DEFAULT_WORD_BONUSES = (-1.0, 0.0, 1.0, 2.0, 3.0)


@dataclass
class ScoredHypothesis:
    """One n-best entry. Scores are natural logs; ``neural`` is ``None`` until rescored."""

    text: str
    acoustic: float
    ngram: float = 0.0
    neural: float | None = None
    beam_rank: int = 0

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass
class NBest:
    """The n-best list of one utterance, in beam order (best first).

    Attributes:
        id: utterance id. path: its audio file. speaker: speaker or ``None``. frames: CTC frames.
        hypotheses: the entries.
    """

    id: str
    path: str
    hypotheses: list[ScoredHypothesis]
    speaker: str | None = None
    frames: int = 0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, row: dict) -> NBest:
        hypotheses = [ScoredHypothesis(**h) for h in row["hypotheses"]]
        return cls(
            id=row["id"],
            path=row["path"],
            hypotheses=hypotheses,
            speaker=row.get("speaker"),
            frames=row.get("frames", 0),
        )


@dataclass(frozen=True)
class RescoreWeights:
    """Weights of the combined score (see the module docstring)."""

    ngram_weight: float = 1.0
    neural_weight: float = 0.0
    word_bonus: float = 0.0

    def combined(self, hypothesis: ScoredHypothesis) -> float:
        """The combined natural-log score of one hypothesis (a missing neural score counts 0)."""
        neural = hypothesis.neural if hypothesis.neural is not None else 0.0
        return (
            hypothesis.acoustic
            + self.ngram_weight * hypothesis.ngram
            + self.neural_weight * neural
            + self.word_bonus * hypothesis.words
        )

    def best(self, nbest: NBest) -> tuple[ScoredHypothesis, float]:
        """The top hypothesis under these weights and its combined score (ties: earlier beam rank)."""
        if not nbest.hypotheses:
            raise ValueError(f"utterance {nbest.id}: empty n-best list")
        scored = [(self.combined(h), -i, h) for i, h in enumerate(nbest.hypotheses)]
        score, _, hypothesis = max(scored, key=lambda item: (item[0], item[1]))
        return hypothesis, score


@dataclass
class RescoringTuning:
    """Every evaluated weight setting with its dev WER; the chosen one."""

    wer: list[tuple[RescoreWeights, float]] = field(default_factory=list)
    words: int = 0

    @property
    def best(self) -> tuple[RescoreWeights, float]:
        # min keeps the first of equal WERs: the grid's order is the preference.
        return min(self.wer, key=lambda item: item[1])


def tune_rescoring(
    nbests: Sequence[NBest],
    references: Sequence[str],
    ngram_weights: Iterable[float] = DEFAULT_NGRAM_WEIGHTS,
    neural_weights: Iterable[float] = DEFAULT_NEURAL_WEIGHTS,
    word_bonuses: Iterable[float] = DEFAULT_WORD_BONUSES,
    preferred: RescoreWeights | None = None,
) -> RescoringTuning:
    """Grid-search the combined-score weights for the lowest WER of the top hypotheses.

    Args:
        nbests: dev n-best lists (neural scores filled in when ``neural_weights`` are non-zero).
        references: one normalised transcript per n-best list.
        ngram_weights, neural_weights, word_bonuses: the grid.
        preferred: evaluated first, so it wins ties (e.g. the beam search's own alpha/beta with no
            neural LM: rescoring then never does worse on dev than the beam's best).
    """
    if len(nbests) != len(references):
        raise ValueError(f"{len(nbests)} n-best lists but {len(references)} references")
    if not nbests:
        raise ValueError("no dev n-best lists to tune the rescoring weights on")
    grid = [
        RescoreWeights(float(a), float(b), float(c))
        for a, b, c in itertools.product(ngram_weights, neural_weights, word_bonuses)
    ]
    if preferred is not None:
        grid = [preferred] + [w for w in grid if w != preferred]
    if any(w.neural_weight for w in grid):
        missing = [n.id for n in nbests if any(h.neural is None for h in n.hypotheses)]
        if missing:
            raise ValueError(
                f"{len(missing)} dev n-best lists lack neural scores (e.g. {missing[0]}); rescore first"
            )
    tuning = RescoringTuning()
    for weights in grid:
        hypotheses = [weights.best(n)[0].text for n in nbests]
        counts = error_counts(references, hypotheses, unit="word")
        tuning.words = counts.reference_length
        tuning.wer.append((weights, counts.errors / max(counts.reference_length, 1)))
    return tuning


def add_neural_scores(nbests: Sequence[NBest], scorer) -> int:
    """Fill ``neural`` of every hypothesis with ``scorer.score`` (each distinct text scored once).

    Returns the number of distinct texts scored.
    """
    texts = sorted({h.text for n in nbests for h in n.hypotheses})
    scores = dict(zip(texts, scorer.score(texts), strict=True)) if texts else {}
    for n in nbests:
        for h in n.hypotheses:
            h.neural = float(scores[h.text])
    return len(texts)


__all__ = [
    "LN10",
    "NBest",
    "RescoreWeights",
    "RescoringTuning",
    "ScoredHypothesis",
    "add_neural_scores",
    "tune_rescoring",
]
