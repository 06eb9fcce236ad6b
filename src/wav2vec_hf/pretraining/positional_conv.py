"""wav2vec 2.0's convolutional positional embedding as blocked GEMMs over the stock weights.

The embedding is a grouped conv (D -> D, kernel 128, 16 groups, "same" padding, weight norm).
cuDNN runs it in bf16 with a slow generic kernel (a third of a BASE train step on an H200, by
profile). Here the taps are processed in blocks: a block's shifted copies of the input are stacked
and each group does one batched matrix product, accumulated over blocks. Same arithmetic, same
parameters (the weight-norm parametrisation is read through ``conv.weight``), same gradients.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def positional_conv_time_major(
    embedding: nn.Module, hidden: torch.Tensor, taps_per_block: int = 16
) -> torch.Tensor:
    """The stock ``Wav2Vec2PositionalConvEmbedding`` on a time-major tensor.

    Args:
        embedding: ``model.wav2vec2.encoder.pos_conv_embed`` (conv with weight norm, SamePad, activation).
        hidden: (batch, frames, D).
        taps_per_block: kernel taps stacked per matrix product (memory vs. number of products).

    Returns:
        (batch, frames, D), equal to ``embedding(hidden)``.
    """
    conv = embedding.conv
    weight = conv.weight  # (D, D / G, K), recomputed from the weight-norm parametrisation
    groups = conv.groups
    kernel = weight.shape[-1]
    batch, frames, dim = hidden.shape
    per_group_in = dim // groups
    per_group_out = weight.shape[0] // groups
    padding = conv.padding[0]
    padded = F.pad(hidden, (0, 0, padding, padding))  # (B, T + 2P, D)
    # (D_out, C_in, K) -> (G, K, C_in, C_out): for tap j and input channel c of group g.
    weight = weight.view(groups, per_group_out, per_group_in, kernel).permute(0, 3, 2, 1)
    output = None
    for start in range(0, kernel, taps_per_block):
        taps = range(start, min(start + taps_per_block, kernel))
        windows = torch.stack([padded[:, tap : tap + frames] for tap in taps], dim=2)  # (B, T, J, D)
        windows = windows.view(batch * frames, len(taps), groups, per_group_in).permute(2, 0, 1, 3)
        windows = windows.reshape(groups, batch * frames, len(taps) * per_group_in)
        block = weight[:, start : start + len(taps)].reshape(groups, len(taps) * per_group_in, per_group_out)
        product = torch.bmm(windows, block.to(windows.dtype))  # (G, B*T, C_out)
        output = product if output is None else output + product
    output = output.permute(1, 0, 2).reshape(batch, frames, groups * per_group_out)
    if conv.bias is not None:
        output = output + conv.bias.to(output.dtype)
    # The stock layer computes T + 1 frames for an even kernel and SamePad drops the last one;
    # taking frames 0..T-1 directly is the same.
    return embedding.activation(output)
