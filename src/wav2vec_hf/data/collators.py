"""Collating waveform examples into padded batches.

``AudioCollator()(examples)`` takes examples from ``AudioDataset`` / ``StreamingAudioDataset``
and returns::

    {
        "input_values":   float32 (batch, samples), zero-padded on the right,
        "attention_mask": int64   (batch, samples), 1 on real samples, 0 on padding,
        "lengths":        int64   (batch,), real samples per row,
        "ids":            list[str],
        "transcripts":    list[str | None],
        "skipped":        list[dict], examples the dataset skipped ({"reason", "path", "message"}),
    }

Skipped examples (``on_bad="skip"``) are left out of the tensors. A batch whose examples were all
skipped has ``input_values`` of shape ``(0, 0)``; training loops should skip it.

Pass only ``input_values`` (and ``attention_mask`` where the model wants it: not for wav2vec 2.0
BASE-style group-norm encoders, which were trained on unpadded audio) to the model.

``crop_to_shortest=True`` reproduces fairseq's unpadded pretraining batches: every example is
cropped to the shortest one in the batch (window start from ``crop_offset(seed, epoch, index)``),
so there is no padding at all.
"""

from __future__ import annotations

import torch

from wav2vec_hf.data.batching import crop_offset
from wav2vec_hf.data.shared_batches import batch_tensor


def decoded_batch(examples: list[dict], width: int) -> torch.Tensor | None:
    """The ``(len(examples), width)`` tensor the examples were decoded into, row by row, in order
    (``AudioDataset.__getitems__``: each example's ``"batch_row"`` is ``(tensor, row)``), or ``None``
    when they were not (then the collator copies them into a new batch)."""
    places = [example.get("batch_row") for example in examples]
    if not places or places[0] is None:
        return None
    values = places[0][0]
    if values.shape != (len(examples), width):
        return None
    for row, (place, example) in enumerate(zip(places, examples, strict=True)):
        if (
            place is None
            or place[0] is not values
            or place[1] != row
            or len(example["input_values"]) != width
        ):
            return None
    return values


class AudioCollator:
    """Pads (or crops) a list of waveform examples into one batch.

    Args:
        pad_to_multiple_of: round the padded length up to a multiple of this (e.g. 320, the
            wav2vec 2.0 hop, or 8 for tensor cores); ``None``: pad to the longest example.
        crop_to_shortest: crop every example to the batch's shortest instead of padding.
        seed: crop seed (with each example's ``epoch`` and ``index``).
        return_attention_mask: include ``attention_mask``.
        padding_value: value of padded samples (0.0: silence, as fairseq pads).
    """

    def __init__(
        self,
        *,
        pad_to_multiple_of: int | None = None,
        crop_to_shortest: bool = False,
        seed: int = 0,
        return_attention_mask: bool = True,
        padding_value: float = 0.0,
    ) -> None:
        if pad_to_multiple_of is not None and pad_to_multiple_of <= 0:
            raise ValueError(f"pad_to_multiple_of must be positive or None, got {pad_to_multiple_of}")
        self.pad_to_multiple_of = pad_to_multiple_of
        self.crop_to_shortest = crop_to_shortest
        self.seed = int(seed)
        self.return_attention_mask = return_attention_mask
        self.padding_value = float(padding_value)

    def __call__(self, examples: list[dict]) -> dict:
        skipped = [example["skipped"] for example in examples if "skipped" in example]
        kept = [example for example in examples if "skipped" not in example]
        waveforms = [example["input_values"] for example in kept]
        if self.crop_to_shortest and waveforms:
            shortest = min(len(w) for w in waveforms)
            waveforms = [
                w[start : start + shortest]
                for w, example in zip(waveforms, kept)
                for start in [
                    crop_offset(
                        len(w),
                        shortest,
                        seed=self.seed,
                        epoch=example.get("epoch", 0),
                        index=example.get("index", 0),
                    )
                ]
            ]
        lengths = torch.tensor([len(w) for w in waveforms], dtype=torch.int64)
        width = int(lengths.max()) if len(waveforms) else 0
        if self.pad_to_multiple_of and width:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        values = decoded_batch(kept, width)
        if values is None:
            values = batch_tensor(len(waveforms), width)
            for row, waveform in enumerate(waveforms):
                values[row, : len(waveform)] = waveform
                values[row, len(waveform) :] = self.padding_value
        batch = {
            "input_values": values,
            "lengths": lengths,
            "ids": [example["id"] for example in kept],
            "transcripts": [example.get("transcript") for example in kept],
            "skipped": skipped,
        }
        if self.return_attention_mask:
            batch["attention_mask"] = (torch.arange(width)[None, :] < lengths[:, None]).to(torch.int64)
        return batch
