"""CTC logits of a padded batch that equal each utterance's logits when it is alone.

Padding changes what a group-norm encoder computes: wav2vec 2.0 BASE normalises every channel of its
first conv layer over the whole (padded) input, and wav2vec / vq-wav2vec normalise over channels and
time in every encoder layer. The reference (fairseq, and transformers' convention) runs BASE models
without an attention mask, so batched transcripts drift from one-by-one transcripts.

``ctc_logits`` removes that effect without changing any model:

* wav2vec 2.0 group-norm models (stock ``Wav2Vec2ForCTC``, ``feat_extract_norm == "group"``): on a
  padded batch, the conv feature encoder runs on each utterance at its own length (no attention
  mask reaches the model, as the reference requires); the frame features are then padded and the
  Transformer runs batched with a frame mask, which hides padded frames from attention and from the
  positional convolution. Each utterance gets the logits it gets alone, up to float rounding.
* wav2vec 2.0 layer-norm models: the stock forward with the attention mask (already padding-free).
* ``Wav2VecForCTC`` / ``VQWav2VecForCTC``: their forward uses the mask the same way.

Frames past an utterance's length are returned but flagged by ``frames``.

Inputs shorter than the model's minimum (``min_input_samples``: the feature encoder's receptive
field, 400 samples = 25 ms for wav2vec 2.0, 465 for wav2vec) are padded with silence (zeros) up to
it, so that a 10 ms file or a 10-sample array gets a transcript (usually empty) instead of a
convolution error. An empty input (0 samples) is the loader's business (``AudioError``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def is_group_norm_wav2vec2(model) -> bool:
    """A wav2vec 2.0 CTC model whose feature encoder uses group norm (BASE style), without adapters."""
    config = model.config
    return (
        config.model_type == "wav2vec2"
        and getattr(config, "feat_extract_norm", "") == "group"
        and not getattr(config, "add_adapter", False)
        and hasattr(model, "wav2vec2")
        and hasattr(model, "lm_head")
    )


def min_input_samples(model) -> int:
    """The fewest input samples ``model`` turns into one output frame (cached on the model).

    Found from the model's own ``_get_feat_extract_output_lengths`` (the conv feature encoder's
    kernels and strides: ``config.conv_kernel`` / ``conv_stride`` for wav2vec 2.0,
    ``conv_feature_layers`` for wav2vec), so every generation is covered. Group-norm wav2vec 2.0
    encoders also need two frames out of their first conv layer (a group norm over one value fails).
    """
    cached = getattr(model, "_wav2vec_hf_min_input_samples", None)
    if cached is not None:
        return cached

    def frames(samples: int) -> int:
        return int(model._get_feat_extract_output_lengths(torch.tensor(samples)))

    high = 1
    while frames(high) < 1:
        high *= 2
        if high > 2**24:
            raise ValueError(f"{type(model).__name__}: no input length gives an output frame")
    low = high // 2  # gives no frame (or is 0)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if frames(middle) >= 1 else (middle, high)
    config = model.config
    if getattr(config, "feat_extract_norm", None) == "group" and getattr(config, "conv_kernel", None):
        high = max(high, int(config.conv_kernel[0]) + int(config.conv_stride[0]))
    model._wav2vec_hf_min_input_samples = high
    return high


def pad_to_min_length(
    input_values: torch.Tensor, attention_mask: torch.Tensor | None, minimum: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Rows shorter than ``minimum`` samples, extended with zeros (silence) to ``minimum``.

    Args:
        input_values: ``(B, samples)`` right-padded audio.
        attention_mask: ``(B, samples)`` 1 on real samples, or ``None`` (no padding).
        minimum: samples every row must have (``min_input_samples``).

    Returns:
        ``(input_values, attention_mask)`` of width ``max(samples, minimum)``; the mask counts the
        added silence as real audio (``None`` stays ``None`` when no row is padded afterwards).
    """
    lengths = _input_lengths(input_values, attention_mask)
    if not bool((lengths < minimum).any()):
        return input_values, attention_mask
    width = max(int(input_values.shape[1]), minimum)
    # Samples between an old length and the new one must be silence, whatever the padding value was.
    positions = torch.arange(width, device=input_values.device)[None, :]
    real = positions < lengths[:, None]
    values = F.pad(input_values, (0, width - input_values.shape[1]))
    values = torch.where(real, values, torch.zeros((), dtype=values.dtype, device=values.device))
    new_lengths = lengths.clamp(min=minimum)
    if attention_mask is None and bool((new_lengths == width).all()):
        return values, None
    dtype = attention_mask.dtype if attention_mask is not None else torch.long
    return values, (positions < new_lengths[:, None]).to(dtype)


def _input_lengths(input_values: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    if attention_mask is None:
        return torch.full(
            (input_values.shape[0],), input_values.shape[1], dtype=torch.long, device=input_values.device
        )
    return attention_mask.sum(-1).to(torch.long)


def _group_norm_logits(
    model, input_values: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    base = model.wav2vec2
    features = [
        base.feature_extractor(input_values[row : row + 1, : int(length)]).transpose(1, 2)[0]
        for row, length in enumerate(lengths.tolist())
    ]  # each (frames_i, channels)
    frames = torch.tensor([f.shape[0] for f in features], dtype=torch.long, device=input_values.device)
    width = int(frames.max())
    padded = torch.stack([F.pad(f, (0, 0, 0, width - f.shape[0])) for f in features])  # (B, T, C)
    frame_mask = (
        torch.arange(width, device=padded.device)[None, :] < frames[:, None]
    )  # bool, as the encoder expects
    hidden, _ = base.feature_projection(padded)
    hidden = base.encoder(hidden, attention_mask=frame_mask).last_hidden_state
    return model.lm_head(model.dropout(hidden)), frames


def ctc_logits(
    model, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(B, T, V)`` and valid frames ``(B,)`` of a (padded) batch, each utterance as if alone.

    Rows shorter than ``min_input_samples(model)`` are first extended with silence to that length
    (``pad_to_min_length``).

    Args:
        model: a CTC model (stock ``Wav2Vec2ForCTC`` or this package's ``Wav2VecForCTC``), in eval mode.
        input_values: ``(B, samples)`` right-padded audio.
        attention_mask: ``(B, samples)``, 1 on real samples; ``None`` means no padding.
    """
    input_values, attention_mask = pad_to_min_length(input_values, attention_mask, min_input_samples(model))
    lengths = _input_lengths(input_values, attention_mask)
    padded = bool((lengths < input_values.shape[1]).any())
    if is_group_norm_wav2vec2(model):
        if padded:
            return _group_norm_logits(model, input_values, lengths)
        logits = model(input_values).logits  # no mask for group-norm models
    else:
        logits = model(input_values, attention_mask=attention_mask).logits
    frames = torch.as_tensor(model._get_feat_extract_output_lengths(lengths), device=logits.device).to(
        torch.long
    )
    return logits, frames.clamp(max=logits.shape[1])


def greedy_ids(logits: torch.Tensor, frames: torch.Tensor, fill: int) -> torch.Tensor:
    """Argmax ids ``(B, T)`` with ``fill`` past each utterance's ``frames``."""
    ids = logits.argmax(dim=-1)
    padding = torch.arange(ids.shape[1], device=ids.device)[None, :] >= frames.to(ids.device)[:, None]
    return ids.masked_fill(padding, fill)


__all__ = ["ctc_logits", "greedy_ids", "is_group_norm_wav2vec2", "min_input_samples", "pad_to_min_length"]
