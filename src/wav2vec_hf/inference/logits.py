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

    Args:
        model: a CTC model (stock ``Wav2Vec2ForCTC`` or this package's ``Wav2VecForCTC``), in eval mode.
        input_values: ``(B, samples)`` right-padded audio.
        attention_mask: ``(B, samples)``, 1 on real samples; ``None`` means no padding.
    """
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


__all__ = ["ctc_logits", "greedy_ids", "is_group_norm_wav2vec2"]
