"""Error rates of a data set's CTC logits: greedy (best path) and, optionally, beam search with an n-gram LM.

The one scorer behind ``wav2vec-hf evaluate``, ``tune-lm``, the demo's decoding step and
self-training's evaluations: ``score_logits`` for the error rates, ``tune_lm_on_logits`` for the LM
weights (alpha, beta) that decode a dev set best. Callers choose the logits
(``decoding.inference``), the reference normalisation and the LM; this module decodes and counts.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np

from wav2vec_hf.data.normalization import TextNormalizer
from wav2vec_hf.decoding.greedy import greedy_decode
from wav2vec_hf.decoding.tuning import DEFAULT_ALPHAS, DEFAULT_BETAS, TuningResult, tune_weights
from wav2vec_hf.error_rates import character_error_rate, word_error_rate

SCORE_KEYS = ("wer_greedy", "cer_greedy", "wer_lm", "cer_lm")


def error_rates(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, float]:
    """Corpus ``{"wer", "cer"}`` (fractions) of ``hypotheses`` against ``references``."""
    return {
        "wer": word_error_rate(references, hypotheses),
        "cer": character_error_rate(references, hypotheses),
    }


def model_references(
    transcripts: Iterable[str], model_dir: str | os.PathLike[str], vocabulary: Mapping[str, int]
) -> list[str]:
    """Transcripts normalised as every score of the model in ``model_dir`` normalises them.

    The model's saved ``text_normalizer.json`` (what fine-tuning trained it to write; characters its
    vocabulary lacks stay, and count as errors as in fine-tuning's metrics), or for a folder without
    one (a converted model) the rules its vocabulary implies (``TextNormalizer.for_vocabulary``).
    """
    normalizer = TextNormalizer.for_model(model_dir, vocabulary)
    return [normalizer(text) for text in transcripts]


def greedy_transcripts(logits: Sequence[np.ndarray], labels: Sequence[str]) -> list[str]:
    """Best-path transcripts (repeats merged, blanks and special tokens dropped, single spaces).

    Args:
        logits: one ``(frames, vocabulary)`` array per utterance.
        labels: the decoder labels of the vocabulary (``alphabet.labels_from_vocabulary``).
    """
    return [greedy_decode(item, labels) for item in logits]


def score_logits(
    logits: Sequence[np.ndarray],
    references: Sequence[str],
    greedy: Callable[[Sequence[np.ndarray]], Sequence[str]],
    lm=None,
    *,
    alpha: float | None = None,
    beta: float | None = None,
    beam_width: int = 32,
    progress: bool = False,
) -> dict[str, float | None]:
    """WER and CER of greedy decoding and, with ``lm``, of beam search with shallow LM fusion.

    Args:
        logits: one ``(frames, vocabulary)`` array per utterance.
        references: the normalised transcripts, one per utterance.
        greedy: the best-path decoder, logits to one text per utterance: the decoder labels'
            (``functools.partial(greedy_transcripts, labels=...)``) or the tokenizer's.
        lm: a ``CTCProcessorWithLanguageModel``, or ``None`` for greedy only.
        alpha, beta: LM weight and word bonus; ``None`` uses the weights stored with the LM.
        beam_width: beams of the LM decoding.
        progress: a progress bar over the beam search on stderr (only when stderr is a terminal).

    Returns:
        ``{"wer_greedy", "cer_greedy", "wer_lm", "cer_lm"}`` as fractions; the ``_lm`` values are
        ``None`` without an LM.
    """
    best_path = error_rates(references, greedy(logits))
    scores: dict[str, float | None] = {
        "wer_greedy": best_path["wer"],
        "cer_greedy": best_path["cer"],
        "wer_lm": None,
        "cer_lm": None,
    }
    if lm is not None:
        decoded = lm.batch_decode(
            list(logits), alpha=alpha, beta=beta, beam_width=beam_width, progress=progress
        ).text
        with_lm = error_rates(references, decoded)
        scores.update(wer_lm=with_lm["wer"], cer_lm=with_lm["cer"])
    return scores


def tune_lm_on_logits(
    lm,
    logits: Sequence[np.ndarray],
    references: Sequence[str],
    *,
    beam_width: int,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    betas: Sequence[float] = DEFAULT_BETAS,
    search: str = "grid",
    num_processes: int | None = None,
    progress: bool | Callable[[float, float, float], None] | None = None,
) -> TuningResult:
    """Search the LM weight alpha and word bonus beta for the lowest WER of ``lm``'s beam search.

    Args:
        lm: a ``CTCProcessorWithLanguageModel``.
        logits: one ``(frames, vocabulary)`` array per dev utterance (computed once, decoded per point).
        references: the normalised dev transcripts.
        beam_width: beams of the LM decoding.
        alphas, betas, search, progress: as ``decoding.tuning.tune_weights`` (``progress=True``: a
            bar over the (alpha, beta) points, each a beam search of the whole set).
        num_processes: decoding processes (``None`` / 1: this one).
    """

    def decode(alpha: float, beta: float) -> list[str]:
        output = lm.batch_decode(
            list(logits), alpha=alpha, beta=beta, beam_width=beam_width, num_processes=num_processes
        )
        return output.text

    return tune_weights(decode, references, alphas=alphas, betas=betas, search=search, progress=progress)


__all__ = [
    "SCORE_KEYS",
    "error_rates",
    "greedy_transcripts",
    "model_references",
    "score_logits",
    "tune_lm_on_logits",
]
