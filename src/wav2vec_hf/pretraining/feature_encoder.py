"""The stock wav2vec 2.0 feature encoder's weights, run time-major as matrix products.

cuDNN handles the first layer (one input channel, kernel 10, stride 5) with a slow generic kernel
and converts layouts between layers. Here every conv layer is a window gather over time followed by one
matrix multiplication on a (batch, frames, channels) tensor, so each layer is a large GEMM, the
layer norms need no transposes, and the group norm of the first layer is a reduction over time. Windows are built from strided
slices (one per kernel tap), whose backward is cheap.
The result equals ``Wav2Vec2FeatureEncoder.forward`` (transposed), parameters and gradients alike.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def conv1d_time_major(hidden: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """A 1-D convolution (no padding, no dilation) on a time-major tensor.

    hidden: (batch, frames, in_channels) -> (batch, out_frames, out_channels), with
    ``out_frames = (frames - kernel) // stride + 1``.
    """
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    batch, frames, in_channels = hidden.shape
    out_frames = (frames - kernel) // stride + 1
    span = stride * (out_frames - 1) + 1
    # Strided slices, one per kernel tap (their backward is cheap, unlike unfold's as_strided).
    windows = torch.stack([hidden[:, tap : tap + span : stride] for tap in range(kernel)], dim=2)
    windows = windows.reshape(batch, out_frames, kernel * in_channels)  # tap-major, then channel
    weight = conv.weight.permute(0, 2, 1).reshape(conv.out_channels, kernel * in_channels)
    return F.linear(windows, weight, conv.bias)


def group_norm_over_time(hidden: torch.Tensor, norm: nn.GroupNorm) -> torch.Tensor:
    """``GroupNorm(C, C)`` (one group per channel) on a time-major tensor, computed in float32.

    hidden: (batch, frames, channels) -> same shape and dtype.
    """
    values = hidden.float()
    mean = values.mean(dim=1, keepdim=True)
    variance = values.var(dim=1, unbiased=False, keepdim=True)
    normed = (values - mean) * torch.rsqrt(variance + norm.eps)
    normed = normed * norm.weight.float() + norm.bias.float()
    return normed.to(hidden.dtype)


def feature_encoder_time_major(encoder: nn.Module, input_values: torch.Tensor) -> torch.Tensor:
    """Run a stock ``Wav2Vec2FeatureEncoder``'s layers as time-major GEMMs.

    Args:
        encoder: ``model.wav2vec2.feature_extractor`` (group-norm or layer-norm variant).
        input_values: (batch, samples) waveforms.

    Returns:
        (batch, frames, conv_dim[-1]), equal to ``encoder(input_values).transpose(1, 2)``.
    """
    hidden = input_values[:, :, None]  # (B, samples, 1)
    for layer in encoder.conv_layers:
        hidden = conv1d_time_major(hidden, layer.conv)
        norm = getattr(layer, "layer_norm", None)
        if isinstance(norm, nn.GroupNorm):
            hidden = group_norm_over_time(hidden, norm)
        elif isinstance(norm, nn.LayerNorm):
            hidden = norm(hidden)
        hidden = layer.activation(hidden)
    return hidden
