"""Span masks and contrastive negatives for wav2vec 2.0 pretraining, sampled in torch on the device.

The functions take and return tensors on the training device and never read a value back to the
host, so a train step that calls them stays free of host synchronisation and compiles without
graph breaks. Shapes are static given the batch shape (``max_spans`` and ``num_negatives`` are Python
ints derived from shapes and the config, not from data).
"""

from __future__ import annotations

import math

import torch


def max_spans(num_frames: int, mask_prob: float, mask_length: int, min_masks: int = 0) -> int:
    """The most spans a row of ``num_frames`` frames can receive (a static bound for sampling)."""
    if num_frames < mask_length:
        return 0
    bound = math.ceil(mask_prob * num_frames / mask_length) + 1
    return min(max(bound, min_masks), num_frames - mask_length + 1)


def compute_span_mask(
    frame_lengths: torch.Tensor,
    num_frames: int,
    mask_prob: float,
    mask_length: int,
    *,
    min_masks: int = 2,
    require_same_masks: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sample wav2vec 2.0's time mask: spans of ``mask_length`` frames starting at random steps.

    Each row gets ``floor(mask_prob * length / mask_length + u)`` spans (``u ~ U[0, 1)``, the
    probabilistic rounding fairseq uses), at least ``min_masks``, with distinct start frames drawn
    uniformly from ``[0, length - mask_length]``; spans may overlap, so with the paper's
    ``mask_prob=0.65, mask_length=10`` about 49% of the frames end up masked.

    Args:
        frame_lengths: (batch,) int64, the number of valid frames of each row (on the device).
        num_frames: T, the padded number of frames.
        mask_prob: the expected fraction of frames that start a span, times ``mask_length``.
        mask_length: M, the span length in frames.
        min_masks: the fewest spans a row gets (if it has room for them).
        require_same_masks: give every row the same number of masked frames, the batch's fewest
            (fairseq's ``require_same_masks``; see ``equalize_mask_counts``). The extra draw comes
            after the span draws, so the spans are those sampled without it.
        generator: a torch generator on the same device, for reproducible masks.

    Returns:
        (batch, T) bool, True where the frame is masked. Frames at or beyond a row's length are never masked.
    """
    device = frame_lengths.device
    batch = frame_lengths.shape[0]
    k = max_spans(num_frames, mask_prob, mask_length, min_masks)
    if k == 0:
        return torch.zeros(batch, num_frames, dtype=torch.bool, device=device)
    lengths = frame_lengths.to(torch.int64)
    room = (lengths - mask_length + 1).clamp(min=0)  # number of possible start frames per row
    rounding = torch.rand(batch, device=device, generator=generator)
    wanted = torch.floor(mask_prob * lengths.to(torch.float32) / mask_length + rounding).to(torch.int64)
    wanted = torch.minimum(wanted.clamp(min=min_masks), room).clamp(max=k)

    # Distinct random starts: rank random scores of the allowed start frames and keep the top k.
    num_starts = num_frames - mask_length + 1
    scores = torch.rand(batch, num_starts, device=device, generator=generator)
    allowed = torch.arange(num_starts, device=device)[None, :] < room[:, None]
    scores = torch.where(allowed, scores, torch.full_like(scores, -1.0))
    starts = scores.topk(k, dim=1).indices  # (batch, k), best-scored first
    keep = torch.arange(k, device=device)[None, :] < wanted[:, None]  # (batch, k)

    frames = starts[:, :, None] + torch.arange(mask_length, device=device)  # (batch, k, M)
    mask = _spans_to_mask(frames, keep[:, :, None].expand_as(frames), batch, num_frames)
    if require_same_masks:
        mask = equalize_mask_counts(mask, generator=generator)
    return mask


def equalize_mask_counts(mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Unmask random frames so that every row keeps as many masked frames as the row with the fewest.

    fairseq's ``require_same_masks`` rule: each row keeps a subset of its masked frames, of the batch
    minimum's size, chosen uniformly at random among its masked frames (the others are unmasked). It
    runs on the device without a host read: every masked frame gets a random score (unmasked frames
    rank last), each frame's rank within its row comes from one argsort, and a frame stays masked when
    its rank is below the minimum count (a 0-dim tensor). A row with no masked frame (shorter than
    one span) makes the minimum 0 and so empties every row's mask; the pretraining data never holds
    such a row (utterances shorter than two spans are dropped).

    Args:
        mask: (batch, T) bool time mask.
        generator: a torch generator on the mask's device, for a reproducible choice.

    Returns:
        (batch, T) bool, a subset of ``mask`` with ``min(mask.sum(1))`` masked frames in every row.
    """
    batch, num_frames = mask.shape
    if batch == 0 or num_frames == 0:
        return mask
    fewest = mask.sum(dim=1).min()  # 0-dim, stays on the device
    scores = torch.rand(batch, num_frames, device=mask.device, generator=generator)
    scores = torch.where(mask, scores, torch.full_like(scores, -1.0))  # masked frames rank first
    order = torch.argsort(scores, dim=1, descending=True)  # (batch, T) frame of each rank
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(num_frames, device=mask.device).expand(batch, num_frames))
    return mask & (ranks < fewest)


def _spans_to_mask(frames: torch.Tensor, hits: torch.Tensor, batch: int, num_frames: int) -> torch.Tensor:
    """OR together the frames of the kept spans. frames, hits: (batch, k, M) -> (batch, T) bool."""
    counts = torch.zeros(batch, num_frames, dtype=torch.int32, device=frames.device)
    counts.scatter_add_(1, frames.reshape(batch, -1), hits.reshape(batch, -1).to(torch.int32))
    return counts > 0


def sample_negatives(
    mask: torch.Tensor,
    num_negatives: int,
    *,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw distractors for every masked frame from the OTHER masked frames of the same utterance.

    The draw is uniform over the other masked frames (with replacement across the K draws, as in
    fairseq and transformers), never the positive itself.

    Args:
        mask: (batch, T) bool time mask.
        num_negatives: K distractors per frame.
        generator: a torch generator on the mask's device.

    Returns:
        ``(indices, valid)``: indices (batch, T, K) int64 into the flattened (batch * T) frames,
        the layout ``Wav2Vec2ForPreTraining`` takes as ``sampled_negative_indices``; valid
        (batch, T, K) bool, False where a row has fewer than two masked frames (no distractor exists;
        such logits must be excluded).
    """
    batch, num_frames = mask.shape
    device = mask.device
    counts = mask.sum(dim=1, keepdim=True)  # (batch, 1) masked frames per row
    # Masked frames of each row first, in time order: position r of `order` is the r-th masked frame.
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # (batch, T)
    rank = (mask.cumsum(dim=1) - 1).clamp(min=0)  # (batch, T) rank of each masked frame among its row's
    others = (counts - 1).clamp(min=1).to(torch.float32)  # choices excluding the positive
    draw = torch.floor(
        torch.rand(batch, num_frames, num_negatives, device=device, generator=generator) * others[:, :, None]
    )
    draw = draw.to(torch.int64)
    draw = draw + (draw >= rank[:, :, None]).to(torch.int64)  # skip the positive's own rank
    draw = torch.minimum(draw, (counts - 1).clamp(min=0)[:, :, None])
    times = torch.gather(order, 1, draw.reshape(batch, -1)).reshape(batch, num_frames, num_negatives)
    indices = times + (torch.arange(batch, device=device) * num_frames)[:, None, None]
    valid = (counts >= 2)[:, :, None].expand(batch, num_frames, num_negatives) & mask[:, :, None]
    return indices, valid
