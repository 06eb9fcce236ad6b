"""The wav2vec 2.0 paper's fine-tuning recipes: fairseq's ten LibriSpeech / Libri-light CTC configs as one table.

Each ``PaperRecipe`` carries one ``examples/wav2vec/config/finetuning/<name>.yaml`` of fairseq
(``base_*``: the BASE model pretrained on LibriSpeech 960 h; ``vox_*``: LARGE pretrained on
Libri-Light LV-60k), in fairseq's own names, with the ``Wav2Vec2AsrConfig`` defaults those files
rely on (dropout / attention dropout / input dropout 0, activation dropout 0.1, time-mask span 10,
at least 2 time spans per utterance). ``PaperRecipe.arguments`` turns a recipe into the values of
``wav2vec-hf finetune`` options, under transformers' names:

    fairseq                              ``wav2vec-hf finetune``
    mask_prob, mask_length               mask_time_prob, mask_time_length
    mask_channel_prob, _length           mask_feature_prob, mask_feature_length
    layerdrop                            layerdrop
    dropout, attention_dropout           hidden_dropout, attention_dropout
    activation_dropout                   activation_dropout
    dropout_input, final_dropout         feat_proj_dropout, final_dropout
    feature_grad_mult 0.0                freeze_feature_encoder true
    freeze_finetune_updates              freeze_finetune_updates (with schedule fairseq)
    lr, max_update                       learning_rate, max_steps
    adam_betas, adam_eps                 adam_beta1, adam_beta2, adam_epsilon
    clip_norm 0                          max_grad_norm 0 (no clipping)
    phase_ratio, init/final_lr_scale     tri_stage_ratios, tri_stage_init_scale, tri_stage_final_scale
    sentence_avg (CTC summed)            ctc_loss_reduction sentence
    labels ltr                           trailing_word_delimiter true
    max_tokens x GPUs x update_freq      batch_seconds, num_devices -> gradient_accumulation_steps
    best_checkpoint_metric wer           metric_for_best_model wer, greater_is_better false

Not carried over: fp16 (mixed precision is the user's ``--fp16`` / ``--bf16``, it depends on the
card), fairseq's sample-bounded batches (our batches hold a fixed number of utterances; see
``BatchPlan``), and ``validate_after_updates`` / ``valid_subset`` (recorded; evaluation follows
``--eval_steps`` on the ``--eval`` data).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from wav2vec_hf.errors import Wav2VecHFError

FAIRSEQ_SAMPLE_RATE = 16_000  # fairseq's max_tokens counts raw 16 kHz samples
FAIRSEQ_CONFIG_DIR = "examples/wav2vec/config/finetuning"
SENTENCE_REDUCTION = "sentence"  # fairseq's sentence_avg: CTC summed over utterances / number of utterances
FAIRSEQ_SCHEDULE = "fairseq"
HEAD_FIRST_SCHEDULE = "head_first"


class RecipeError(Wav2VecHFError, ValueError):
    """A user error in choosing or overriding a recipe (the message is one line naming the fix)."""


@dataclass(frozen=True)
class PaperRecipe:
    """One fairseq fine-tuning config, in fairseq's names (values from the yaml; the rest its defaults).

    Attributes:
        name: the yaml's stem (``base_10m`` ... ``vox_960h``).
        model: the pretrained model the config was written for.
        labelled: the labelled split (Libri-light 10 min / 1 h / 10 h, LibriSpeech 100 h / 960 h).
        lr: peak learning rate of the tri-stage schedule.
        max_update: updates of the whole run.
        freeze_finetune_updates: updates during which the Transformer gets no gradient (the new CTC
            layer trains, on the same schedule).
        mask_prob: share of frames masked (span starts = mask_prob * frames / mask_length).
        mask_channel_prob, mask_channel_length: channel masking.
        layerdrop: probability of skipping a Transformer layer.
        max_tokens: raw 16 kHz samples per GPU batch.
        distributed_world_size, update_freq: GPUs and gradient-accumulation steps.
        normalize: inputs normalised to zero mean / unit variance (LARGE LV-60k models).
        validate_after_updates: no validation (hence no best checkpoint) before this update.
        Other attributes: the same in all ten configs (see the module docstring).
    """

    name: str
    model: str
    labelled: str
    lr: float
    max_update: int
    freeze_finetune_updates: int
    mask_prob: float
    mask_channel_prob: float
    layerdrop: float
    max_tokens: int
    distributed_world_size: int
    update_freq: int
    normalize: bool
    validate_after_updates: int
    mask_length: int = 10
    mask_min_masks: int = 2  # fairseq's wav2vec2 draws at least 2 time spans per utterance
    mask_channel_length: int = 64
    dropout: float = 0.0
    attention_dropout: float = 0.0
    activation_dropout: float = 0.1
    dropout_input: float = 0.0
    final_dropout: float = 0.0
    feature_grad_mult: float = 0.0
    adam_betas: tuple[float, float] = (0.9, 0.98)
    adam_eps: float = 1e-8
    weight_decay: float = 0.0
    clip_norm: float = 0.0
    phase_ratio: tuple[float, float, float] = (0.1, 0.4, 0.5)
    init_lr_scale: float = 0.01
    final_lr_scale: float = 0.05
    sentence_avg: bool = True
    zero_infinity: bool = True
    labels: str = "ltr"
    best_checkpoint_metric: str = "wer"
    valid_subset: str = "dev_other"
    fp16: bool = True

    @property
    def source(self) -> str:
        """Where the values come from (fairseq repository path)."""
        return f"facebookresearch/fairseq {FAIRSEQ_CONFIG_DIR}/{self.name}.yaml"

    @property
    def gpu_batch_seconds(self) -> float:
        """Seconds of audio in one GPU batch of fairseq (``max_tokens`` / 16 kHz)."""
        return self.max_tokens / FAIRSEQ_SAMPLE_RATE

    @property
    def update_seconds(self) -> float:
        """Seconds of audio per update: ``max_tokens x distributed_world_size x update_freq`` / 16 kHz."""
        return self.gpu_batch_seconds * self.distributed_world_size * self.update_freq

    def batch_plan(self, batch_seconds: float | None = None, num_devices: int = 1) -> BatchPlan:
        """The plan that puts ``update_seconds`` of audio into each update on ``num_devices`` devices.

        Args:
            batch_seconds: audio one device holds per forward pass (default: fairseq's GPU batch,
                ``max_tokens`` / 16 kHz: 200 s for BASE, 80 s for LARGE, sized for 32 GB V100s).
            num_devices: data-parallel processes of the run.
        """
        return BatchPlan.for_update(
            self.update_seconds,
            batch_seconds=self.gpu_batch_seconds if batch_seconds is None else batch_seconds,
            num_devices=num_devices,
        )

    def arguments(self) -> dict[str, Any]:
        """The ``wav2vec-hf finetune`` option values of this recipe (batch options excluded: ``batch_plan``)."""
        return {
            "mask_time_prob": self.mask_prob,
            "mask_time_length": self.mask_length,
            "mask_time_min_masks": self.mask_min_masks,
            "mask_feature_prob": self.mask_channel_prob,
            "mask_feature_length": self.mask_channel_length,
            "layerdrop": self.layerdrop,
            "hidden_dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "activation_dropout": self.activation_dropout,
            "feat_proj_dropout": self.dropout_input,
            "final_dropout": self.final_dropout,
            "freeze_feature_encoder": self.feature_grad_mult == 0.0,
            "ctc_loss_reduction": SENTENCE_REDUCTION if self.sentence_avg else "sum",
            "ctc_zero_infinity": self.zero_infinity,
            "trailing_word_delimiter": self.labels == "ltr",
            "schedule": FAIRSEQ_SCHEDULE,
            "freeze_finetune_updates": self.freeze_finetune_updates,
            "tri_stage_ratios": ",".join(f"{ratio:g}" for ratio in self.phase_ratio),
            "tri_stage_init_scale": self.init_lr_scale,
            "tri_stage_final_scale": self.final_lr_scale,
            "learning_rate": self.lr,
            "max_steps": self.max_update,
            "adam_beta1": self.adam_betas[0],
            "adam_beta2": self.adam_betas[1],
            "adam_epsilon": self.adam_eps,
            "weight_decay": self.weight_decay,
            "max_grad_norm": self.clip_norm,
            "metric_for_best_model": self.best_checkpoint_metric,
            "greater_is_better": False,  # an error rate
        }

    def fairseq_facts(self) -> dict[str, Any]:
        """What the config says that is not an option here (for the printed and recorded recipe)."""
        return {
            "source": self.source,
            "model": self.model,
            "labelled": self.labelled,
            "max_tokens": self.max_tokens,
            "distributed_world_size": self.distributed_world_size,
            "update_freq": self.update_freq,
            "normalize": self.normalize,
            "fp16": self.fp16,
            "valid_subset": self.valid_subset,
            "validate_after_updates": self.validate_after_updates,
        }


@dataclass(frozen=True)
class BatchPlan:
    """How one update gets a recipe's seconds of audio on the user's hardware.

    Our batches hold a fixed number of utterances (fairseq's hold up to ``max_tokens`` samples), so
    the per-device utterance count is ``update_seconds / (num_devices x accumulation x mean utterance
    seconds)``, fixed once the training data is read (``per_device_utterances``). Length-grouped
    batches of the longest utterances then hold more than ``batch_seconds``: lower
    ``--batch_seconds`` if those run out of memory.

    Attributes:
        update_seconds: audio per update the recipe asks for.
        batch_seconds: audio one device holds per forward pass.
        num_devices: data-parallel processes.
        gradient_accumulation_steps: forward passes per update and device.
    """

    update_seconds: float
    batch_seconds: float
    num_devices: int
    gradient_accumulation_steps: int

    @classmethod
    def for_update(cls, update_seconds: float, *, batch_seconds: float, num_devices: int) -> BatchPlan:
        """The fewest accumulation steps with which ``num_devices`` batches of ``batch_seconds`` hold ``update_seconds``."""
        if batch_seconds <= 0:
            raise RecipeError(
                f"--batch_seconds {batch_seconds:g}: give the seconds of audio one device holds (> 0)"
            )
        if num_devices < 1:
            raise RecipeError(f"--num_devices {num_devices}: give the number of training processes (>= 1)")
        steps = max(1, math.ceil(update_seconds / (batch_seconds * num_devices) - 1e-9))
        return cls(float(update_seconds), float(batch_seconds), int(num_devices), steps)

    @property
    def device_batch_seconds(self) -> float:
        """Audio per device and forward pass that makes each update hold exactly ``update_seconds``."""
        return self.update_seconds / (self.num_devices * self.gradient_accumulation_steps)

    def per_device_utterances(self, mean_utterance_seconds: float) -> int:
        """Utterances per device batch for training data of this mean length (at least 1)."""
        return max(1, round(self.device_batch_seconds / mean_utterance_seconds))

    def describe(self) -> str:
        """One line: the update's audio and how it is split."""
        return (
            f"{self.update_seconds:g} s of audio per update = {self.num_devices} device(s) x "
            f"{self.device_batch_seconds:g} s x {self.gradient_accumulation_steps} accumulation step(s)"
        )


_BASE = {"max_tokens": 3_200_000, "distributed_world_size": 2, "update_freq": 4, "normalize": False}
_VOX = {"max_tokens": 1_280_000, "distributed_world_size": 4, "update_freq": 5, "normalize": True}
_BASE_MODEL = "wav2vec 2.0 BASE pretrained on LibriSpeech 960 h"
_VOX_MODEL = "wav2vec 2.0 LARGE pretrained on Libri-Light LV-60k"
_TEN_MIN, _ONE_H, _TEN_H = "10 min (Libri-light)", "1 h (Libri-light)", "10 h (Libri-light)"
_HUNDRED_H, _ALL = "100 h (LibriSpeech train-clean-100)", "960 h (all of LibriSpeech)"

# fairseq examples/wav2vec/config/finetuning/*.yaml: the values that differ between the ten files.
RECIPES: dict[str, PaperRecipe] = {
    recipe.name: recipe
    for recipe in (
        PaperRecipe("base_10m", _BASE_MODEL, _TEN_MIN, lr=5e-5, max_update=13_000, freeze_finetune_updates=10_000,
                    mask_prob=0.65, mask_channel_prob=0.25, layerdrop=0.1, validate_after_updates=10_000, **_BASE),
        PaperRecipe("base_1h", _BASE_MODEL, _ONE_H, lr=5e-5, max_update=13_000, freeze_finetune_updates=10_000,
                    mask_prob=0.65, mask_channel_prob=0.25, layerdrop=0.1, validate_after_updates=10_000, **_BASE),
        PaperRecipe("base_10h", _BASE_MODEL, _TEN_H, lr=5e-5, max_update=20_000, freeze_finetune_updates=10_000,
                    mask_prob=0.65, mask_channel_prob=0.5, layerdrop=0.05, validate_after_updates=10_000, **_BASE),
        PaperRecipe("base_100h", _BASE_MODEL, _HUNDRED_H, lr=3e-5, max_update=80_000, freeze_finetune_updates=0,
                    mask_prob=0.65, mask_channel_prob=0.5, layerdrop=0.1, validate_after_updates=0, **_BASE),
        PaperRecipe("base_960h", _BASE_MODEL, _ALL, lr=1e-4, max_update=320_000, freeze_finetune_updates=0,
                    mask_prob=0.5, mask_channel_prob=0.1, layerdrop=0.1, validate_after_updates=0,
                    **{**_BASE, "distributed_world_size": 8, "update_freq": 1}),
        PaperRecipe("vox_10m", _VOX_MODEL, _TEN_MIN, lr=1e-4, max_update=13_000, freeze_finetune_updates=10_000,
                    mask_prob=0.65, mask_channel_prob=0.25, layerdrop=0.1, validate_after_updates=10_000, **_VOX),
        PaperRecipe("vox_1h", _VOX_MODEL, _ONE_H, lr=3e-4, max_update=13_000, freeze_finetune_updates=10_000,
                    mask_prob=0.75, mask_channel_prob=0.25, layerdrop=0.1, validate_after_updates=10_000, **_VOX),
        PaperRecipe("vox_10h", _VOX_MODEL, _TEN_H, lr=1e-4, max_update=20_000, freeze_finetune_updates=10_000,
                    mask_prob=0.75, mask_channel_prob=0.25, layerdrop=0.1, validate_after_updates=10_000, **_VOX),
        PaperRecipe("vox_100h", _VOX_MODEL, _HUNDRED_H, lr=3e-5, max_update=80_000, freeze_finetune_updates=10_000,
                    mask_prob=0.5, mask_channel_prob=0.5, layerdrop=0.1, validate_after_updates=0, **_VOX),
        PaperRecipe("vox_960h", _VOX_MODEL, _ALL, lr=3e-5, max_update=320_000, freeze_finetune_updates=10_000,
                    mask_prob=0.5, mask_channel_prob=0.25, layerdrop=0.1, validate_after_updates=0,
                    **{**_VOX, "distributed_world_size": 24, "update_freq": 1}),
    )
}  # fmt: skip


def recipe_names() -> list[str]:
    """The recipe names, in table order."""
    return list(RECIPES)


def get_recipe(name: str) -> PaperRecipe:
    """The recipe called ``name``.

    Raises:
        RecipeError: an unknown name (the message lists the valid ones).
    """
    try:
        return RECIPES[name]
    except KeyError:
        raise RecipeError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}") from None


__all__ = [
    "FAIRSEQ_SCHEDULE",
    "HEAD_FIRST_SCHEDULE",
    "RECIPES",
    "SENTENCE_REDUCTION",
    "BatchPlan",
    "PaperRecipe",
    "RecipeError",
    "get_recipe",
    "recipe_names",
]
