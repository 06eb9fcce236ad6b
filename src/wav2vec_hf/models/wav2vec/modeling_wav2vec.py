"""wav2vec (Schneider et al., 2019) and vq-wav2vec (Baevski et al., 2020) as transformers models.

Two layouts, side by side. fairseq's, kept for parity: audio ``(batch, samples)``; encoder output z,
quantised q and context c ``(batch, channels, frames)``; code indices ``(batch, frames, groups)`` with
values in ``[0, V)``. transformers', for feature-extraction code written for ``Wav2Vec2Model`` / HuBERT:
``last_hidden_state`` (= c) and ``extract_features`` (= z) ``(batch, frames, channels)``, and
``hidden_states``: the context network's input, then each of its layers' outputs, ``(batch, frames, channels)``.

Padded batches: an ``attention_mask`` ``(batch, samples)`` (1 on audio, 0 on right padding) gives
each utterance the frames it gets alone. Every group norm then takes its statistics over the
utterance's own frames only, padded frames are zeroed after every layer, and a conv frame is valid
when its whole receptive field lies in the valid frames of the layer below; the context network is
causal. So all ``_get_feat_extract_output_lengths(length)`` frames of an utterance are valid and match
the utterance run alone (to float rounding of the norm statistics, ~1e-6); frames past it are zero.

The data path (one utterance, eval mode, numerically as fairseq computes it):

    input_values (B, L) --FeatureEncoder--> z (B, C, T)  [5-8 conv blocks, group norm, log(|z|+1)?]
        --quantiser (vq-wav2vec only)--> q (B, C', T), codes (B, T, G)
        --ContextNetwork--> c (B, C'', T)  [causal conv blocks with skip connections, or a GRU]
    pretraining: step projections h_k(c_t) (B, C, T, K) scored against z or q at t + offset + k.
    CTC fine-tuning: c --wav2letter-style conv acoustic model--> (B, C_h, T) --linear--> logits (B, T, V).

This file imports only torch, transformers and its sibling ``configuration_wav2vec`` so that it can
be shipped as Hub remote code (``register_for_auto_class``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_wav2vec import VQWav2VecConfig, Wav2VecConfig

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


@dataclass
class Wav2VecModelOutput(ModelOutput):
    """Output of ``Wav2VecModel`` / ``VQWav2VecModel``.

    The first three fields follow transformers' ``Wav2Vec2BaseModelOutput`` (and come first in the
    ``return_dict=False`` tuple); the rest are fairseq-shaped, as the parity tests compare them. With a
    padding ``attention_mask``, frames past an utterance's length are zero in every frame-level field
    except ``codevector_indices`` / ``codevector_logits``, which are then padding to ignore.

    Attributes:
        last_hidden_state: c, the context network output, ``(batch, frames, context_dim)``.
        extract_features: z, the encoder output, ``(batch, frames, encoder_dim)``.
        hidden_states: with ``output_hidden_states``: the context network's input (z, or q for
            vq-wav2vec, after ``dropout_features``), then each context layer's output (one for a GRU),
            each ``(batch, frames, channels)``; in eval mode the last equals ``last_hidden_state``.
        context: c, the context network output, ``(batch, context_dim, frames)``.
        features: z, the encoder output, ``(batch, encoder_dim, frames)``.
        quantized_features: q, the quantiser output (vq-wav2vec), ``(batch, quantized_dim, frames)``.
        codevector_indices: per-group codes (vq-wav2vec), ``(batch, frames, groups)``, values in ``[0, V)``.
        codevector_logits: Gumbel logits, ``(batch, frames, groups * V)``; group g is columns g V .. g V + V - 1.
        kmeans_projection: k-means only: the projected encoder output compared with the codebook,
            ``(batch, encoder_dim, frames)``.
        code_perplexity: sum over groups of exp(entropy) of the batch's code histogram (scalar).
        prob_perplexity: Gumbel only: the same for the batch-averaged softmax (scalar).
        diversity_loss: Gumbel only: (G V - prob_perplexity) / (G V) (scalar).
        kmeans_loss: k-means only: mse(zq, sg(ze)) + gamma mse(ze, sg(zq)) (scalar, fp32).
        encoder_hidden_states: output of every encoder block, each ``(batch, channels, frames_l)``.
        context_hidden_states: output of every context network block, each ``(batch, channels, frames)``.
    """

    last_hidden_state: torch.FloatTensor | None = None
    extract_features: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    context: torch.FloatTensor | None = None
    features: torch.FloatTensor | None = None
    quantized_features: torch.FloatTensor | None = None
    codevector_indices: torch.LongTensor | None = None
    codevector_logits: torch.FloatTensor | None = None
    kmeans_projection: torch.FloatTensor | None = None
    code_perplexity: torch.FloatTensor | None = None
    prob_perplexity: torch.FloatTensor | None = None
    diversity_loss: torch.FloatTensor | None = None
    kmeans_loss: torch.FloatTensor | None = None
    encoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    context_hidden_states: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class Wav2VecForPreTrainingOutput(ModelOutput):
    """Output of ``Wav2VecForPreTraining`` / ``VQWav2VecForPreTraining``.

    Logits are laid out as fairseq's wav2vec criterion receives them, step after step. Binary loss:
    ``logits`` and ``targets`` are 1-D; step k contributes ``(1 + negatives) * batch * (frames - offset - k)``
    entries ordered (candidate, batch, frame), the positives first (target 1). InfoNCE: ``logits`` is
    ``(rows, 1 + negatives)`` with column 0 the positive, rows ordered (step, frame, batch), ``targets``
    all zeros.

    Attributes:
        loss: contrastive_loss + diversity_loss_weight * diversity_loss + kmeans_loss_weight * kmeans_loss.
        contrastive_loss: the K-step loss summed over all terms and divided by the number of positives
            (fairseq's normalisation: the gradient fairseq applies), scalar.
        per_step_loss: the contrastive loss of each step, normalised by that step's positives, ``(K,)``.
        accuracy: fraction of (step, frame, utterance) where the positive scores above every negative.
        logits, targets: see above.
        step_predictions: h_k(c), the step-specific projections, ``(batch, encoder_dim, frames, K)``.
        negative_indices: the distractors used, ``(batch, frames, negatives)``, indices into the
            batch's frames flattened as ``utterance * frames + frame``.
        diversity_loss, kmeans_loss, code_perplexity, prob_perplexity: as in ``Wav2VecModelOutput``.
        gumbel_temperature: the temperature used (Gumbel only), float.
        context, features, quantized_features, codevector_indices: as in ``Wav2VecModelOutput``.
        encoder_hidden_states, context_hidden_states, hidden_states: as in ``Wav2VecModelOutput``.
    """

    loss: torch.FloatTensor | None = None
    contrastive_loss: torch.FloatTensor | None = None
    per_step_loss: torch.FloatTensor | None = None
    accuracy: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    targets: torch.Tensor | None = None
    step_predictions: torch.FloatTensor | None = None
    negative_indices: torch.LongTensor | None = None
    diversity_loss: torch.FloatTensor | None = None
    kmeans_loss: torch.FloatTensor | None = None
    code_perplexity: torch.FloatTensor | None = None
    prob_perplexity: torch.FloatTensor | None = None
    gumbel_temperature: float | None = None
    context: torch.FloatTensor | None = None
    features: torch.FloatTensor | None = None
    quantized_features: torch.FloatTensor | None = None
    codevector_indices: torch.LongTensor | None = None
    encoder_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    context_hidden_states: tuple[torch.FloatTensor, ...] | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class Wav2VecForCTCOutput(ModelOutput):
    """Output of ``Wav2VecForCTC`` / ``VQWav2VecForCTC``.

    Attributes:
        loss: CTC loss (``config.ctc_loss_reduction``), when ``labels`` were given.
        logits: ``(batch, frames, vocab_size)`` unnormalised scores; frames past ``logit_lengths``
            of a padded utterance are padding.
        logit_lengths: ``(batch,)`` valid frames per utterance.
        context: c, the (frozen) context network output fed to the acoustic model,
            ``(batch, context_dim, frames)``, zero past each utterance's length.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    logit_lengths: torch.LongTensor | None = None
    context: torch.FloatTensor | None = None


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


def frame_mask_from_lengths(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """``(batch, frames)`` bool, True on the first ``lengths[b]`` frames of row b (``lengths`` ``(batch,)``)."""
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]


def conv_output_lengths(lengths: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Frames of an unpadded conv (no padding) over inputs of ``lengths`` frames, ``(batch,)`` int64."""
    return torch.div(lengths - kernel, stride, rounding_mode="floor") + 1


def _zero_padding(hidden: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
    """``hidden`` ``(B, C, T)`` with the frames where ``frame_mask`` ``(B, T)`` is False set to 0."""
    if frame_mask is None:
        return hidden
    return hidden.masked_fill(~frame_mask[:, None, :], 0.0)


def masked_group_norm(
    hidden: torch.Tensor,
    frame_mask: torch.Tensor,
    num_groups: int,
    weight: torch.Tensor | None,
    bias: torch.Tensor | None,
    eps: float,
) -> torch.Tensor:
    """``F.group_norm`` of ``hidden`` ``(B, C, T)`` with statistics over the frames where ``frame_mask``
    ``(B, T)`` is True only (mean, then the biased variance of the centred values: two passes);
    masked frames come out as 0. Each row must have at least one True frame."""
    batch, channels, frames = hidden.shape
    mask = frame_mask[:, None, None, :]  # (B, 1, 1, T)
    grouped = hidden.view(batch, num_groups, channels // num_groups, frames)
    count = frame_mask.sum(-1).to(hidden.dtype).view(batch, 1, 1, 1) * (channels // num_groups)
    mean = grouped.masked_fill(~mask, 0.0).sum(dim=(2, 3), keepdim=True) / count
    centred = (grouped - mean).masked_fill(~mask, 0.0)
    variance = centred.pow(2).sum(dim=(2, 3), keepdim=True) / count
    normed = (centred * torch.rsqrt(variance + eps)).view(batch, channels, frames)
    if weight is not None:
        normed = normed * weight[None, :, None] + bias[None, :, None]
    return _zero_padding(normed, frame_mask)


class Fp32GroupNorm(nn.GroupNorm):
    """Group norm computed in float32 whatever the input dtype, cast back to it (as fairseq).

    With one group it normalises each utterance over channels and time together, so its statistics
    in bf16/fp16 would be too coarse; autocast is disabled inside. With a ``frame_mask`` ``(B, T)``
    the statistics cover each row's valid frames only (``masked_group_norm``), so right padding
    does not change them.
    """

    def forward(self, hidden: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        weight = self.weight.float() if self.weight is not None else None
        bias = self.bias.float() if self.bias is not None else None
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            if frame_mask is None:
                normed = F.group_norm(hidden.float(), self.num_groups, weight, bias, self.eps)
            else:
                normed = masked_group_norm(
                    hidden.float(), frame_mask, self.num_groups, weight, bias, self.eps
                )
        return normed.to(hidden.dtype)


class FeatureEncoderBlock(nn.Module):
    """Conv1d (no bias) -> group norm (1 group, fp32) -> activation: ``(B, C_in, L) -> (B, C_out, L')``.

    ``frame_mask`` ``(B, L')`` marks each row's valid output frames: the norm's statistics skip the
    others, which come out as 0.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, config: Wav2VecConfig):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = nn.Conv1d(in_channels, out_channels, kernel, stride=stride, bias=False)
        self.norm = Fp32GroupNorm(1, out_channels, affine=not config.non_affine_group_norm)
        self.activation = _ACTIVATIONS[config.activation]()

    def forward(self, hidden: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        return _zero_padding(self.activation(self.norm(self.conv(hidden), frame_mask)), frame_mask)


def _strided_residual(residual: torch.Tensor, frames: int, steps: torch.Tensor | None) -> torch.Tensor:
    """Every step-th frame of ``residual`` ``(B, C, L)``, ``frames`` of them: ``(B, C, frames)``.

    fairseq's step is ``L // frames``; for a padded batch ``steps`` ``(B,)`` holds each row's own
    ``valid_in // valid_out``, the step it gets alone.
    """
    if steps is None:
        return residual[..., :: residual.size(2) // frames][..., :frames]
    positions = torch.arange(frames, device=residual.device)[None, :] * steps[:, None]  # (B, frames)
    positions = positions.clamp(max=residual.size(2) - 1)  # only padded frames reach past the end
    return residual.gather(2, positions[:, None, :].expand(-1, residual.size(1), -1))


class Wav2VecFeatureEncoder(nn.Module):
    """The encoder f: raw audio ``(B, L)`` -> z ``(B, C, T)``, T = floor((L - receptive field) / hop) + 1.

    With ``lengths`` ``(B,)`` (valid samples per row of a right-padded batch), every layer's norm uses
    only its valid frames and padded frames are zeroed, so row b's first ``T_b`` frames are those of
    the row alone, T_b computed from ``lengths[b]`` as above. Supports gradient checkpointing (per block).
    """

    def __init__(self, config: Wav2VecConfig):
        super().__init__()
        layers, in_channels = [], 1
        for channels, kernel, stride in config.conv_feature_layers:
            layers.append(FeatureEncoderBlock(in_channels, channels, kernel, stride, config))
            in_channels = channels
        self.conv_layers = nn.ModuleList(layers)
        self.log_compression = config.log_compression
        self.skip_connections = config.skip_connections_feat
        self.residual_scale = math.sqrt(config.residual_scale)
        self.gradient_checkpointing = False

    def forward(
        self,
        input_values: torch.Tensor,
        output_hidden_states: bool = False,
        lengths: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """``input_values`` ``(B, L)`` -> (z ``(B, C, T)``, every block's output or None)."""
        hidden = input_values.unsqueeze(1)
        checkpointing = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        if checkpointing and not hidden.requires_grad:
            hidden.requires_grad_(True)  # reentrant checkpointing needs an input that carries gradients
        frame_mask = None
        if lengths is not None:
            hidden = _zero_padding(hidden, frame_mask_from_lengths(lengths, hidden.size(2)))
        all_hidden = []
        for layer in self.conv_layers:
            residual, residual_lengths = hidden, lengths
            if lengths is not None:
                lengths = conv_output_lengths(lengths, layer.kernel, layer.stride)
                frame_mask = frame_mask_from_lengths(
                    lengths, (hidden.size(2) - layer.kernel) // layer.stride + 1
                )
            if checkpointing:
                hidden = self._gradient_checkpointing_func(layer.__call__, hidden, frame_mask)
            else:
                hidden = layer(hidden, frame_mask)
            if self.skip_connections and hidden.size(1) == residual.size(1):
                # The residual is longer (stride): keep every (len_in // len_out)-th frame, as fairseq.
                steps = (
                    None if lengths is None else torch.div(residual_lengths, lengths, rounding_mode="floor")
                )
                residual = _strided_residual(residual, hidden.size(2), steps)
                hidden = _zero_padding((hidden + residual) * self.residual_scale, frame_mask)
            if output_hidden_states:
                all_hidden.append(hidden)
        if self.log_compression:
            hidden = (hidden.abs() + 1).log()  # log(0 + 1) = 0: padding stays zero
        return hidden, (tuple(all_hidden) if output_hidden_states else None)


class ContextBlock(nn.Module):
    """Causal pad (kernel - 1 frames on the left) -> Conv1d -> dropout -> group norm -> activation."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, config: Wav2VecConfig):
        super().__init__()
        self.left_padding = kernel - 1
        self.zero_pad = config.agg_zero_pad
        self.conv = nn.Conv1d(in_channels, out_channels, kernel, bias=config.conv_bias)
        self.dropout = nn.Dropout(config.dropout)
        self.norm = Fp32GroupNorm(1, out_channels, affine=not config.non_affine_group_norm)
        self.activation = _ACTIVATIONS[config.activation]()
        # A 1x1 conv carries the residual across a change of channel count (only then: fairseq's keys).
        self.residual_projection = (
            nn.Conv1d(in_channels, out_channels, 1, bias=False)
            if config.skip_connections_agg and in_channels != out_channels
            else None
        )

    def forward(self, hidden: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, C_in, T) -> (B, C_out, T)``; ``frame_mask`` ``(B, T)``: valid frames (norm statistics)."""
        # Replication (fairseq's default) repeats the first frame, so the first outputs see real audio.
        mode = "constant" if self.zero_pad else "replicate"
        padded = F.pad(hidden, (self.left_padding, 0), mode=mode)
        hidden = self.activation(self.norm(self.dropout(self.conv(padded)), frame_mask))
        return _zero_padding(hidden, frame_mask)


class Wav2VecContextNetwork(nn.Module):
    """The context network g (aggregator): ``(B, C_in, T) -> (B, C_out, T)``, causal.

    ``frame_mask`` ``(B, T)`` marks each row's valid frames of a right-padded batch: the norms use
    only those and padded frames are zeroed; being causal, valid frames never see padding. Supports
    gradient checkpointing (per block).
    """

    def __init__(self, config: Wav2VecConfig, in_channels: int):
        super().__init__()
        layers = []
        for channels, kernel, _ in config.conv_aggregator_layers:
            layers.append(ContextBlock(in_channels, channels, kernel, config))
            in_channels = channels
        self.layers = nn.ModuleList(layers)
        self.skip_connections = config.skip_connections_agg
        self.residual_scale = math.sqrt(config.residual_scale)
        self.gradient_checkpointing = False

    def forward(
        self, hidden: torch.Tensor, output_hidden_states: bool = False, frame_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """``(B, C_in, T)`` -> (c ``(B, C_out, T)``, every block's output or None)."""
        checkpointing = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        all_hidden = []
        for layer in self.layers:
            residual = hidden
            if checkpointing:
                hidden = self._gradient_checkpointing_func(layer.__call__, hidden, frame_mask)
            else:
                hidden = layer(hidden, frame_mask)
            if self.skip_connections:
                if layer.residual_projection is not None:
                    residual = layer.residual_projection(residual)
                hidden = _zero_padding((hidden + residual) * self.residual_scale, frame_mask)
            if output_hidden_states:
                all_hidden.append(hidden)
        return hidden, (tuple(all_hidden) if output_hidden_states else None)


class Wav2VecGRUContextNetwork(nn.Module):
    """A one-layer GRU over time as context network: ``(B, C_in, T) -> (B, gru_dim, T)``.

    Unidirectional, so right padding never reaches a valid frame; ``frame_mask`` ``(B, T)`` only
    zeroes the padded frames' outputs.
    """

    def __init__(self, config: Wav2VecConfig, in_channels: int):
        super().__init__()
        self.gru = nn.GRU(input_size=in_channels, hidden_size=config.gru_dim, num_layers=1, batch_first=True)

    def forward(
        self, hidden: torch.Tensor, output_hidden_states: bool = False, frame_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        output, _ = self.gru(hidden.transpose(1, 2))
        output = _zero_padding(output.transpose(1, 2), frame_mask)
        return output, ((output,) if output_hidden_states else None)


def build_context_network(config: Wav2VecConfig, in_channels: int) -> nn.Module:
    """The configured context network (``aggregator``)."""
    if config.aggregator == "gru":
        return Wav2VecGRUContextNetwork(config, in_channels)
    return Wav2VecContextNetwork(config, in_channels)


@dataclass
class QuantizerOutput(ModelOutput):
    """What a quantiser returns; see ``Wav2VecModelOutput`` for the fields."""

    quantized: torch.FloatTensor | None = None
    indices: torch.LongTensor | None = None
    code_perplexity: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    prob_perplexity: torch.FloatTensor | None = None
    diversity_loss: torch.FloatTensor | None = None
    projection: torch.FloatTensor | None = None
    kmeans_loss: torch.FloatTensor | None = None


def _perplexity(probabilities: torch.Tensor) -> torch.Tensor:
    """Sum over groups of exp(entropy); ``probabilities`` is ``(groups, V)`` (fairseq's +1e-7 inside the log)."""
    entropy = -(probabilities * torch.log(probabilities + 1e-7)).sum(dim=-1)
    return torch.exp(entropy).sum()


def _code_perplexity(indices: torch.Tensor, num_vars: int) -> torch.Tensor:
    """Perplexity of the code histogram; ``indices`` is ``(N, groups)``."""
    one_hot = F.one_hot(indices, num_vars).float()  # (N, G, V)
    return _perplexity(one_hot.mean(dim=0))


class GumbelVectorQuantizer(nn.Module):
    """Gumbel-softmax product quantiser: z ``(B, C, T)`` -> q ``(B, vq_dim, T)``, codes ``(B, T, G)``.

    Logits come from a linear layer (or an MLP, ``vq_depth`` > 1) over each frame's C channels. In
    training the code of each group is a hard Gumbel-softmax sample (straight-through gradient);
    in eval it is the argmax. Group g's vector is row ``code`` of its codebook; vectors of the G
    groups are concatenated. With a ``frame_mask`` ``(B, T)`` the perplexities (and so the diversity
    loss) count valid frames only and q is zero on the others.
    """

    def __init__(self, config: Wav2VecConfig):
        super().__init__()
        self.num_groups = config.vq_groups
        self.num_vars = config.vq_vars
        self.combine_groups = config.combine_groups
        self.var_dim = config.quantized_dim // config.vq_groups
        codebooks = 1 if config.combine_groups else config.vq_groups
        # (1, codebooks * V, var_dim), fairseq's ``vars`` layout.
        self.codevectors = nn.Parameter(torch.empty(1, codebooks * config.vq_vars, self.var_dim))
        inner_dim = config.encoder_dim * 2
        hidden_layers, in_dim = [], config.encoder_dim
        for _ in range(config.vq_depth - 1):
            hidden_layers.append(nn.Linear(in_dim, inner_dim))
            in_dim = inner_dim
        self.hidden_layers = nn.ModuleList(hidden_layers)
        self.activation = _ACTIVATIONS[config.activation]()
        self.logit_projection = nn.Linear(in_dim, config.vq_groups * config.vq_vars)
        self.temperature = float(config.vq_temp[0])

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Code logits ``(B, T, G * V)`` for encoder output ``(B, C, T)``."""
        hidden = features.transpose(1, 2)
        for layer in self.hidden_layers:
            hidden = self.activation(layer(hidden))
        return self.logit_projection(hidden)

    def codebook(self) -> torch.Tensor:
        """Every group's codewords, ``(G, V, var_dim)``."""
        vectors = self.codevectors.view(-1, self.num_vars, self.var_dim)
        return vectors.expand(self.num_groups, -1, -1) if self.combine_groups else vectors

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor | None = None) -> QuantizerOutput:
        batch, _, frames = features.shape
        logits = self.logits(features)
        grouped = logits.reshape(batch * frames, self.num_groups, self.num_vars)
        argmax = grouped.argmax(dim=-1)  # (B*T, G)
        valid = slice(None) if frame_mask is None else frame_mask.reshape(-1)
        code_perplexity = _code_perplexity(argmax[valid], self.num_vars)
        average_probs = torch.softmax(grouped[valid].float(), dim=-1).mean(dim=0)
        prob_perplexity = _perplexity(average_probs)
        total_vars = self.num_groups * self.num_vars
        if self.training:
            one_hot = F.gumbel_softmax(grouped.float(), tau=self.temperature, hard=True).type_as(grouped)
            indices = one_hot.argmax(dim=-1)
        else:
            one_hot = F.one_hot(argmax, self.num_vars).type_as(grouped)
            indices = argmax
        # One-hot times codebook (not a gather) so the straight-through gradient reaches the logits.
        quantized = torch.einsum("ngv,gvd->ngd", one_hot, self.codebook().to(one_hot.dtype))
        quantized = _zero_padding(quantized.reshape(batch, frames, -1).transpose(1, 2), frame_mask)
        return QuantizerOutput(
            quantized=quantized,
            indices=indices.view(batch, frames, self.num_groups),
            code_perplexity=code_perplexity,
            logits=logits,
            prob_perplexity=prob_perplexity,
            diversity_loss=(total_vars - prob_perplexity) / total_vars,
        )

    @torch.no_grad()
    def codes(self, features: torch.Tensor) -> torch.Tensor:
        """Deterministic (argmax) codes ``(B, T, G)`` for encoder output ``(B, C, T)``."""
        batch, _, frames = features.shape
        return self.logits(features).view(batch, frames, self.num_groups, self.num_vars).argmax(dim=-1)


class KmeansVectorQuantizer(nn.Module):
    """k-means product quantiser: z ``(B, C, T)`` -> q ``(B, C, T)``, codes ``(B, T, G)``.

    z is first projected (grouped 1x1 conv + group norm with G groups, fp32) to ze; each group's
    slice of ze picks its nearest codeword (Euclidean). The output is the codewords, with the
    gradient passed straight through to ze. With a ``frame_mask`` ``(B, T)`` the projection's norm,
    the loss and the perplexity use valid frames only, and ze and q are zero on the others.
    """

    def __init__(self, config: Wav2VecConfig):
        super().__init__()
        dim = config.encoder_dim
        self.num_groups = config.vq_groups
        self.num_vars = config.vq_vars
        self.combine_groups = config.combine_groups
        self.var_dim = dim // config.vq_groups
        self.gamma = config.vq_gamma
        self.projection = nn.Conv1d(dim, dim, kernel_size=1, groups=config.vq_groups, bias=False)
        self.projection_norm = Fp32GroupNorm(config.vq_groups, dim)
        codebooks = 1 if config.combine_groups else config.vq_groups
        # (V, codebooks, var_dim), fairseq's ``embedding`` layout.
        self.codebook = nn.Parameter(torch.empty(config.vq_vars, codebooks, self.var_dim))

    def expanded_codebook(self) -> torch.Tensor:
        """Every group's codewords, ``(V, G, var_dim)``."""
        return self.codebook.expand(self.num_vars, self.num_groups, self.var_dim)

    def project(self, features: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """ze ``(B, C, T)``: what is compared with the codebook."""
        return self.projection_norm(self.projection(features), frame_mask)

    @torch.no_grad()
    def _nearest(self, projected: torch.Tensor) -> torch.Tensor:
        batch, _, frames = projected.shape
        slices = projected.float().view(batch, self.num_groups, self.var_dim, frames).permute(1, 0, 3, 2)
        slices = slices.reshape(self.num_groups, batch * frames, self.var_dim)  # (G, B*T, d)
        codebook = self.expanded_codebook().float().transpose(0, 1)  # (G, V, d)
        # Exact differences (no |a|^2 + |b|^2 - 2ab shortcut): close codewords stay ordered as in fairseq.
        distances = torch.cdist(slices, codebook, compute_mode="donot_use_mm_for_euclid_dist")
        return distances.argmin(dim=-1).transpose(0, 1).reshape(batch, frames, self.num_groups)

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor | None = None) -> QuantizerOutput:
        batch, channels, frames = features.shape
        projected = self.project(features, frame_mask)
        indices = self._nearest(projected)  # (B, T, G)
        codebook = self.expanded_codebook()
        group_ids = torch.arange(self.num_groups, device=indices.device)
        chosen = codebook[indices, group_ids]  # (B, T, G, d)
        selected = chosen.reshape(batch, frames, channels).transpose(1, 2).to(projected.dtype)
        selected = _zero_padding(selected, frame_mask)
        quantized = selected.detach() + (projected - projected.detach())
        if frame_mask is None:
            latent_loss = F.mse_loss(selected.float(), projected.detach().float())
            commitment_loss = F.mse_loss(projected.float(), selected.detach().float())
            valid_indices = indices.view(-1, self.num_groups)
        else:
            # Padded frames are zero in both: their squared errors are 0, so average over valid ones.
            count = frame_mask.sum() * channels
            latent_loss = F.mse_loss(selected.float(), projected.detach().float(), reduction="sum") / count
            commitment_loss = (
                F.mse_loss(projected.float(), selected.detach().float(), reduction="sum") / count
            )
            valid_indices = indices[frame_mask]
        return QuantizerOutput(
            quantized=quantized,
            indices=indices,
            code_perplexity=_code_perplexity(valid_indices, self.num_vars),
            projection=projected,
            kmeans_loss=latent_loss + self.gamma * commitment_loss,
        )

    def codes(self, features: torch.Tensor) -> torch.Tensor:
        """Nearest-codeword codes ``(B, T, G)`` for encoder output ``(B, C, T)``."""
        with torch.no_grad():
            return self._nearest(self.project(features))


def gumbel_temperature_at_step(start: float, end: float, decay: float, step: int) -> float:
    """fairseq's annealing: ``max(end, start * decay ** step)`` (2 -> 0.5 with decay 0.999995: 0.5 after ~277k updates)."""
    return max(float(end), float(start) * float(decay) ** int(step))


def sample_negative_indices(
    batch_size: int,
    num_frames: int,
    num_negatives: int,
    cross_sample_negatives: int = 0,
    sample_distance: int | None = None,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> torch.LongTensor:
    """Draw distractor frames for every target frame, on ``device``.

    Same-utterance distractors are uniform over the utterance's other frames (never the target
    itself; within ``sample_distance`` frames of it when set); cross-sample ones are uniform over
    all other frames of the batch. Indices address the batch's frames flattened as
    ``utterance * num_frames + frame``.

    Returns:
        ``(batch_size, num_frames, num_negatives + cross_sample_negatives)`` int64.
    """
    frames = torch.arange(num_frames, device=device)
    utterance_start = (torch.arange(batch_size, device=device) * num_frames).view(-1, 1, 1)
    parts = []
    if num_negatives > 0:
        if num_frames < 2:
            raise ValueError("sampling negatives from the same utterance needs at least 2 frames.")
        shape = (batch_size, num_frames, num_negatives)
        if sample_distance is None:
            # Uniform over the T - 1 other frames: draw from [0, T - 1) and skip the target.
            drawn = torch.randint(0, num_frames - 1, shape, device=device, generator=generator)
            drawn = drawn + (drawn >= frames.view(1, -1, 1)).long()
        else:
            low = (frames - sample_distance).clamp(min=0).view(1, -1, 1)
            high = (frames + sample_distance).clamp(max=num_frames - 1).view(1, -1, 1)
            width = high - low  # candidates in [low, high] minus the target
            uniform = torch.rand(shape, device=device, generator=generator)
            drawn = low + (uniform * width).long().clamp(max=width - 1)
            drawn = drawn + (drawn >= frames.view(1, -1, 1)).long()
        parts.append(drawn + utterance_start)
    if cross_sample_negatives > 0:
        total = batch_size * num_frames
        if total < 2:
            raise ValueError("cross-sample negatives need at least 2 frames in the batch.")
        shape = (batch_size, num_frames, cross_sample_negatives)
        own = (utterance_start + frames.view(1, -1, 1)).expand(shape)
        drawn = torch.randint(0, total - 1, shape, device=device, generator=generator)
        parts.append(drawn + (drawn >= own).long())
    if not parts:
        raise ValueError("num_negatives + cross_sample_negatives must be >= 1 for the contrastive loss.")
    return torch.cat(parts, dim=-1)


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def _seconds(samples: int, rate: int) -> str:
    return f"{samples / rate:.4f} s"


class Wav2VecPreTrainedModel(PreTrainedModel):
    """Weights initialisation, auto-class names and input checks shared by the wav2vec models."""

    config: Wav2VecConfig
    config_class = Wav2VecConfig
    base_model_prefix = "wav2vec"
    main_input_name = "input_values"
    input_modalities = "audio"
    # The encoder's and the context network's conv blocks (a GRU context network is not checkpointed).
    supports_gradient_checkpointing = True

    def _init_weights(self, module: nn.Module) -> None:
        """fairseq's initialisation: PyTorch defaults, uniform [0, 1) Gumbel codewords (N(0, 1) logits
        for a single-layer projection), N(0, 0.01^2) k-means codewords, unit/zero norms, PReLU slope 0.25."""
        if isinstance(module, GumbelVectorQuantizer):
            init.uniform_(module.codevectors)
            if not module.hidden_layers:
                init.normal_(module.logit_projection.weight, mean=0.0, std=1.0)
                init.zeros_(module.logit_projection.bias)
        elif isinstance(module, KmeansVectorQuantizer):
            init.normal_(module.codebook, mean=0.0, std=0.01)
        elif isinstance(module, (nn.Conv1d, nn.Linear, nn.ConvTranspose2d)):
            # PyTorch's default layer init (kaiming uniform with a = sqrt(5)), which fairseq keeps.
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                fan_in = module.weight.size(1) * math.prod(module.weight.shape[2:])
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.PReLU):
            init.constant_(module.weight, 0.25)  # PyTorch's default slope
        elif isinstance(module, nn.GroupNorm) and module.affine:
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.GRU):
            bound = 1 / math.sqrt(module.hidden_size)
            for parameter in module.parameters():
                init.uniform_(parameter, -bound, bound)

    def save_pretrained(self, save_directory, *args, **kwargs):
        """``PreTrainedModel.save_pretrained``, writing an ``auto_map`` for every auto class so that
        the folder loads with ``AutoModel`` and ``AutoModelForPreTraining`` (and, for a CTC model,
        ``AutoModelForCTC``) with ``trust_remote_code=True``."""
        if type(self)._auto_class is not None:
            prefix = "VQWav2Vec" if isinstance(self.config, VQWav2VecConfig) else "Wav2Vec"
            auto_map = dict(getattr(self.config, "auto_map", None) or {})
            auto_map["AutoModel"] = f"modeling_wav2vec.{prefix}Model"
            auto_map["AutoModelForPreTraining"] = f"modeling_wav2vec.{prefix}ForPreTraining"
            if type(self)._auto_class == "AutoModelForCTC":
                auto_map["AutoModelForCTC"] = f"modeling_wav2vec.{prefix}ForCTC"
            self.config.auto_map = auto_map
        return super().save_pretrained(save_directory, *args, **kwargs)

    def _get_feat_extract_output_lengths(self, input_lengths: torch.Tensor | int) -> torch.Tensor | int:
        """Frames for inputs of ``input_lengths`` samples (0 where shorter than the receptive field)."""
        lengths = input_lengths
        for _, kernel, stride in self.config.conv_feature_layers:
            if isinstance(lengths, torch.Tensor):
                lengths = torch.div(lengths - kernel, stride, rounding_mode="floor") + 1
            else:
                lengths = (lengths - kernel) // stride + 1
        return lengths.clamp(min=0) if isinstance(lengths, torch.Tensor) else max(lengths, 0)

    def _get_feature_vector_attention_mask(
        self, feature_vector_length: int, attention_mask: torch.Tensor
    ) -> torch.LongTensor:
        """Frame-level mask ``(batch, feature_vector_length)`` for a sample-level ``attention_mask``
        ``(batch, samples)`` of a right-padded batch: 1 on each row's valid frames (as transformers'
        ``Wav2Vec2PreTrainedModel``, for pooling over ``last_hidden_state`` or ``hidden_states``)."""
        lengths = self._get_feat_extract_output_lengths(attention_mask.sum(-1).to(torch.long))
        return frame_mask_from_lengths(lengths, feature_vector_length).long()

    def _padding_lengths(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> torch.Tensor | None:
        """Valid samples per row ``(batch,)`` from ``attention_mask`` ``(batch, samples)``, or None when
        nothing is padded (the plain, fairseq-exact path). Refuses masks that are not right padding and
        rows too short for one frame."""
        if attention_mask is None:
            return None
        if attention_mask.shape != input_values.shape:
            raise ValueError(
                f"attention_mask has shape {tuple(attention_mask.shape)} but input_values {tuple(input_values.shape)}; "
                "pass the mask the feature extractor returned with the same padded batch."
            )
        mask = attention_mask.bool()
        lengths = mask.sum(-1)
        if not bool((mask == frame_mask_from_lengths(lengths, mask.shape[-1])).all()):
            raise ValueError(
                "attention_mask must be 1 on each utterance's samples followed by 0 on padding (right padding); "
                "pad on the right, e.g. with the feature extractor's padding_side='right'."
            )
        if bool((lengths == mask.shape[-1]).all()):
            return None
        needed = self.config.receptive_field
        short = (lengths < needed).nonzero().flatten().tolist()
        if short:
            row = short[0]
            rate = self.config.sampling_rate
            raise ValueError(
                f"utterance {row} of the batch has {int(lengths[row])} samples "
                f"({_seconds(int(lengths[row]), rate)} at {rate} Hz), but the wav2vec encoder needs at least "
                f"{needed} samples ({_seconds(needed, rate)}), its receptive field, for one frame. Drop such "
                "utterances before batching."
            )
        return lengths.to(torch.long)

    def _check_input(self, input_values: torch.Tensor, min_frames: int, purpose: str) -> None:
        if input_values.dim() != 2:
            raise ValueError(
                f"input_values must be (batch, samples) raw audio, got shape {tuple(input_values.shape)}; "
                "add a batch dimension with input_values[None] for one utterance."
            )
        config = self.config
        needed = config.min_input_length(min_frames)
        length = input_values.shape[-1]
        if length < needed:
            rate = config.sampling_rate
            raise ValueError(
                f"input_values has {length} samples ({_seconds(length, rate)} at {rate} Hz), but {purpose} needs "
                f"at least {needed} samples ({_seconds(needed, rate)}): the encoder's receptive field of "
                f"{config.receptive_field} samples plus {min_frames - 1} hops of {config.total_stride} samples "
                f"({min_frames} frame{'s' if min_frames > 1 else ''}). Pad or use longer audio."
            )


def _check_no_padding(attention_mask: torch.Tensor | None) -> None:
    if attention_mask is not None and not bool(attention_mask.bool().all()):
        raise ValueError(
            "wav2vec pretraining has no padding mask: its loss scores every frame of the batch, padding "
            "included. Pass utterances of equal length (crop them, as fairseq's pretraining batches do) or "
            "one at a time. (Wav2VecModel, for features, does take a padding attention_mask.)"
        )


class Wav2VecModel(Wav2VecPreTrainedModel):
    """wav2vec / vq-wav2vec without the pretraining head: audio -> z, (q, codes), c.

    Outputs both layouts (see ``Wav2VecModelOutput``): transformers' ``last_hidden_state`` (c) and
    ``extract_features`` (z), ``(batch, frames, channels)``, plus ``hidden_states`` on request, for
    feature-extraction code written for ``Wav2Vec2Model``; and fairseq's ``context``, ``features``,
    ``quantized_features`` ``(batch, channels, frames)``. A padded batch with its ``attention_mask``
    gives each utterance its unpadded frames (module docstring).

    Example:
        >>> model = Wav2VecModel(Wav2VecConfig())
        >>> out = model(torch.randn(1, 16000), output_hidden_states=True)  # 1 s at 16 kHz
        >>> out.last_hidden_state.shape, out.context.shape  # (1, 98, 512), (1, 512, 98)
        >>> len(out.hidden_states)  # context network input + one per context layer
    """

    def __init__(self, config: Wav2VecConfig):
        super().__init__(config)
        self.feature_extractor = Wav2VecFeatureEncoder(config)
        if config.vq_type == "gumbel":
            self.quantizer = GumbelVectorQuantizer(config)
        elif config.vq_type == "kmeans":
            self.quantizer = KmeansVectorQuantizer(config)
        else:
            self.quantizer = None
        self.dropout_features = nn.Dropout(config.dropout_features)
        self.context_network = build_context_network(config, config.context_input_dim)
        self.dropout_context = nn.Dropout(config.dropout_agg)
        self.post_init()

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> Wav2VecModelOutput | tuple:
        """Encode raw audio.

        Args:
            input_values: ``(batch, samples)`` float audio at ``config.sampling_rate``, at least
                ``config.receptive_field`` samples, not normalised by the model (fairseq's loaders did
                not normalise for wav2vec / vq-wav2vec).
            attention_mask: ``(batch, samples)``, 1 on audio and 0 on right padding (the feature
                extractor's ``return_attention_mask=True``). Each utterance needs at least
                ``config.receptive_field`` samples. Without it (or with no 0) every row counts as
                unpadded and the model computes exactly as fairseq.
            output_hidden_states: also return ``hidden_states`` and every encoder and context block
                output (``encoder_hidden_states``, ``context_hidden_states``); default
                ``config.output_hidden_states``.
            return_dict: return a ``Wav2VecModelOutput`` (default) or a tuple of its non-None fields,
                in order: last_hidden_state, extract_features, (hidden_states,) context, features, ...

        Returns:
            ``Wav2VecModelOutput``; frames = ``_get_feat_extract_output_lengths(samples)``.
        """
        self._check_input(input_values, 1, "the wav2vec encoder")
        lengths = self._padding_lengths(input_values, attention_mask)
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict

        features, encoder_hidden = self.feature_extractor(input_values, output_hidden_states, lengths)
        frame_mask = None
        if lengths is not None:
            frame_mask = frame_mask_from_lengths(
                self._get_feat_extract_output_lengths(lengths), features.size(2)
            )
        quantizer_output = QuantizerOutput()
        context_input = features
        if self.quantizer is not None:
            quantizer_output = self.quantizer(features, frame_mask)
            context_input = quantizer_output.quantized
        context_input = self.dropout_features(context_input)
        context, context_hidden = self.context_network(context_input, output_hidden_states, frame_mask)
        context = self.dropout_context(context)
        hidden_states = None
        if output_hidden_states:
            hidden_states = tuple(h.transpose(1, 2).contiguous() for h in (context_input, *context_hidden))
        output = Wav2VecModelOutput(
            last_hidden_state=context.transpose(1, 2).contiguous(),
            extract_features=features.transpose(1, 2).contiguous(),
            hidden_states=hidden_states,
            context=context,
            features=features,
            quantized_features=quantizer_output.quantized,
            codevector_indices=quantizer_output.indices,
            codevector_logits=quantizer_output.logits,
            kmeans_projection=quantizer_output.projection,
            code_perplexity=quantizer_output.code_perplexity,
            prob_perplexity=quantizer_output.prob_perplexity,
            diversity_loss=quantizer_output.diversity_loss,
            kmeans_loss=quantizer_output.kmeans_loss,
            encoder_hidden_states=encoder_hidden,
            context_hidden_states=context_hidden,
        )
        return output if return_dict else output.to_tuple()

    def quantize(self, input_values: torch.Tensor) -> torch.LongTensor:
        """vq-wav2vec codes of raw audio, deterministic (argmax / nearest codeword) in any mode.

        Args:
            input_values: ``(batch, samples)`` audio, at least ``config.receptive_field`` samples.

        Returns:
            ``(batch, frames, groups)`` int64 codes in ``[0, vq_vars)``, one frame per ``total_stride`` samples.
        """
        if self.quantizer is None:
            raise ValueError(
                "this wav2vec model has no quantiser (vq_type='none'); quantize needs vq-wav2vec."
            )
        self._check_input(input_values, 1, "the wav2vec encoder")
        with torch.no_grad():
            return self.quantizer.codes(self.feature_extractor(input_values)[0])

    def set_gumbel_temperature(self, temperature: float) -> None:
        """Set the Gumbel-softmax temperature used in training mode."""
        if not isinstance(self.quantizer, GumbelVectorQuantizer):
            raise ValueError("set_gumbel_temperature needs a Gumbel quantiser (vq_type='gumbel').")
        self.quantizer.temperature = float(temperature)

    def set_gumbel_temperature_for_step(self, step: int) -> float:
        """Anneal as fairseq: temperature = max(end, start * decay ** step) from ``config.vq_temp``; returns it."""
        temperature = gumbel_temperature_at_step(*self.config.vq_temp, step)
        self.set_gumbel_temperature(temperature)
        return temperature


class Wav2VecForPreTraining(Wav2VecPreTrainedModel):
    """wav2vec / vq-wav2vec with the K-step contrastive pretraining objective.

    For step k = 0..K-1 (the paper's k + 1), the projection h_k(c_t) (B, C, T, K) is scored by dot
    product against the target y_{t + offset + k} (y = q for vq-wav2vec, z otherwise, optionally
    passed through ``project_features``) and against distractors drawn for that target frame.
    """

    def __init__(self, config: Wav2VecConfig):
        super().__init__(config)
        if config.num_negatives + config.cross_sample_negatives < 1:
            raise ValueError(
                f"{type(self).__name__}: num_negatives + cross_sample_negatives must be >= 1 for the contrastive loss."
            )
        self.wav2vec = Wav2VecModel(config)
        target_dim = config.context_input_dim
        self.target_projection = (
            build_context_network(config, target_dim) if config.project_features == "new" else None
        )
        if config.project_features != "none":
            target_dim = config.context_dim
        # One ConvTranspose2d holds all K step projections (fairseq's layout): weight (C_ctx, C_y, 1, K),
        # one bias per output channel shared by the steps.
        self.step_projection = nn.ConvTranspose2d(
            config.context_dim, target_dim, (1, config.prediction_steps)
        )
        self.step_dropout = nn.Dropout(config.dropout)
        self.post_init()

    def quantize(self, input_values: torch.Tensor) -> torch.LongTensor:
        """See ``Wav2VecModel.quantize``."""
        return self.wav2vec.quantize(input_values)

    def set_gumbel_temperature(self, temperature: float) -> None:
        """See ``Wav2VecModel.set_gumbel_temperature``."""
        self.wav2vec.set_gumbel_temperature(temperature)

    def set_gumbel_temperature_for_step(self, step: int) -> float:
        """See ``Wav2VecModel.set_gumbel_temperature_for_step``."""
        return self.wav2vec.set_gumbel_temperature_for_step(step)

    def _targets(self, encoded: Wav2VecModelOutput) -> torch.Tensor:
        targets = encoded.quantized_features if encoded.quantized_features is not None else encoded.features
        if self.config.project_features == "same":
            targets = self.wav2vec.context_network(targets)[0]
        elif self.config.project_features == "new":
            targets = self.target_projection(targets)[0]
        return targets

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        negative_indices: torch.LongTensor | None = None,
        generator: torch.Generator | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> Wav2VecForPreTrainingOutput | tuple:
        """Compute the pretraining loss.

        Args:
            input_values: ``(batch, samples)`` audio of equal lengths, at least
                ``config.min_input_length(config.min_pretraining_frames)`` samples (receptive field +
                (offset + K - 1) hops: every step needs a target).
            attention_mask: accepted only when it marks no padding.
            negative_indices: ``(batch, frames, negatives)`` distractors (see
                ``sample_negative_indices``); drawn on the input's device when None.
            generator: a ``torch.Generator`` for the distractor draw (reproducible sampling).
            output_hidden_states: also return every encoder and context block output.
            return_dict: return a ``Wav2VecForPreTrainingOutput`` (default) or a tuple.
        """
        _check_no_padding(attention_mask)
        config = self.config
        self._check_input(input_values, config.min_pretraining_frames, "wav2vec pretraining")
        return_dict = return_dict if return_dict is not None else config.return_dict
        encoded = self.wav2vec(input_values, output_hidden_states=output_hidden_states, return_dict=True)
        targets = self._targets(encoded)  # (B, C_y, T)
        batch, channels, frames = targets.shape

        if negative_indices is None:
            negative_indices = sample_negative_indices(
                batch,
                frames,
                config.num_negatives,
                config.cross_sample_negatives,
                config.sample_distance,
                device=targets.device,
                generator=generator,
            )
        elif negative_indices.shape[:2] != (batch, frames):
            raise ValueError(
                f"negative_indices has shape {tuple(negative_indices.shape)}; expected ({batch}, {frames}, N)."
            )
        num_distractors = negative_indices.shape[-1]
        flat_targets = targets.transpose(0, 1).reshape(channels, batch * frames)
        negatives = flat_targets[:, negative_indices.reshape(-1)].view(
            channels, batch, frames, num_distractors
        )
        # (1 + N, B, C, T): the positive first, then the distractors for the same target frame.
        candidates = torch.cat([targets.unsqueeze(0), negatives.permute(3, 1, 0, 2)], dim=0)

        predictions = self.step_dropout(self.step_projection(encoded.context.unsqueeze(-1)))  # (B, C, T, K)
        loss_parts = self._contrastive(predictions, candidates, num_distractors)
        contrastive_loss, per_step_loss, accuracy, logits, labels = loss_parts

        loss = contrastive_loss
        if encoded.diversity_loss is not None and config.diversity_loss_weight != 0:
            loss = loss + config.diversity_loss_weight * encoded.diversity_loss
        if encoded.kmeans_loss is not None and config.kmeans_loss_weight != 0:
            loss = loss + config.kmeans_loss_weight * encoded.kmeans_loss
        quantizer = self.wav2vec.quantizer
        temperature = quantizer.temperature if isinstance(quantizer, GumbelVectorQuantizer) else None
        output = Wav2VecForPreTrainingOutput(
            loss=loss,
            contrastive_loss=contrastive_loss,
            per_step_loss=per_step_loss,
            accuracy=accuracy,
            logits=logits,
            targets=labels,
            step_predictions=predictions,
            negative_indices=negative_indices,
            diversity_loss=encoded.diversity_loss,
            kmeans_loss=encoded.kmeans_loss,
            code_perplexity=encoded.code_perplexity,
            prob_perplexity=encoded.prob_perplexity,
            gumbel_temperature=temperature,
            context=encoded.context,
            features=encoded.features,
            quantized_features=encoded.quantized_features,
            codevector_indices=encoded.codevector_indices,
            encoder_hidden_states=encoded.encoder_hidden_states,
            context_hidden_states=encoded.context_hidden_states,
            hidden_states=encoded.hidden_states,
        )
        return output if return_dict else output.to_tuple()

    def _contrastive(self, predictions: torch.Tensor, candidates: torch.Tensor, num_distractors: int):
        """The K-step loss. ``predictions`` (B, C, T, K), ``candidates`` (1 + N, B, C, T)."""
        config = self.config
        frames = candidates.shape[-1]
        step_sums, step_counts, step_logits, step_labels, correct = [], [], [], [], 0
        for step in range(config.prediction_steps):
            shift = config.resolved_offset + step
            # scores[n, b, t] = <h_step(c_t), candidate n of target frame t + shift>
            scores = torch.einsum(
                "bct,nbct->nbt", predictions[:, :, : frames - shift, step], candidates[..., shift:]
            ).float()
            count = scores[0].numel()
            if config.infonce:
                rows = scores.permute(2, 1, 0).reshape(-1, scores.shape[0])  # (T'B, 1 + N)
                labels = torch.zeros(rows.shape[0], dtype=torch.long, device=rows.device)
                step_sum = F.cross_entropy(rows, labels, reduction="sum")
                step_logits.append(rows)
            else:
                labels = torch.zeros_like(scores)
                labels[0] = 1.0
                weights = None
                if config.balanced_classes:
                    weights = torch.full_like(scores, 1.0 / max(config.num_negatives, 1))
                    weights[0] = 1.0
                step_sum = F.binary_cross_entropy_with_logits(scores, labels, weights, reduction="sum")
                step_logits.append(scores.reshape(-1))
                labels = labels.reshape(-1)
            step_labels.append(labels)
            step_sums.append(step_sum)
            step_counts.append(count)
            with torch.no_grad():
                correct += (scores[0] > scores[1:].max(dim=0).values).sum()
        sums = torch.stack(step_sums)
        positives = sum(step_counts)
        per_step = sums / torch.tensor(step_counts, dtype=sums.dtype, device=sums.device)
        total = sums.sum() / positives
        accuracy = correct.float() / positives
        return total, per_step, accuracy, torch.cat(step_logits), torch.cat(step_labels)


class VQWav2VecModel(Wav2VecModel):
    """vq-wav2vec (``VQWav2VecConfig``): ``Wav2VecModel`` with a quantiser; see ``quantize``."""

    config_class = VQWav2VecConfig


class VQWav2VecForPreTraining(Wav2VecForPreTraining):
    """vq-wav2vec pretraining (``VQWav2VecConfig``): the wav2vec loss on quantised targets plus the
    quantiser's loss (Gumbel diversity or k-means)."""

    config_class = VQWav2VecConfig


class Wav2LetterBlock(nn.Module):
    """Conv1d (stride 1, length kept) -> activation -> dropout: ``(B, C_in, T) -> (B, C_out, T)``.

    ``"glu"`` convolves to twice the channels and gates one half with the other (wav2letter++'s
    gated convolutions). Padding is (kernel - 1) // 2 frames on the left and kernel // 2 on the
    right, with zeros, so every frame keeps its position for any kernel size.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: int, activation: str, dropout: float):
        super().__init__()
        self.padding = ((kernel - 1) // 2, kernel // 2)
        gated = activation == "glu"
        self.conv = nn.Conv1d(in_channels, out_channels * (2 if gated else 1), kernel)
        if activation == "glu":
            self.activation = nn.GLU(dim=1)
        elif activation == "prelu":
            self.activation = nn.PReLU(out_channels)
        else:
            self.activation = nn.ReLU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.activation(self.conv(F.pad(hidden, self.padding))))


class Wav2LetterAcousticModel(nn.Module):
    """The papers' downstream model: conv blocks over context vectors, then one linear CTC layer.

    ``(B, context_dim, T)`` -> logits ``(B, T, vocab_size)``. Frames past an utterance's length are
    zeroed before every block, so a padded batch gives each utterance exactly the logits it gets alone.
    """

    def __init__(self, config: Wav2VecConfig):
        super().__init__()
        blocks, in_channels = [], config.context_dim
        for channels, kernel in config.ctc_head_layers:
            blocks.append(
                Wav2LetterBlock(
                    in_channels, channels, kernel, config.ctc_head_activation, config.ctc_head_dropout
                )
            )
            in_channels = channels
        self.blocks = nn.ModuleList(blocks)
        self.output = nn.Linear(in_channels, config.vocab_size)

    def forward(self, context: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        hidden = context
        for block in self.blocks:
            if frame_mask is not None:
                hidden = hidden * frame_mask[:, None, :].to(hidden.dtype)
            hidden = block(hidden)
        return self.output(hidden.transpose(1, 2))


def ctc_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    logit_lengths: torch.Tensor,
    blank_id: int,
    reduction: str = "mean",
    zero_infinity: bool = True,
) -> torch.Tensor:
    """CTC loss of ``logits`` ``(B, T, V)`` against ``labels`` ``(B, U)``, computed in float32.

    Label entries that are negative (-100, the Trainer's padding) or equal to the blank are padding.
    ``"mean"`` divides each utterance's loss by its label length, then averages over the batch.
    """
    valid = (labels >= 0) & (labels != blank_id)
    target_lengths = valid.sum(-1)
    targets = labels.masked_select(valid)
    log_probs = F.log_softmax(logits.float(), dim=-1).transpose(0, 1)  # (T, B, V)
    with torch.backends.cudnn.flags(enabled=False):  # cuDNN's CTC has stricter input rules
        return F.ctc_loss(
            log_probs,
            targets,
            logit_lengths,
            target_lengths,
            blank=blank_id,
            reduction=reduction,
            zero_infinity=zero_infinity,
        )


class Wav2VecForCTC(Wav2VecPreTrainedModel):
    """wav2vec / vq-wav2vec with a wav2letter-style acoustic model and a CTC output layer.

    As in the papers, the pretrained network is frozen by default (``config.freeze_pretrained``): it
    runs in eval mode without gradients and only the acoustic model learns. Padding never changes an
    utterance's output: with an ``attention_mask`` that marks padding, each utterance goes through the
    pretrained network at its own length (its group norms normalise over the whole utterance) and
    the acoustic model sees zeros past its end, exactly as when it is alone.

    Example:
        >>> config = Wav2VecConfig(vocab_size=30, pad_token_id=0)
        >>> model = Wav2VecForCTC(config)
        >>> model(torch.randn(2, 16000)).logits.shape  # (2, 98, 30): 98 frames of 10 ms
    """

    # The loss is a per-batch mean: the Trainer must scale it for gradient accumulation itself.
    accepts_loss_kwargs = False

    def __init__(self, config: Wav2VecConfig):
        super().__init__(config)
        if config.vocab_size is None or config.pad_token_id is None:
            raise ValueError(
                f"{type(self).__name__} needs config.vocab_size and config.pad_token_id (the CTC blank): load it "
                "with from_pretrained(folder, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)."
            )
        self.wav2vec = Wav2VecModel(config)
        self.acoustic_model = Wav2LetterAcousticModel(config)
        self.post_init()
        if config.freeze_pretrained:
            self.freeze_pretrained()

    def freeze_pretrained(self) -> None:
        """Keep the pretrained network fixed: no gradients, eval mode (no dropout) even in training."""
        self.config.freeze_pretrained = True
        for parameter in self.wav2vec.parameters():
            parameter.requires_grad = False
        self.wav2vec.eval()

    def unfreeze_pretrained(self) -> None:
        """Fine-tune the pretrained network together with the acoustic model."""
        self.config.freeze_pretrained = False
        for parameter in self.wav2vec.parameters():
            parameter.requires_grad = True
        self.wav2vec.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.config.freeze_pretrained:
            self.wav2vec.eval()
        return self

    def _context(self, input_values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """c ``(B, C, T_max)`` with every utterance encoded at its own length, zero-padded."""
        width = input_values.shape[-1]
        if bool((lengths == width).all()):
            return self.wav2vec(input_values, return_dict=True).context
        contexts = [
            self.wav2vec(input_values[row : row + 1, : int(length)], return_dict=True).context[0]
            for row, length in enumerate(lengths.tolist())
        ]
        frames = max(context.shape[-1] for context in contexts)
        return torch.stack([F.pad(context, (0, frames - context.shape[-1])) for context in contexts])

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> Wav2VecForCTCOutput | tuple:
        """Character logits for raw audio, and the CTC loss when ``labels`` are given.

        Args:
            input_values: ``(batch, samples)`` audio at ``config.sampling_rate``, right-padded.
            attention_mask: ``(batch, samples)``, 1 on real samples and 0 on padding (from the feature
                extractor or ``AudioCollator``). Without it every row counts as unpadded.
            labels: ``(batch, label_length)`` token ids, padded with -100.
            return_dict: a ``Wav2VecForCTCOutput`` (default) or a tuple.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if input_values.dim() == 1:
            input_values = input_values[None]
        if attention_mask is None:
            lengths = torch.full(
                (input_values.shape[0],), input_values.shape[-1], dtype=torch.long, device=input_values.device
            )
        else:
            lengths = attention_mask.sum(-1).to(torch.long)
        shortest = int(lengths.min())
        self._check_input(input_values[:, :shortest], 1, "the CTC model")
        if labels is not None and int(labels.max()) >= self.config.vocab_size:
            raise ValueError(
                f"labels hold id {int(labels.max())} but the vocabulary has {self.config.vocab_size} tokens; "
                "the tokenizer does not match this model."
            )

        if self.config.freeze_pretrained:
            with torch.no_grad():
                context = self._context(input_values, lengths)
        else:
            context = self._context(input_values, lengths)
        logit_lengths = self._get_feat_extract_output_lengths(lengths)
        frames = context.shape[-1]
        frame_mask = torch.arange(frames, device=context.device)[None, :] < logit_lengths[:, None]
        context = context * frame_mask[:, None, :].to(context.dtype)
        logits = self.acoustic_model(context, frame_mask)

        loss = None
        if labels is not None:
            loss = ctc_loss(
                logits,
                labels,
                logit_lengths,
                self.config.pad_token_id,
                self.config.ctc_loss_reduction,
                self.config.ctc_zero_infinity,
            )
        output = Wav2VecForCTCOutput(loss=loss, logits=logits, logit_lengths=logit_lengths, context=context)
        return output if return_dict else output.to_tuple()


class VQWav2VecForCTC(Wav2VecForCTC):
    """vq-wav2vec (``VQWav2VecConfig``) with the acoustic model and CTC layer: the context network
    reads the quantised codes (argmax / nearest codeword, as at inference)."""

    config_class = VQWav2VecConfig


# Saved folders ship this file and its configuration as remote code (see save_pretrained).
Wav2VecConfig.register_for_auto_class()
VQWav2VecConfig.register_for_auto_class()
Wav2VecModel.register_for_auto_class("AutoModel")
VQWav2VecModel.register_for_auto_class("AutoModel")
Wav2VecForPreTraining.register_for_auto_class("AutoModelForPreTraining")
VQWav2VecForPreTraining.register_for_auto_class("AutoModelForPreTraining")
Wav2VecForCTC.register_for_auto_class("AutoModelForCTC")
VQWav2VecForCTC.register_for_auto_class("AutoModelForCTC")


__all__ = [
    "GumbelVectorQuantizer",
    "KmeansVectorQuantizer",
    "VQWav2VecForCTC",
    "VQWav2VecForPreTraining",
    "VQWav2VecModel",
    "Wav2LetterAcousticModel",
    "Wav2VecForCTC",
    "Wav2VecForCTCOutput",
    "Wav2VecForPreTraining",
    "Wav2VecForPreTrainingOutput",
    "Wav2VecModel",
    "Wav2VecModelOutput",
    "Wav2VecPreTrainedModel",
    "gumbel_temperature_at_step",
    "sample_negative_indices",
]
