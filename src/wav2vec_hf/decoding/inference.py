"""CTC logits of a data set, for evaluation, LM tuning, decoding benchmarks and pseudo-labelling.

Deliberately small and separate: it loads audio with the project's loader, runs a CTC model and
returns unpadded logits; a fuller inference pipeline can replace it without touching the decoding
code. Loading is split from running (``load_model``, then ``logits_of`` once per data set), so a
caller that scores several sets loads the model once; ``dataset_logits`` does both for one set.

Utterances are sorted by length and batched up to ``batch_seconds`` of audio with an attention mask;
``decoding.logits.ctc_logits`` makes each utterance's logits those it gets alone (group-norm BASE
models included), so batching changes no result beyond float rounding.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wav2vec_hf.data import open_audio_source


@dataclass
class EvalLogits:
    """Logits and transcripts of a data set, in the order of its records.

    Attributes:
        logits: one ``(frames, vocabulary)`` float32 array per utterance.
        references: the transcripts (as in the data source; ``None`` for an unlabelled utterance).
        seconds: audio seconds per utterance (at the model's sampling rate).
        records: the ``AudioRecord`` of each utterance (path, speaker, transcript).
    """

    logits: list[np.ndarray]
    references: list[str | None]
    seconds: list[float]
    records: list = field(default_factory=list)


def load_model(model_dir: str | os.PathLike[str], device: str = "cpu"):
    """The CTC model of a fine-tuned folder, in eval mode on ``device`` (any ``AutoModelForCTC``).

    Raises:
        FileNotFoundError: ``model_dir`` is no folder or has no ``config.json``.
        WeightsError: its safetensors weights are damaged (``model_folders.check_model_weights``).
    """
    from transformers import AutoModelForCTC

    import wav2vec_hf  # noqa: F401  (registers the wav2vec / vq-wav2vec Auto classes)
    from wav2vec_hf.model_folders import check_model_source

    check_model_source(model_dir)
    if not (Path(model_dir) / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no config.json; give a fine-tuned CTC model folder")
    return AutoModelForCTC.from_pretrained(str(model_dir)).to(device).eval()


def logits_of(
    model,
    feature_extractor,
    data,
    *,
    labelled_only: bool = True,
    max_utterances: int | None = None,
    batch_seconds: float = 60.0,
    progress: bool = False,
) -> EvalLogits:
    """Run a loaded CTC model on the utterances of ``data``.

    Args:
        model: a CTC model in eval mode (``load_model``); inputs go to its device.
        feature_extractor: its feature extractor (sampling rate, normalisation).
        data: anything ``open_audio_source`` reads (fairseq manifest, transcript table, folder ...),
            or an already opened audio set.
        labelled_only: keep only utterances with a transcript (evaluation); ``False`` keeps all
            (pseudo-labelling).
        max_utterances: use only the first (kept) utterances.
        batch_seconds: audio seconds per forward pass, at most (a longer utterance runs alone).
        progress: a progress bar over the audio seconds on stderr (only when stderr is a terminal).

    Raises:
        ValueError: ``labelled_only`` and no utterance has a transcript.
    """
    import torch

    from wav2vec_hf.decoding.logits import ctc_logits
    from wav2vec_hf.progress import progress_bar

    audio = open_audio_source(data) if isinstance(data, str | os.PathLike) else data
    kept = [i for i, record in enumerate(audio.records) if record.transcript or not labelled_only]
    if labelled_only and not kept:
        raise ValueError(
            f"{data}: no utterance has a transcript; evaluation and LM tuning need labelled audio"
        )
    if max_utterances is not None:
        kept = kept[:max_utterances]
    rate = int(getattr(feature_extractor, "sampling_rate", 16000))
    device = next(model.parameters()).device

    # Batches are planned from the header lengths and each batch's audio is loaded when it runs, so
    # only one batch of audio is in memory at a time (an unlabelled set can be hours long).
    order = sorted(kept, key=lambda i: audio.records[i].duration)
    batches: list[list[int]] = []
    for i in order:  # sorted: the current batch's newest utterance is its longest
        if batches and (len(batches[-1]) + 1) * audio.records[i].duration <= batch_seconds:
            batches[-1].append(i)
        else:
            batches.append([i])

    logits: dict[int, np.ndarray] = {}
    seconds: dict[int, float] = {}
    # Counted in audio seconds (from the headers), not batches: the last batches hold the longest audio.
    total = sum(audio.records[i].duration for i in kept)
    bar = progress_bar(total=round(total), desc="logits", unit="s", enabled=progress)
    done = 0.0
    with torch.inference_mode(), bar:
        for batch in batches:
            waves = [np.asarray(audio.load(i, target_rate=rate), dtype=np.float32) for i in batch]
            seconds.update({i: wave.shape[0] / rate for i, wave in zip(batch, waves, strict=True)})
            inputs = feature_extractor(
                waves,
                sampling_rate=rate,
                padding=True,
                return_attention_mask=True,
                return_tensors="pt",
            )
            output, frames = ctc_logits(
                model, inputs["input_values"].to(device), inputs["attention_mask"].to(device)
            )  # (batch, frames, vocabulary), (batch,)
            output = output.float().cpu()
            for row, i in enumerate(batch):
                logits[i] = output[row, : int(frames[row])].numpy()
            done += sum(audio.records[i].duration for i in batch)
            bar.update(round(done) - bar.n)  # whole seconds of audio
    return EvalLogits(
        logits=[logits[i] for i in kept],
        references=[audio.records[i].transcript for i in kept],
        seconds=[seconds[i] for i in kept],
        records=[audio.records[i] for i in kept],
    )


def dataset_logits(
    model_dir: str | os.PathLike[str],
    data: str | os.PathLike[str],
    max_utterances: int | None = None,
    batch_seconds: float = 60.0,
    device: str = "cpu",
) -> EvalLogits:
    """Load the CTC model of ``model_dir`` and run it on the labelled utterances of ``data``.

    Args:
        model_dir: a fine-tuned CTC model folder with its feature extractor.
        data: anything ``open_audio_source`` reads (fairseq manifest, transcript table, folder ...).
        max_utterances: use only the first labelled utterances.
        batch_seconds: audio seconds per forward pass.
        device: torch device.
    """
    from transformers import AutoFeatureExtractor

    model = load_model(model_dir, device)
    feature_extractor = AutoFeatureExtractor.from_pretrained(str(model_dir))
    return logits_of(
        model, feature_extractor, data, max_utterances=max_utterances, batch_seconds=batch_seconds
    )


__all__ = ["EvalLogits", "dataset_logits", "load_model", "logits_of"]
