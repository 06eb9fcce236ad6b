"""The wav2vec 2.0 pretraining objective on a stock ``transformers.Wav2Vec2ForPreTraining``.

The model stays a stock transformers model (its checkpoints load in plain transformers); this
module runs its sub-modules in the order of the paper and computes the loss without host
synchronisation, so the whole step can be compiled:

- span mask and negatives are sampled on the device (``masking.py``);
- masked frames are replaced with ``torch.where`` instead of boolean indexing;
- the quantiser keeps the integer code of each frame, so "a negative equals the positive" is an
  exact integer comparison instead of a (T, K, D) float comparison;
- contrastive logits come from one (T x T) cosine-similarity matrix per utterance, gathered at the
  negatives, instead of materialising (K + 1) copies of the targets.

Loss (per masked frame, as fairseq reports it before its log(2) division):
``L = L_contrastive + diversity_weight * L_diversity + feature_penalty_weight * mean(features^2)``,
with ``L_diversity = (G*V - prob_perplexity) / (G*V)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import Wav2Vec2ForPreTraining
from transformers.utils import ModelOutput

from wav2vec_hf.pretraining.feature_encoder import feature_encoder_time_major
from wav2vec_hf.pretraining.masking import compute_span_mask, sample_negatives
from wav2vec_hf.pretraining.positional_conv import positional_conv_time_major


@dataclass
class Wav2Vec2PretrainingOutput(ModelOutput):
    """One step's loss and its parts (scalars are 0-dim tensors on the device).

    loss: the total to back-propagate, per masked frame.
    contrastive_loss, diversity_loss, feature_penalty: its parts (unweighted).
    accuracy: fraction of masked frames whose positive has the top logit.
    code_perplexity: perplexity of the hard codes over masked frames (summed over groups).
    prob_perplexity: perplexity of the averaged soft code distribution (summed over groups).
    num_masked: number of masked frames in the batch.
    context_similarity: mean cosine similarity between the predictions of two different frames of the
        same utterance; near 1 when the Transformer gives every frame the same output (a collapsed
        context network: the contrastive task is then at chance whatever the targets).
    mask: (batch, frames) bool, the time mask used.
    """

    loss: torch.Tensor | None = None
    contrastive_loss: torch.Tensor | None = None
    diversity_loss: torch.Tensor | None = None
    feature_penalty: torch.Tensor | None = None
    accuracy: torch.Tensor | None = None
    code_perplexity: torch.Tensor | None = None
    prob_perplexity: torch.Tensor | None = None
    num_masked: torch.Tensor | None = None
    context_similarity: torch.Tensor | None = None
    mask: torch.Tensor | None = None


class GradientScale(torch.autograd.Function):
    """Identity forward; multiplies the gradient by ``scale`` (fairseq's feature_grad_mult)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.scale, None


class Wav2Vec2PretrainingObjective(nn.Module):
    """Wraps a stock ``Wav2Vec2ForPreTraining`` and computes the paper's loss in one forward.

    Args:
        model: the stock model (its config supplies mask_time_prob/length, num_negatives,
            contrastive_logits_temperature, diversity_loss_weight, layerdrop).
        feature_grad_mult: gradient scale on the feature encoder (0.1 for BASE, 1.0 for LARGE).
        feature_penalty_weight: weight of the L2 penalty on the feature encoder output (fairseq: 10).
        min_masks: the fewest masked spans per utterance.
        require_same_masks: every utterance of a batch keeps the same number of masked frames, the
            batch's fewest (fairseq's rule; applies to sampled masks, not to a given ``mask_time_indices``).
        gradient_checkpointing: recompute each Transformer layer in the backward pass.
    """

    def __init__(
        self,
        model: Wav2Vec2ForPreTraining,
        *,
        feature_grad_mult: float = 0.1,
        feature_penalty_weight: float = 10.0,
        min_masks: int = 2,
        require_same_masks: bool = False,
        gradient_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.model = model
        self.feature_grad_mult = feature_grad_mult
        self.feature_penalty_weight = feature_penalty_weight
        self.min_masks = min_masks
        self.require_same_masks = require_same_masks
        self.gradient_checkpointing = gradient_checkpointing
        # A tensor, not a Python float: a changing float would recompile a compiled step every update.
        self.register_buffer(
            "gumbel_temperature", torch.tensor(float(model.quantizer.temperature)), persistent=False
        )

    @property
    def config(self):
        """The stock model's ``Wav2Vec2Config``."""
        return self.model.config

    def set_gumbel_temperature(self, temperature: float) -> None:
        """Set the quantiser's Gumbel-softmax temperature (annealed per update by the loop)."""
        self.model.set_gumbel_temperature(temperature)
        self.gumbel_temperature.fill_(temperature)

    def frame_lengths(self, input_values: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """(batch,) int64 number of valid frames per utterance, computed on the device."""
        num_samples = input_values.shape[1]
        if attention_mask is None:
            lengths = torch.full((input_values.shape[0],), num_samples, device=input_values.device)
        else:
            lengths = attention_mask.sum(dim=-1)
        return self.model._get_feat_extract_output_lengths(lengths).to(torch.int64)

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        mask_time_indices: torch.Tensor | None = None,
        negatives: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> Wav2Vec2PretrainingOutput:
        """Run one pretraining forward pass.

        Args:
            input_values: (batch, samples) float waveforms at 16 kHz.
            attention_mask: (batch, samples) 1 for real samples, 0 for padding; None when the batch
                has no padding (pretraining batches are cropped to equal length, as in fairseq).
            mask_time_indices: (batch, frames) bool, a fixed time mask (sampled when None).
            negatives: fixed ``(indices, valid)`` as returned by ``sample_negatives`` (sampled when None).
        """
        config = self.config
        wav2vec2 = self.model.wav2vec2
        # Time-major GEMMs over the stock conv weights (feature_encoder.py): faster than cuDNN's
        # path for these shapes and free of the stock forward's requires_grad flip (a graph break).
        features = feature_encoder_time_major(wav2vec2.feature_extractor, input_values)  # (B, T, C)
        if self.feature_grad_mult != 1.0 and self.training:
            features = GradientScale.apply(features, self.feature_grad_mult)
        feature_penalty = features.float().pow(2).mean()
        num_frames = features.shape[1]

        frame_lengths = self.frame_lengths(input_values, attention_mask)
        valid_frames = torch.arange(num_frames, device=features.device)[None, :] < frame_lengths[:, None]
        if mask_time_indices is None:
            mask_time_indices = compute_span_mask(
                frame_lengths,
                num_frames,
                config.mask_time_prob,
                config.mask_time_length,
                min_masks=self.min_masks,
                require_same_masks=self.require_same_masks,
            )
        mask = mask_time_indices & valid_frames

        hidden, normed_features = wav2vec2.feature_projection(features)  # (B, T, D), (B, T, C)
        embedding = wav2vec2.masked_spec_embed.to(hidden.dtype)
        hidden = torch.where(mask[:, :, None], embedding, hidden)
        hidden = self._encode(hidden, valid_frames if attention_mask is not None else None)

        predictions = self.model.project_hid(hidden)  # (B, T, F)
        quantized, codes, soft_probs, hard_probs = self._quantize(
            self.model.dropout_features(normed_features)
        )
        targets = self.model.project_q(quantized.to(self.model.project_q.weight.dtype))  # (B, T, F)

        if negatives is None:
            negatives = sample_negatives(mask, config.num_negatives)
        negatives, negatives_valid = negatives
        logits = self._contrastive_logits(predictions, targets, codes, negatives, negatives_valid)

        mask_f = mask.to(torch.float32)
        num_masked = mask_f.sum()
        denominator = num_masked.clamp(min=1.0)
        log_probs = torch.log_softmax(logits, dim=-1)[..., 0]  # (B, T)
        contrastive = -(log_probs * mask_f).sum() / denominator

        weights = mask_f.reshape(-1, 1, 1)
        prob_perplexity = _perplexity((soft_probs * weights).sum(0) / denominator)
        code_perplexity = _perplexity((hard_probs.detach() * weights).sum(0) / denominator)
        num_vars = config.num_codevector_groups * config.num_codevectors_per_group
        diversity = (num_vars - prob_perplexity) / num_vars

        loss = contrastive + config.diversity_loss_weight * diversity
        loss = loss + self.feature_penalty_weight * feature_penalty
        top = logits.argmax(dim=-1) == 0
        tie = logits.argmin(dim=-1) == 0  # all logits equal: not counted as correct
        accuracy = ((top & ~tie).to(torch.float32) * mask_f).sum() / denominator
        return Wav2Vec2PretrainingOutput(
            loss=loss,
            contrastive_loss=contrastive.detach(),
            diversity_loss=diversity.detach(),
            feature_penalty=feature_penalty.detach(),
            accuracy=accuracy.detach(),
            code_perplexity=code_perplexity.detach(),
            prob_perplexity=prob_perplexity.detach(),
            num_masked=num_masked.detach(),
            context_similarity=_mean_pairwise_cosine(predictions.detach(), valid_frames),
            mask=mask,
        )

    def _encode(self, hidden: torch.Tensor, valid_frames: torch.Tensor | None) -> torch.Tensor:
        """Run the stock encoder's modules with a sync-free LayerDrop.

        hidden: (B, T, D) -> (B, T, D).
        """
        encoder = self.model.wav2vec2.encoder
        attention_mask = None
        if valid_frames is not None:
            hidden = hidden * valid_frames[:, :, None].to(hidden.dtype)
            # (B, 1, 1, T) additive key mask, the layout every attention implementation accepts.
            attention_mask = torch.zeros(valid_frames.shape, dtype=hidden.dtype, device=hidden.device)
            attention_mask = attention_mask.masked_fill(~valid_frames, torch.finfo(hidden.dtype).min)
            attention_mask = attention_mask[:, None, None, :]
        hidden = hidden + positional_conv_time_major(encoder.pos_conv_embed, hidden)
        stable = self.config.do_stable_layer_norm
        if not stable:
            hidden = encoder.layer_norm(hidden)
        hidden = encoder.dropout(hidden)
        layerdrop = self.config.layerdrop if self.training else 0.0
        # LayerDrop as a gate: a dropped layer is computed but its output discarded. The graph is the
        # same every step (compiles once) and every parameter takes part in the backward pass, so
        # DDP needs no find_unused_parameters; it costs the dropped layers' compute (5% for BASE).
        keep = torch.rand(len(encoder.layers), device=hidden.device) >= layerdrop if layerdrop > 0 else None
        for index, layer in enumerate(encoder.layers):
            if self.gradient_checkpointing and self.training:
                output = torch.utils.checkpoint.checkpoint(layer, hidden, attention_mask, use_reentrant=False)
            else:
                output = layer(hidden, attention_mask=attention_mask)
            hidden = output if keep is None else torch.where(keep[index], output, hidden)
        if stable:
            hidden = encoder.layer_norm(hidden)
        return hidden

    def _quantize(self, features: torch.Tensor):
        """Gumbel product quantisation with the stock quantiser's parameters.

        features: (B, T, C) layer-normed conv features.

        Returns:
            quantized (B, T, G*d), codes (B, T) int64 (one integer per combination of group codes),
            soft_probs (B*T, G, V) softmax without noise (for the diversity loss), hard_probs
            (B*T, G, V) one-hot of the chosen codes.
        """
        quantizer = self.model.quantizer
        groups, num_vars = quantizer.num_groups, quantizer.num_vars
        batch, num_frames, _ = features.shape
        logits = quantizer.weight_proj(features).float().view(batch * num_frames, groups, num_vars)
        soft_probs = torch.softmax(logits, dim=-1)
        if self.training:
            gumbel = -torch.empty_like(logits).exponential_().log()
            noisy = torch.softmax((logits + gumbel) / self.gumbel_temperature, dim=-1)
            index = noisy.argmax(dim=-1)  # (B*T, G)
            hard = F.one_hot(index, num_vars).to(noisy.dtype)
            one_hot = hard - noisy.detach() + noisy  # straight-through estimator
        else:
            index = logits.argmax(dim=-1)
            hard = F.one_hot(index, num_vars).to(logits.dtype)
            one_hot = hard
        codebook = quantizer.codevectors.view(groups, num_vars, -1)  # (G, V, d)
        quantized = torch.einsum("ngv,gvd->ngd", one_hot.to(codebook.dtype), codebook)
        quantized = quantized.reshape(batch, num_frames, -1)
        radix = num_vars ** torch.arange(groups - 1, -1, -1, device=index.device)
        codes = (index * radix).sum(-1).view(batch, num_frames)
        return quantized, codes, soft_probs, hard

    def _contrastive_logits(
        self,
        predictions: torch.Tensor,
        targets: torch.Tensor,
        codes: torch.Tensor,
        negatives: torch.Tensor,
        negatives_valid: torch.Tensor,
    ) -> torch.Tensor:
        """Cosine logits / kappa of the positive (index 0) and K distractors.

        predictions, targets: (B, T, F); codes: (B, T); negatives: (B, T, K) flat frame indices;
        negatives_valid: (B, T, K) bool. Returns (B, T, K + 1) float32; a distractor whose code equals
        the positive's (or that does not exist) gets -inf.
        """
        batch, num_frames, _ = predictions.shape
        kappa = self.config.contrastive_logits_temperature
        pred = F.normalize(predictions.float(), dim=-1, eps=1e-8)
        targ = F.normalize(targets.float(), dim=-1, eps=1e-8)
        positive = (pred * targ).sum(-1, keepdim=True)  # (B, T, 1)
        similarity = torch.bmm(pred, targ.transpose(1, 2))  # (B, T, T): prediction t vs target u
        negative_times = (
            negatives - (torch.arange(batch, device=negatives.device) * num_frames)[:, None, None]
        )
        negative = torch.gather(similarity, 2, negative_times)  # (B, T, K)
        negative_codes = torch.gather(codes, 1, negative_times.reshape(batch, -1)).view_as(negative_times)
        same = negative_codes == codes[:, :, None]
        negative = negative.masked_fill(same | ~negatives_valid, float("-inf"))
        return torch.cat([positive, negative], dim=-1) / kappa


def _mean_pairwise_cosine(vectors: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean cosine similarity of two different valid frames of an utterance, averaged over utterances.

    vectors: (B, T, F); valid: (B, T) bool. O(B T F): for unit vectors ``|sum_t v_t|^2`` is
    ``n + sum_{t != u} cos(v_t, v_u)`` with n valid frames, so no (T x T) matrix is needed.
    """
    unit = F.normalize(vectors.float(), dim=-1, eps=1e-8) * valid[:, :, None]
    count = valid.sum(dim=1).to(torch.float32)  # (B,)
    pairs = (count * (count - 1)).clamp(min=1.0)
    per_utterance = (unit.sum(dim=1).pow(2).sum(dim=-1) - count) / pairs
    return per_utterance.mean()


def _perplexity(marginal: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of each group's distribution, summed over groups. marginal: (G, V)."""
    return torch.exp(-torch.xlogy(marginal, marginal).sum(-1)).sum()


def gumbel_temperature(step: int, start: float, end: float, decay: float) -> float:
    """fairseq's per-update schedule: ``max(end, start * decay ** step)``."""
    return max(end, start * decay**step)
