"""CTC logits of an evaluation set, for LM tuning and decoding benchmarks.

Deliberately small and separate: it loads audio with the project's loader, runs a CTC model and
returns unpadded logits; a fuller inference pipeline can replace ``ctc_logits`` without touching
the decoding code. Models whose feature extractor does not return an attention mask (group-norm
BASE models) run one utterance at a time, because padding would change their outputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from wav2vec_hf.data import open_audio_source


@dataclass
class EvalLogits:
    """Logits and transcripts of an evaluation set.

    Attributes:
        logits: one (frames, vocabulary) float32 array per utterance.
        references: the transcripts (as in the data source).
        seconds: audio seconds per utterance.
    """

    logits: list[np.ndarray]
    references: list[str]
    seconds: list[float]


def ctc_logits(
    model_dir: str | os.PathLike[str],
    data: str | os.PathLike[str],
    max_utterances: int | None = None,
    batch_seconds: float = 60.0,
    device: str = "cpu",
) -> EvalLogits:
    """Run the CTC model of ``model_dir`` on the labelled utterances of ``data``.

    Args:
        model_dir: a fine-tuned CTC model folder with its feature extractor.
        data: anything ``open_audio_source`` reads (fairseq manifest, transcript table, folder ...).
        max_utterances: use only the first utterances.
        batch_seconds: audio per forward pass (when the model takes an attention mask).
        device: torch device.
    """
    import torch
    from transformers import AutoFeatureExtractor, AutoModelForCTC

    import wav2vec_hf  # noqa: F401  (registers the wav2vec / vq-wav2vec Auto classes)

    audio = open_audio_source(data)
    labelled = [i for i, record in enumerate(audio.records) if record.transcript]
    if not labelled:
        raise ValueError(f"{data}: no utterance has a transcript; tuning needs labelled audio")
    if max_utterances is not None:
        labelled = labelled[:max_utterances]
    feature_extractor = AutoFeatureExtractor.from_pretrained(str(model_dir))
    model = AutoModelForCTC.from_pretrained(str(model_dir)).to(device).eval()
    rate = int(getattr(feature_extractor, "sampling_rate", 16000))
    use_mask = bool(getattr(feature_extractor, "return_attention_mask", False))

    waves = {i: audio.load(i, target_rate=rate) for i in labelled}
    order = sorted(labelled, key=lambda i: waves[i].shape[0])
    batches: list[list[int]] = []
    for i in order:
        if batches and use_mask and (len(batches[-1]) + 1) * waves[i].shape[0] <= batch_seconds * rate:
            batches[-1].append(i)
        else:
            batches.append([i])

    logits: dict[int, np.ndarray] = {}
    with torch.inference_mode():
        for batch in batches:
            inputs = feature_extractor(
                [waves[i] for i in batch],
                sampling_rate=rate,
                padding=True,
                return_attention_mask=use_mask,
                return_tensors="pt",
            )
            inputs = {k: v.to(device) for k, v in inputs.items()}
            output = model(**inputs).logits.float().cpu()
            if use_mask and hasattr(model, "_get_feat_extract_output_lengths"):
                lengths = model._get_feat_extract_output_lengths(inputs["attention_mask"].sum(-1)).tolist()
            elif use_mask:  # a model without the helper: frames in proportion to the samples
                samples = inputs["attention_mask"].sum(-1).tolist()
                lengths = [round(output.shape[1] * n / max(samples)) for n in samples]
            else:
                lengths = [output.shape[1]] * len(batch)
            for row, i in enumerate(batch):
                logits[i] = output[row, : int(lengths[row])].numpy()
    return EvalLogits(
        logits=[logits[i] for i in labelled],
        references=[audio.records[i].transcript for i in labelled],
        seconds=[waves[i].shape[0] / rate for i in labelled],
    )
