"""The scores of a CTC model for self-training: greedy and with the n-gram LM (weights tuned on dev).

Logits come from ``decoding.inference`` (all utterances with their records, so n-best lists can
name their audio file; unlabelled audio too, pseudo-labelling needs it) and are scored by
``decoding.scoring``, the scorer of ``wav2vec-hf evaluate``. References follow the model's own
``TextNormalizer`` (the one its training transcripts went through, as for the pseudo-labels).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial

import numpy as np

from wav2vec_hf.decoding.greedy import greedy_decode, tokenizer_labels
from wav2vec_hf.decoding.inference import EvalLogits, load_model, logits_of
from wav2vec_hf.decoding.scoring import (
    SCORE_KEYS,
    error_rates,
    score_logits,
    tune_lm_on_logits,
)

DEFAULT_ALPHAS = (0.0, 0.5, 1.0, 1.5, 2.0)
DEFAULT_BETAS = (-1.0, 0.0, 1.0, 2.0)

SetLogits = EvalLogits
"""Logits of every utterance of a data set with its ``records`` (the name self-training uses)."""


def load_finetuned_ctc(model_dir: str | os.PathLike[str]):
    """``(model, processor, normalizer)`` of a fine-tuned CTC folder (eval mode, CPU)."""
    from transformers import Wav2Vec2Processor

    from wav2vec_hf.data.normalization import TextNormalizer

    model = load_model(model_dir)
    processor = Wav2Vec2Processor.from_pretrained(str(model_dir))
    normalizer = TextNormalizer.for_model(model_dir, processor.tokenizer.get_vocab())
    return model, processor, normalizer


def set_logits(model, processor, data, batch_seconds: float = 60.0, *, progress: bool = False) -> SetLogits:
    """Logits of every utterance of ``data`` (anything ``open_audio_source`` reads, labelled or not).

    Batches of up to ``batch_seconds`` of audio; ``decoding.logits.ctc_logits`` makes each
    utterance's logits equal its logits alone, so batching does not change any result.
    ``progress``: a bar on stderr (only when stderr is a terminal).

    Returns:
        ``records`` and one ``(frames, vocabulary)`` float32 array of ``logits`` per utterance.
    """
    return logits_of(
        model,
        processor.feature_extractor,
        data,
        labelled_only=False,
        batch_seconds=batch_seconds,
        progress=progress,
    )


def greedy_texts(logits: list[np.ndarray], processor) -> list[str]:
    """Greedy CTC transcripts by the one greedy decoder (``decoding.greedy``: repeats merged, blanks
    dropped, ``<unk>`` written ``⁇`` like the LM decoder does, words single-spaced)."""
    labels = tokenizer_labels(processor.tokenizer)
    return [greedy_decode(x, labels) for x in logits]


def references_of(data: SetLogits, normalizer) -> list[str]:
    """Normalised transcripts; raises naming the first unlabelled utterance."""
    missing = [r.path for r in data.records if not r.transcript]
    if missing:
        raise ValueError(f"{missing[0]}: no transcript; evaluation data must be labelled")
    return [normalizer(r.transcript) for r in data.records]


def lm_processor(processor, lm_dir: str | os.PathLike[str]):
    """A ``CTCProcessorWithLanguageModel`` of ``processor`` with the n-gram LM of a ``build_lm`` folder (in memory)."""
    from wav2vec_hf.decoding.lm_build import find_built_lm
    from wav2vec_hf.decoding.processor import CTCProcessorWithLanguageModel

    lm_file, _ = find_built_lm(lm_dir)
    return CTCProcessorWithLanguageModel.from_processor(processor, lm_file)


def tune_lm_weights(
    lm_proc,
    logits,
    references,
    beam_width: int,
    alphas=DEFAULT_ALPHAS,
    betas=DEFAULT_BETAS,
    *,
    progress: bool = False,
) -> dict:
    """Grid-search alpha / beta on dev logits (``decoding.scoring``); ``{"alpha", "beta", "wer"}``.

    ``progress``: a bar over the grid points on stderr (only when stderr is a terminal).
    """
    result = tune_lm_on_logits(
        lm_proc, logits, references, beam_width=beam_width, alphas=alphas, betas=betas, progress=progress
    )
    alpha, beta, wer = result.best
    return {"alpha": alpha, "beta": beta, "wer": wer}


@dataclass
class LoadedModel:
    """A fine-tuned CTC model ready to score: the model, its processor, its transcript normaliser and
    a ``CTCProcessorWithLanguageModel`` around the processor with the n-gram LM."""

    model: object
    processor: object
    normalizer: object
    lm: object

    @classmethod
    def load(cls, model_dir: str | os.PathLike[str], lm_dir: str | os.PathLike[str]) -> LoadedModel:
        model, processor, normalizer = load_finetuned_ctc(model_dir)
        return cls(model, processor, normalizer, lm_processor(processor, lm_dir))


def score_model(
    loaded: LoadedModel,
    dev_data: SetLogits,
    test: str | None,
    beam_width: int,
    alphas=DEFAULT_ALPHAS,
    betas=DEFAULT_BETAS,
    *,
    progress: bool = False,
) -> dict:
    """Dev (and test) WER / CER of a loaded model from its dev logits (alpha, beta tuned on them).

    ``progress``: bars for the weight search, the test logits and each beam search on stderr (only
    when stderr is a terminal).

    Returns ``{"alpha", "beta", "dev_wer_greedy", "dev_cer_greedy", "dev_wer_lm", "dev_cer_lm",
    "test_..." (None without test data)}``.
    """
    dev_refs = references_of(dev_data, loaded.normalizer)
    weights = tune_lm_weights(
        loaded.lm, dev_data.logits, dev_refs, beam_width, alphas, betas, progress=progress
    )
    result: dict = {"alpha": weights["alpha"], "beta": weights["beta"]}
    result.update({f"{name}_{key}": None for name in ("dev", "test") for key in SCORE_KEYS})
    splits = [("dev", dev_data, dev_refs)]
    if test:
        test_data = set_logits(loaded.model, loaded.processor, test, progress=progress)
        splits.append(("test", test_data, references_of(test_data, loaded.normalizer)))
    for name, data, refs in splits:
        scores = score_logits(
            data.logits,
            refs,
            partial(greedy_texts, processor=loaded.processor),
            loaded.lm,
            alpha=weights["alpha"],
            beta=weights["beta"],
            beam_width=beam_width,
            progress=progress,
        )
        result.update({f"{name}_{key}": value for key, value in scores.items()})
    return result


def evaluate_model(
    model_dir: str | os.PathLike[str],
    lm_dir: str | os.PathLike[str],
    dev: str,
    test: str | None,
    beam_width: int,
    alphas=DEFAULT_ALPHAS,
    betas=DEFAULT_BETAS,
    *,
    progress: bool = False,
) -> dict:
    """Dev (and test) WER / CER of a CTC model folder, greedy and with the LM (alpha, beta tuned on dev):
    ``score_model`` of the loaded model; the same keys. ``progress``: as ``score_model``."""
    loaded = LoadedModel.load(model_dir, lm_dir)
    dev_data = set_logits(loaded.model, loaded.processor, dev, progress=progress)
    return score_model(loaded, dev_data, test, beam_width, alphas, betas, progress=progress)


__all__ = [
    "LoadedModel",
    "SetLogits",
    "error_rates",
    "evaluate_model",
    "greedy_texts",
    "lm_processor",
    "load_finetuned_ctc",
    "references_of",
    "score_model",
    "set_logits",
    "tune_lm_weights",
]
