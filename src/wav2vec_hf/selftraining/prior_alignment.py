"""Pseudo-labels whose transcript counts follow the labelled data's (distribution alignment).

A model that confuses two words systematically on a new speaker (SIX heard as TWO) labels that
speaker's audio with too many of one word and too few of the other, and the confidence filter keeps
the errors, so the next round learns them. For closed-set data (spoken digits, commands), where every
utterance says one of the labelled table's transcripts, the labelled table also says how often each
one is expected. Distribution alignment (Berthelot et al. 2019, ReMixMatch) re-weights the model's
posteriors so that, summed over the unlabelled set, they match those frequencies; the balanced
assignment of self-labelling (Asano et al. 2020; Caron et al. 2020, SwAV) solves the same problem with
Sinkhorn-Knopp scaling, as here:

* each utterance's posterior over transcripts is the softmax of its n-best's combined scores
  (``rescoring``), over the hypotheses whose text is a labelled transcript; ``P`` has shape
  ``(utterances, transcripts)``;
* one weight per transcript, ``w`` (shape ``(transcripts,)``), is scaled until the re-weighted rows
  ``P * w`` (each renormalised to sum to 1) add up, column by column, to ``utterances x prior``;
* each utterance's label is its re-weighted argmax, its ``posterior`` the re-weighted probability.

Nothing here reads the unlabelled audio's transcripts. Utterances with no labelled transcript in their
n-best keep their unaligned best hypothesis (``posterior`` ``None``) and are counted. On sentences,
where transcripts rarely repeat, the alignment has nothing to do: use it for closed sets only.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from wav2vec_hf.selftraining.pseudo_labels import PseudoLabel
from wav2vec_hf.selftraining.rescoring import NBest, RescoreWeights

SINKHORN_ITERATIONS = 1000
SINKHORN_TOLERANCE = 0.05  # utterances: largest |column sum - target| accepted


@dataclass
class AlignmentReport:
    """What ``align_pseudo_labels`` did.

    Attributes:
        labels: one per n-best list, in input order.
        changed: labels that differ from the unaligned best hypothesis.
        outside_prior: utterances whose n-best holds no labelled transcript (kept unaligned).
        converged: the column sums met the targets within ``SINKHORN_TOLERANCE`` utterances.
        log_weights: the per-transcript log weights (natural log), by transcript.
    """

    labels: list[PseudoLabel]
    changed: int
    outside_prior: int
    converged: bool
    log_weights: dict[str, float]


def transcript_prior(transcripts: Iterable[str]) -> dict[str, float]:
    """Relative frequency of each non-empty transcript (the labelled table's column)."""
    counts = Counter(text for text in transcripts if text)
    if not counts:
        raise ValueError("transcript_prior: the labelled table holds no transcripts")
    total = sum(counts.values())
    return {text: count / total for text, count in counts.items()}


def sinkhorn_log_weights(
    log_posteriors: np.ndarray, target: np.ndarray, *, iterations: int = SINKHORN_ITERATIONS
) -> tuple[np.ndarray, bool]:
    """Log column weights that make the renormalised rows of ``exp(log_posteriors + w)`` sum to ``target``.

    Args:
        log_posteriors: ``(rows, columns)`` natural-log row posteriors; ``-inf`` where a column is
            impossible for a row (every row has at least one possible column).
        target: ``(columns,)`` wanted column sums, adding up to ``rows``.

    Returns:
        ``(w, converged)``: ``w`` of shape ``(columns,)`` (0 for columns no row can take).
    """
    columns = log_posteriors.shape[1]
    weights = np.zeros(columns)
    possible = np.isfinite(log_posteriors).any(axis=0) & (target > 0)
    converged = False
    for _ in range(iterations):
        aligned = _renormalised(log_posteriors + weights)
        sums = np.exp(aligned).sum(axis=0)
        if not possible.any() or np.max(np.abs(sums - target)[possible]) < SINKHORN_TOLERANCE:
            converged = True
            break
        ratio = np.where(possible, sums / np.where(target > 0, target, 1.0), 1.0)
        weights = np.where(possible, weights - np.log(np.maximum(ratio, 1e-300)), weights)
        weights = np.where(possible, weights - weights[possible].max(), weights)  # keep them bounded
    return weights, converged


def _renormalised(scores: np.ndarray) -> np.ndarray:
    """Each row of natural-log ``scores`` shifted to log-sum-exp 0 (a log posterior)."""
    peak = np.max(np.where(np.isfinite(scores), scores, -np.inf), axis=1, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        total = np.log(np.exp(scores - peak).sum(axis=1, keepdims=True))
    return scores - peak - total


def align_pseudo_labels(
    nbests: Sequence[NBest], weights: RescoreWeights, prior: dict[str, float]
) -> AlignmentReport:
    """Label each n-best list by the aligned posterior (see the module docstring).

    Args:
        nbests: one n-best list per unlabelled utterance.
        weights: the combined score's weights (``rescoring``), as for ``choose_pseudo_labels``.
        prior: wanted frequency of each transcript (``transcript_prior``), summing to 1.
    """
    texts = sorted(prior)
    column = {text: j for j, text in enumerate(texts)}
    scores = np.full((len(nbests), len(texts)), -np.inf)
    best_unaligned = []
    for i, nbest in enumerate(nbests):
        best_unaligned.append(weights.best(nbest))
        for hypothesis in nbest.hypotheses:
            j = column.get(hypothesis.text)
            if j is not None:
                scores[i, j] = max(scores[i, j], weights.combined(hypothesis))
    inside = np.isfinite(scores).any(axis=1)
    labels: list[PseudoLabel | None] = [None] * len(nbests)
    log_weights = np.zeros(len(texts))
    converged = True
    if inside.any():
        log_posteriors = _renormalised(scores[inside])
        present = np.isfinite(log_posteriors).any(axis=0)
        target = np.array([prior[t] for t in texts]) * present
        target = target / target.sum() * int(inside.sum())
        log_weights, converged = sinkhorn_log_weights(log_posteriors, target)
        aligned = _renormalised(log_posteriors + log_weights)
        for row, i in enumerate(np.flatnonzero(inside)):
            j = int(np.argmax(aligned[row]))
            text, combined = texts[j], float(scores[i, j])
            labels[i] = PseudoLabel.of(nbests[i], text, combined, math.exp(aligned[row, j]))
    changed = 0
    for i, nbest in enumerate(nbests):
        best, combined = best_unaligned[i]
        if labels[i] is None:
            labels[i] = PseudoLabel.of(nbest, best.text, combined)
        elif labels[i].text != best.text:
            changed += 1
    return AlignmentReport(
        labels=labels,
        changed=changed,
        outside_prior=int((~inside).sum()),
        converged=converged,
        log_weights={text: float(w) for text, w in zip(texts, log_weights)},
    )


__all__ = ["AlignmentReport", "align_pseudo_labels", "sinkhorn_log_weights", "transcript_prior"]
