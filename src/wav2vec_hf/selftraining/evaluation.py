"""CTC logits of a data set, and the scores of a model: greedy and with the n-gram LM (weights tuned on dev).

Unlike ``decoding.inference.ctc_logits`` this also reads unlabelled audio (pseudo-labelling needs
it) and keeps each utterance's record, so n-best lists can name their audio file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wav2vec_hf.finetuning.metrics import character_error_rate, word_error_rate

DEFAULT_ALPHAS = (0.0, 0.5, 1.0, 1.5, 2.0)
DEFAULT_BETAS = (-1.0, 0.0, 1.0, 2.0)


@dataclass
class SetLogits:
    """Logits of every utterance of a data set.

    Attributes:
        records: the ``AudioRecord`` of each utterance (path, speaker, transcript or ``None``).
        logits: one ``(frames, vocabulary)`` float32 array per utterance.
    """

    records: list
    logits: list[np.ndarray]


def load_ctc_model(model_dir: str | os.PathLike[str]):
    """``(model, processor, normalizer)`` of a fine-tuned CTC folder (eval mode, CPU)."""
    from transformers import AutoModelForCTC, Wav2Vec2Processor

    import wav2vec_hf  # noqa: F401  (registers the wav2vec / vq-wav2vec Auto classes)
    from wav2vec_hf.finetuning.vocabulary import TextNormalizer

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no config.json; give a fine-tuned CTC model folder")
    processor = Wav2Vec2Processor.from_pretrained(str(model_dir))
    model = AutoModelForCTC.from_pretrained(str(model_dir)).eval()
    normalizer = TextNormalizer.from_folder(model_dir) or TextNormalizer()
    return model, processor, normalizer


def set_logits(model, processor, data, batch_size: int = 8) -> SetLogits:
    """Logits of every utterance of ``data`` (anything ``open_audio_source`` reads, labelled or not).

    Batches are padded; ``inference.logits.ctc_logits`` makes each utterance's logits equal its
    logits alone, so the batch size does not change any result.
    """
    import torch

    from wav2vec_hf.data import open_audio_source
    from wav2vec_hf.inference.logits import ctc_logits

    audio = open_audio_source(data) if isinstance(data, str | os.PathLike) else data
    extractor = processor.feature_extractor
    rate = int(extractor.sampling_rate)
    outputs: list[np.ndarray] = []
    with torch.inference_mode():
        for start in range(0, len(audio), batch_size):
            waves = [
                np.asarray(audio.load(i, target_rate=rate), dtype=np.float32)
                for i in range(start, min(start + batch_size, len(audio)))
            ]
            inputs = extractor(
                waves, sampling_rate=rate, padding=True, return_attention_mask=True, return_tensors="pt"
            )
            logits, frames = ctc_logits(model, inputs["input_values"], inputs["attention_mask"])
            for row, count in enumerate(frames.tolist()):
                outputs.append(logits[row, : int(count)].float().numpy())
    return SetLogits(records=list(audio.records), logits=outputs)


def greedy_texts(logits: list[np.ndarray], processor) -> list[str]:
    """Greedy CTC transcripts (repeats merged, blanks dropped), words single-spaced."""
    ids = [x.argmax(-1).tolist() for x in logits]
    return [" ".join(t.split()) for t in processor.tokenizer.batch_decode(ids)]


def references_of(data: SetLogits, normalizer) -> list[str]:
    """Normalised transcripts; raises naming the first unlabelled utterance."""
    missing = [r.path for r in data.records if not r.transcript]
    if missing:
        raise ValueError(f"{missing[0]}: no transcript; evaluation data must be labelled")
    return [normalizer(r.transcript) for r in data.records]


def error_rates(references: list[str], hypotheses: list[str]) -> dict:
    """``{"wer", "cer"}`` of the hypotheses."""
    return {
        "wer": word_error_rate(references, hypotheses),
        "cer": character_error_rate(references, hypotheses),
    }


def lm_processor(processor, lm_dir: str | os.PathLike[str]):
    """A ``CTCProcessorWithLM`` of ``processor`` with the n-gram LM of a ``build_lm`` folder (in memory)."""
    from wav2vec_hf.decoding.lm_build import find_built_lm
    from wav2vec_hf.decoding.processor import CTCProcessorWithLM

    lm_file, _ = find_built_lm(lm_dir)
    return CTCProcessorWithLM.from_processor(processor, lm_file)


def tune_lm_weights(
    lm_proc, logits, references, beam_width: int, alphas=DEFAULT_ALPHAS, betas=DEFAULT_BETAS
) -> dict:
    """Grid-search alpha / beta on dev logits (``decoding.tuning``); ``{"alpha", "beta", "wer"}``."""
    from wav2vec_hf.decoding.tuning import tune_weights

    def decode(alpha: float, beta: float) -> list[str]:
        return lm_proc.batch_decode(logits, alpha=alpha, beta=beta, beam_width=beam_width).text

    result = tune_weights(decode, references, alphas=alphas, betas=betas, search="grid")
    alpha, beta, wer = result.best
    return {"alpha": alpha, "beta": beta, "wer": wer}


def evaluate_model(
    model_dir: str | os.PathLike[str],
    lm_dir: str | os.PathLike[str],
    dev: str,
    test: str | None,
    beam_width: int,
    alphas=DEFAULT_ALPHAS,
    betas=DEFAULT_BETAS,
) -> dict:
    """Dev (and test) WER / CER of a CTC model, greedy and with the LM (alpha, beta tuned on dev).

    Returns ``{"dev_wer_greedy", "dev_cer_greedy", "dev_wer_lm", "dev_cer_lm", "test_..." (None
    without test data), "alpha", "beta"}``.
    """
    model, processor, normalizer = load_ctc_model(model_dir)
    lm_proc = lm_processor(processor, lm_dir)
    result: dict = {}
    dev_data = set_logits(model, processor, dev)
    dev_refs = references_of(dev_data, normalizer)
    weights = tune_lm_weights(lm_proc, dev_data.logits, dev_refs, beam_width, alphas, betas)
    result.update(alpha=weights["alpha"], beta=weights["beta"])
    splits = [("dev", dev_data, dev_refs)]
    if test:
        test_data = set_logits(model, processor, test)
        splits.append(("test", test_data, references_of(test_data, normalizer)))
    for name in ("dev", "test"):
        for key in ("wer_greedy", "cer_greedy", "wer_lm", "cer_lm"):
            result[f"{name}_{key}"] = None
    for name, data, refs in splits:
        greedy = error_rates(refs, greedy_texts(data.logits, processor))
        lm_texts = lm_proc.batch_decode(
            data.logits, alpha=weights["alpha"], beta=weights["beta"], beam_width=beam_width
        ).text
        with_lm = error_rates(refs, lm_texts)
        result.update(
            {
                f"{name}_wer_greedy": greedy["wer"],
                f"{name}_cer_greedy": greedy["cer"],
                f"{name}_wer_lm": with_lm["wer"],
                f"{name}_cer_lm": with_lm["cer"],
            }
        )
    return result


__all__ = [
    "SetLogits",
    "error_rates",
    "evaluate_model",
    "greedy_texts",
    "lm_processor",
    "load_ctc_model",
    "references_of",
    "set_logits",
    "tune_lm_weights",
]
