"""The training recipe of a pretraining run: every setting that is not the model's config.

``PretrainingRecipe`` is the schema; each preset carries its own recipe (``wav2vec_hf.presets``:
one object per preset, model and recipe together). ``pretraining.arguments`` fills the fields a run
leaves unset from it; ``pretraining.pretraining_state`` records it with an export.
"""

from __future__ import annotations

from dataclasses import dataclass

LR_SCHEDULERS = ("polynomial", "cosine", "constant")


@dataclass(frozen=True)
class PretrainingRecipe:
    """A preset's training settings (everything that is not model config).

    Attributes:
        learning_rate: peak learning rate after warm-up.
        lr_scheduler: ``"polynomial"`` (linear decay to ``end_learning_rate``, fairseq's
            ``polynomial_decay`` with power 1), ``"cosine"`` (fairseq's cosine to ``end_learning_rate``) or
            ``"constant"`` (after warm-up).
        warmup_steps: linear warm-up updates (from ``warmup_init_lr``).
        warmup_fraction: warm-up as a fraction of ``max_steps`` (used when ``warmup_steps`` is None).
        warmup_init_lr: learning rate at update 0.
        end_learning_rate: learning rate at ``max_steps``.
        adam_betas, adam_epsilon, weight_decay: AdamW settings (decoupled weight decay on every parameter).
        max_grad_norm: gradient clipping threshold (0: no clipping; the norm is still logged).
        max_steps: the number of updates of the recipe.
        update_freq: micro-batches accumulated per update and process (fairseq ``update_freq``).
        feature_grad_mult: wav2vec 2.0 feature-encoder gradient scale (0.1 BASE, 1.0 LARGE).
        feature_penalty_weight: wav2vec 2.0 L2 penalty on the feature-encoder output (10 BASE, 0 LARGE).
        require_same_masks: wav2vec 2.0: every utterance of a micro-batch keeps the same number of masked
            frames, the fewest any has (fairseq's default; extra masked frames are unmasked at random).
        gumbel_temperature: ``(start, end, decay)``: ``max(end, start * decay ** update)``; None takes the
            model config's (wav2vec / vq-wav2vec ``vq_temp``) or (2, 0.5, 0.999995).
        gumbel_floor_fraction: if set, the decay is recomputed so that the temperature reaches ``end`` at
            this fraction of ``max_steps`` (short runs: the paper's decay needs ~277k updates).
        crop_samples: longest input (random crop; fairseq ``max_sample_size``); None: no crop.
        min_samples: shortest input kept (fairseq ``min_sample_size``); never below the model's minimum.
        max_batch_samples: bound on ``batch x padded length`` per micro-batch (fairseq ``max_tokens``);
            for units-bert: unit tokens.
        max_batch_size: cap on utterances per micro-batch.
        crop_to_shortest: crop each batch to its shortest utterance (fairseq: no padding in pretraining).
        segment_seconds: if set, utterances are concatenated and cut into segments of this length.
        normalize: per-utterance zero mean / unit variance (LARGE / LV-60 recipes).
        unit_mask_length, unit_mask_start_prob: units-bert span masking (10 tokens, start prob 0.05).
        max_units_per_sample: units-bert: longest token sequence (longer ones are split).
        source: where the numbers come from.
    """

    learning_rate: float = 5e-4
    lr_scheduler: str = "polynomial"
    warmup_steps: int | None = None
    warmup_fraction: float = 0.08
    warmup_init_lr: float = 0.0
    end_learning_rate: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.98)
    adam_epsilon: float = 1e-6
    weight_decay: float = 0.01
    max_grad_norm: float = 0.0
    max_steps: int = 400_000
    update_freq: int = 1
    feature_grad_mult: float = 0.1
    feature_penalty_weight: float = 10.0
    require_same_masks: bool = False
    gumbel_temperature: tuple[float, float, float] | None = (2.0, 0.5, 0.999995)
    gumbel_floor_fraction: float | None = None
    crop_samples: int | None = 250_000
    min_samples: int | None = 32_000
    max_batch_samples: int = 1_400_000
    max_batch_size: int | None = None
    crop_to_shortest: bool = True
    segment_seconds: float | None = None
    normalize: bool = False
    unit_mask_length: int = 10
    unit_mask_start_prob: float = 0.05
    max_units_per_sample: int = 512
    source: str = ""


# Shared settings of the wav2vec / vq-wav2vec (2019) recipes: the paper's cosine schedule and Adam.
WAV2VEC1_RECIPE = {
    "lr_scheduler": "cosine",
    "gumbel_temperature": None,  # the model config's vq_temp
    "warmup_init_lr": 1e-7,
    "end_learning_rate": 1e-6,
    "adam_betas": (0.9, 0.999),
    "adam_epsilon": 1e-8,
    "weight_decay": 0.0,
    "feature_grad_mult": 1.0,
    "feature_penalty_weight": 0.0,
    "crop_samples": 150_000,
    "min_samples": None,
    "max_batch_samples": 1_500_000,
}
WAV2VEC1_TINY_RECIPE = {
    **WAV2VEC1_RECIPE,
    "learning_rate": 5e-3,
    "warmup_steps": None,
    "warmup_fraction": 0.1,
    "end_learning_rate": 1e-4,
    "max_grad_norm": 10.0,
    "max_steps": 150,
    "crop_samples": 32_000,
    "max_batch_samples": 8 * 32_000,
    "gumbel_floor_fraction": 0.7,
    "source": "chosen for CPU smoke runs (tests)",
}
WAV2VEC1_SMALL_CPU_RECIPE = {
    **WAV2VEC1_TINY_RECIPE,
    "learning_rate": 2e-3,
    "max_steps": 300,
    "source": "measured on a 2-core CPU (docs/pretraining.md)",
}


__all__ = [
    "LR_SCHEDULERS",
    "WAV2VEC1_RECIPE",
    "WAV2VEC1_SMALL_CPU_RECIPE",
    "WAV2VEC1_TINY_RECIPE",
    "PretrainingRecipe",
]
