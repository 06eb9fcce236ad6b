"""Labelled audio for CTC: transcripts -> label ids, feasibility of each alignment, padding.

``prepare_ctc_set`` takes a validated ``AudioSet`` (from ``open_audio_source``; transcripts come
from the dataset, fairseq ``.wrd`` / ``.ltr`` files or a transcript table), normalises every
transcript and checks two things per utterance before training starts:

* unknown characters (``Vocabulary.check``): reported, never dropped silently;
* CTC feasibility: a CTC path needs at least ``labels + repeated neighbours`` frames (a blank must
  separate two equal letters). With ``trailing_delimiter`` (fairseq's ``.ltr`` targets end every
  line with `` |``) each utterance has one label more and needs one frame more (a normalised
  transcript never ends with a space, so the added ``|`` never repeats its neighbour). An utterance whose audio is too short for its transcript has
  infinite loss (``ctc_zero_infinity`` zeroes it, so it teaches nothing); such utterances are
  counted, and dropped or refused according to ``on_bad``.

``CTCDataset`` decodes audio lazily (through ``AudioDataset``: mono, resampled, optional
per-utterance normalisation) and ``CTCCollator`` pads a batch: audio with zeros, labels with -100,
and an ``attention_mask`` only for models that take one (never for group-norm wav2vec 2.0 BASE
models, whose reference fine-tuning pads without a mask).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import Dataset

from wav2vec_hf.data import AudioCollator, AudioDataset, AudioSet, SkipReport
from wav2vec_hf.data.audio import DEFAULT_SAMPLE_RATE, resampled_length
from wav2vec_hf.data.augmentation import WaveformAugmentation
from wav2vec_hf.finetuning.vocabulary import UnknownCharacterReport, Vocabulary

TOO_SHORT_FOR_LABELS = "too_short_for_labels"
EMPTY_TRANSCRIPT = "empty_transcript"


def ctc_frames_needed(label_ids: list[int]) -> int:
    """Fewest CTC frames that can emit ``label_ids``: one per label plus a blank between equal neighbours."""
    repeats = sum(1 for a, b in itertools.pairwise(label_ids) if a == b)
    return len(label_ids) + repeats


@dataclass
class CTCSet:
    """A labelled set ready for CTC: the audio, label ids, and what preparation found.

    Attributes:
        audio: the utterances kept (an ``AudioSet``).
        texts: normalised transcripts of ``audio``, in order.
        labels: token ids of ``texts``.
        frames: model output frames of each kept utterance.
        unknown: characters the vocabulary lacks.
        dropped: utterances dropped here (empty after normalisation, too short for their labels).
    """

    audio: AudioSet
    texts: list[str]
    labels: list[list[int]]
    frames: list[int]
    unknown: UnknownCharacterReport
    dropped: SkipReport = field(default_factory=SkipReport)

    def __len__(self) -> int:
        return len(self.labels)


def prepare_ctc_set(
    audio: AudioSet,
    vocabulary: Vocabulary,
    output_frames: Callable[[int], int],
    *,
    target_rate: int = DEFAULT_SAMPLE_RATE,
    on_bad: str = "raise",
    name: str | None = None,
    trailing_delimiter: bool = False,
) -> CTCSet:
    """Normalise, encode and check every transcript of ``audio``.

    Args:
        audio: a labelled ``AudioSet``.
        vocabulary: the model's vocabulary (its normaliser is applied to the transcripts).
        output_frames: samples at ``target_rate`` -> model output frames.
        target_rate: the model's sample rate (Hz).
        on_bad: ``"raise"``: utterances that are unlabelled, empty after normalisation or too short
            for their labels raise one ``ValueError`` listing them; ``"skip"``: they are dropped and
            counted in ``CTCSet.dropped``.
        name: how messages refer to the set.
        trailing_delimiter: end every label sequence with the word delimiter (fairseq's ``.ltr``).

    Raises:
        ValueError: see ``on_bad``; also when nothing is left.
    """
    name = name or audio.name
    dropped = SkipReport(source=name, seen=len(audio))
    keep, texts, labels, frames = [], [], [], []
    for index, record in enumerate(audio.records):
        if record.transcript is None:
            dropped.add(
                "no_transcript", record.path, f"{record.path}: no transcript; CTC needs labelled audio"
            )
            continue
        text = vocabulary.normalizer(record.transcript)
        if not text:
            dropped.add(
                EMPTY_TRANSCRIPT,
                record.path,
                f"{record.path}: transcript {record.transcript!r} is empty after normalisation",
            )
            continue
        ids = vocabulary.encode(text, trailing_delimiter=trailing_delimiter)
        available = output_frames(resampled_length(record.num_samples, record.sample_rate, target_rate))
        needed = ctc_frames_needed(ids)
        if available < needed:
            dropped.add(
                TOO_SHORT_FOR_LABELS,
                record.path,
                f"{record.path}: {record.duration:.2f} s give {available} output frames but the transcript "
                f"needs at least {needed} ({len(ids)} labels + blanks between repeated letters)",
            )
            continue
        keep.append(index)
        texts.append(text)
        labels.append(ids)
        frames.append(available)
    if dropped.failed_count and on_bad == "raise":
        raise ValueError(
            f"{dropped.failed_count} of {len(audio)} utterances of {name} cannot be used for CTC:\n"
            f"{dropped.details()}\nFix them, or pass on_bad='skip' to drop and count them."
        )
    if not keep:
        raise ValueError(f"{name}: no utterance is usable for CTC training.\n{dropped.details()}")
    kept_audio = audio.subset(keep)
    unknown = vocabulary.check(((kept_audio[i].id, text) for i, text in enumerate(texts)), source=name)
    return CTCSet(kept_audio, texts, labels, frames, unknown, dropped)


class CTCDataset(Dataset):
    """Examples ``{"input_values": float32 (samples,), "labels": list[int], "id": str, ...}`` of a ``CTCSet``.

    Args:
        ctc_set: from ``prepare_ctc_set``.
        target_rate: the model's sample rate (Hz).
        normalize: per-utterance zero mean / unit variance (the feature extractor's ``do_normalize``).
        on_bad: audio that fails to decode: ``"raise"`` or ``"skip"`` (see ``AudioDataset``).
        augment: training augmentation (speed perturbation, noise), applied before normalisation.
            A sped-up utterance has fewer frames: one that then cannot emit its labels gets infinite
            CTC loss, which ``ctc_zero_infinity`` (the default) zeroes.
    """

    def __init__(
        self,
        ctc_set: CTCSet,
        *,
        target_rate: int = DEFAULT_SAMPLE_RATE,
        normalize: bool = False,
        on_bad: str = "raise",
        augment: WaveformAugmentation | None = None,
    ) -> None:
        self.ctc_set = ctc_set
        self.audio = AudioDataset(
            ctc_set.audio, target_rate=target_rate, normalize=normalize, on_bad=on_bad, augment=augment
        )

    def __len__(self) -> int:
        return len(self.ctc_set)

    @property
    def lengths(self) -> list[int]:
        """Samples per example at the model's rate (for length-grouped sampling)."""
        return self.audio.lengths.tolist()

    def __getitem__(self, index: int) -> dict:
        example = self.audio[index]
        if "skipped" not in example:
            example["labels"] = self.ctc_set.labels[index]
        return example


class CTCCollator:
    """Pads CTC examples into a model batch.

    Returns ``{"input_values": (B, L) float32, "labels": (B, U) int64 padded with -100,
    "input_lengths": (B,) int64}`` plus ``"attention_mask"`` ``(B, L)`` when ``return_attention_mask``.
    ``input_lengths`` is for evaluation (``CTCTrainer`` removes it before the model sees the batch).
    Examples the dataset skipped are left out (counted in ``skip_report`` when given).

    Args:
        return_attention_mask: pass the padding mask to the model (layer-norm wav2vec 2.0 models,
            wav2vec / vq-wav2vec); ``False`` for group-norm wav2vec 2.0 models.
        pad_to_multiple_of: round the padded length up (samples).
        skip_report: where skipped examples are counted.
    """

    def __init__(
        self,
        *,
        return_attention_mask: bool,
        pad_to_multiple_of: int | None = None,
        skip_report: SkipReport | None = None,
    ) -> None:
        self.return_attention_mask = return_attention_mask
        self.audio = AudioCollator(pad_to_multiple_of=pad_to_multiple_of, return_attention_mask=True)
        self.skip_report = skip_report

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        batch = self.audio(examples)
        if batch["skipped"] and self.skip_report is not None:
            self.skip_report.record_skipped(batch["skipped"])
        kept = [example for example in examples if "skipped" not in example]
        width = max((len(example["labels"]) for example in kept), default=0)
        labels = torch.full((len(kept), width), -100, dtype=torch.long)
        for row, example in enumerate(kept):
            labels[row, : len(example["labels"])] = torch.tensor(example["labels"], dtype=torch.long)
        model_batch = {
            "input_values": batch["input_values"],
            "labels": labels,
            "input_lengths": batch["lengths"],
        }
        if self.return_attention_mask:
            model_batch["attention_mask"] = batch["attention_mask"]
        return model_batch


def label_length_ratio(ctc_set: CTCSet) -> np.ndarray:
    """``(N,)`` needed CTC frames / available frames per utterance (1.0 = no room to spare)."""
    return np.array(
        [ctc_frames_needed(ids) / max(frames, 1) for ids, frames in zip(ctc_set.labels, ctc_set.frames)]
    )


__all__ = [
    "EMPTY_TRANSCRIPT",
    "TOO_SHORT_FOR_LABELS",
    "CTCCollator",
    "CTCDataset",
    "CTCSet",
    "ctc_frames_needed",
    "label_length_ratio",
    "prepare_ctc_set",
]
