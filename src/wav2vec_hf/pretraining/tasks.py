"""What the loop needs to know about each model type: build, one step, schedules, export.

A task turns the run's arguments into the module the loop trains and tells the loop how to run it:

* ``build_module()``: the ``nn.Module`` to prepare (its forward takes a batch's tensors);
* ``step(module, batch)``: one forward pass -> ``StepOutput`` (the loss to back-propagate and
  detached 0-dim metrics), on the device, without host synchronisation;
* ``set_update(module, update)``: per-update schedules the model owns (Gumbel temperature);
* ``export(module, directory)``: ``save_pretrained`` of the model and its feature extractor;
* ``health_spec()``: the levels the health monitor compares against (chance accuracy, codebook size).

``Wav2Vec2Task`` trains a stock ``Wav2Vec2ForPreTraining`` through ``Wav2Vec2PretrainingObjective``;
``Wav2VecTask`` trains our ``Wav2VecForPreTraining`` / ``VQWav2VecForPreTraining``, which compute their
own loss. ``units_bert.UnitsBertTask`` trains a stock ``BertForMaskedLM`` over vq-wav2vec units.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import PretrainedConfig, Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForPreTraining

from wav2vec_hf.models.wav2vec import (
    VQWav2VecConfig,
    VQWav2VecForPreTraining,
    Wav2VecConfig,
    Wav2VecForPreTraining,
)
from wav2vec_hf.presets import get_preset
from wav2vec_hf.pretraining.arguments import PretrainingConfig, parse_config_overrides
from wav2vec_hf.pretraining.wav2vec2_objective import Wav2Vec2PretrainingObjective

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000


@dataclass
class StepOutput:
    """One micro-batch: ``loss`` (0-dim, with grad), ``metrics`` (name -> detached 0-dim tensor) and
    ``weight`` (0-dim: how many predictions the metrics average over, for weighted means across
    micro-batches, processes and validation batches)."""

    loss: torch.Tensor
    metrics: dict[str, torch.Tensor]
    weight: torch.Tensor | None = None


@dataclass(frozen=True)
class HealthSpec:
    """Reference levels of a model's metrics.

    Attributes:
        chance_accuracy: the accuracy of guessing (1 / (distractors + 1) for the contrastive tasks).
        num_groups: codebook groups G (code perplexity collapses towards G); None without a codebook.
        num_vars: entries per group V (perplexity at most G * V).
        has_diversity: the loss has a diversity term (``diversity_loss`` is logged).
    """

    chance_accuracy: float
    num_groups: int | None = None
    num_vars: int | None = None
    has_diversity: bool = False


def apply_overrides(config: PretrainedConfig, overrides: dict) -> PretrainedConfig:
    """A copy of ``config`` with ``overrides`` (unknown keys are an error: a typo would go unnoticed)."""
    if not overrides:
        return config
    known = config.to_dict()
    unknown = sorted(key for key in overrides if key not in known)
    if unknown:
        raise ValueError(f"--config_overrides: {type(config).__name__} has no field(s) {', '.join(unknown)}.")
    return type(config).from_dict({**known, **overrides})


def load_config(config: PretrainingConfig, expected: tuple[type, ...]) -> PretrainedConfig:
    """The model config from ``--preset`` or ``--model_config`` (overrides applied), type-checked."""
    model_args = config.model
    if model_args.model_config:
        path = Path(model_args.model_config)
        if not path.exists():
            raise FileNotFoundError(f"--model_config {path}: no such file or folder.")
        config_class = expected[0]
        loaded = config_class.from_pretrained(str(path))
    else:
        loaded = get_preset(model_args.preset)
    if not isinstance(loaded, expected):
        names = " / ".join(cls.__name__ for cls in expected)
        raise ValueError(
            f"--model_type {model_args.model_type} needs a {names}; the "
            f"{'preset ' + model_args.preset if model_args.preset else 'config'} gives a {type(loaded).__name__}."
        )
    return apply_overrides(loaded, parse_config_overrides(model_args.config_overrides))


def samples_for_frames(kernels, strides, frames: int) -> int:
    """Fewest input samples that give ``frames`` output frames through conv layers (kernels, strides)."""
    field, jump = 1, 1
    for kernel, stride in zip(kernels, strides):
        field += (kernel - 1) * jump
        jump *= stride
    return field + (max(frames, 1) - 1) * jump


class PretrainingTask:
    """Base class; see the module docstring. The audio tasks share ``build_data`` / ``to_device``."""

    model_type: str = ""
    SAMPLE_RATE = SAMPLE_RATE
    tokens_per_second: float = SAMPLE_RATE
    """Tokens of ``to_device`` per second of audio (samples for the audio models; 1 for units-bert,
    whose tokens are not audio)."""

    def __init__(self, config: PretrainingConfig, accelerator=None) -> None:
        self.config = config
        self.recipe = config.recipe
        self.accelerator = accelerator

    @property
    def num_replicas(self) -> int:
        return self.accelerator.num_processes if self.accelerator is not None else 1

    @property
    def rank(self) -> int:
        return self.accelerator.process_index if self.accelerator is not None else 0

    def build_data(self):
        """``(train, valid)`` ``AudioData`` (valid None without ``--valid``), this process's share."""
        from wav2vec_hf.pretraining.data import build_audio_data

        data_args = self.config.data
        options = dict(
            recipe=self.recipe,
            min_samples=self.min_input_samples(),
            seed=self.config.training.seed,
            on_bad=data_args.on_bad,
            num_replicas=self.num_replicas,
            rank=self.rank,
            cache_audio=data_args.cache_audio,
            num_buckets=data_args.num_buckets,
        )
        train = build_audio_data(
            data_args.train,
            split=data_args.train_split,
            training=True,
            name="train",
            streaming=data_args.streaming,
            shuffle_buffer=data_args.shuffle_buffer,
            **options,
        )
        valid = None
        if data_args.valid:
            valid = build_audio_data(
                data_args.valid, split=data_args.valid_split, training=False, name="valid", **options
            )
        return train, valid

    def validation_batches(self, data, max_batches: int | None = None):
        """This process's validation batches."""
        from wav2vec_hf.pretraining.data import loader_workers, validation_batches

        device = self.accelerator.device if self.accelerator is not None else torch.device("cpu")
        workers = loader_workers(self.config.data.num_workers, device)
        return validation_batches(data, max_batches, workers, pin_memory=device.type == "cuda")

    def to_device(self, batch: dict, device: torch.device) -> tuple[dict, float]:
        """Model inputs on ``device`` and the batch's token count (audio samples).

        A batch with padding (``crop_to_shortest`` off) also gets ``model_attention_mask``
        (``waveform_inputs``: built from the lengths, never by the collator).
        """
        from wav2vec_hf.pretraining.data import waveform_inputs

        values, attention_mask = waveform_inputs(batch, device)
        inputs = {"input_values": values, "model_attention_mask": attention_mask}
        return inputs, float(batch["lengths"].sum())

    def build_module(self) -> nn.Module:
        raise NotImplementedError

    def min_input_samples(self) -> int:
        """Shortest input (samples at 16 kHz) the model can train on."""
        raise NotImplementedError

    def health_spec(self) -> HealthSpec:
        raise NotImplementedError

    def set_update(self, module: nn.Module, update: int) -> dict[str, float]:
        """Apply per-update schedules to the (unwrapped) module; returns values to log."""
        return {}

    def step(self, module: nn.Module, batch: dict) -> StepOutput:
        raise NotImplementedError

    def parameter_groups(self, module: nn.Module) -> dict[str, list[nn.Parameter]]:
        """The parts of the (unwrapped) module whose gradient norms ``--log_module_grad_norms`` logs:
        one group per top-level child by default."""
        return {name: list(child.parameters()) for name, child in module.named_children()}

    def export(self, module: nn.Module, directory: Path, state_dict: dict | None = None) -> None:
        """``save_pretrained`` into ``directory``; ``state_dict`` is the (gathered) state of ``module``."""
        raise NotImplementedError

    def feature_extractor(self, return_attention_mask: bool) -> Wav2Vec2FeatureExtractor:
        """The feature extractor config matching the training audio (16 kHz, normalised or not)."""
        return Wav2Vec2FeatureExtractor(
            feature_size=1,
            sampling_rate=SAMPLE_RATE,
            padding_value=0.0,
            do_normalize=bool(self.recipe.normalize),
            return_attention_mask=return_attention_mask,
        )


class Wav2Vec2Task(PretrainingTask):
    """wav2vec 2.0: a stock ``Wav2Vec2ForPreTraining`` trained by ``Wav2Vec2PretrainingObjective``."""

    model_type = "wav2vec2"

    def build_module(self) -> Wav2Vec2PretrainingObjective:
        model_args = self.config.model
        if model_args.init_from:
            overrides = parse_config_overrides(model_args.config_overrides)
            overrides.setdefault("attn_implementation", model_args.attn_implementation)
            model = _from_pretrained(Wav2Vec2ForPreTraining, model_args.init_from, "wav2vec2", overrides)
        else:
            model_config = load_config(self.config, (Wav2Vec2Config,))
            model_config._attn_implementation = model_args.attn_implementation
            model = Wav2Vec2ForPreTraining(model_config)
        self.model_config = model.config
        objective = Wav2Vec2PretrainingObjective(
            model,
            feature_grad_mult=self.recipe.feature_grad_mult,
            feature_penalty_weight=self.recipe.feature_penalty_weight,
            min_masks=model.config.mask_time_min_masks,
            require_same_masks=self.recipe.require_same_masks,
            gradient_checkpointing=model_args.gradient_checkpointing,
        )
        self.gumbel = self.config.gumbel_schedule((2.0, 0.5, 0.999995))
        return objective

    def min_input_samples(self) -> int:
        config = self.model_config
        # Room for two spans, so that every utterance has masked frames and distractors.
        frames = 2 * config.mask_time_length
        return samples_for_frames(config.conv_kernel, config.conv_stride, frames)

    def health_spec(self) -> HealthSpec:
        config = self.model_config
        return HealthSpec(
            chance_accuracy=1.0 / (config.num_negatives + 1),
            num_groups=config.num_codevector_groups,
            num_vars=config.num_codevectors_per_group,
            has_diversity=True,
        )

    def set_update(self, module: Wav2Vec2PretrainingObjective, update: int) -> dict[str, float]:
        temperature = self.gumbel.temperature(update)
        module.set_gumbel_temperature(temperature)
        return {"temperature": temperature}

    def parameter_groups(self, module: Wav2Vec2PretrainingObjective) -> dict[str, list[nn.Parameter]]:
        """The paper's parts: conv feature encoder, feature projection (layer norm + linear), mask
        embedding, Transformer (positional conv included), quantiser, and the two output projections."""
        model = module.model
        wav2vec2 = model.wav2vec2
        return {
            "feature_encoder": list(wav2vec2.feature_extractor.parameters()),
            "feature_projection": list(wav2vec2.feature_projection.parameters()),
            "mask_embedding": [wav2vec2.masked_spec_embed],
            "transformer": list(wav2vec2.encoder.parameters()),
            "quantizer": list(model.quantizer.parameters()),
            "project_q": list(model.project_q.parameters()),
            "project_hid": list(model.project_hid.parameters()),
        }

    def step(self, module: nn.Module, batch: dict) -> StepOutput:
        out = module(batch["input_values"], attention_mask=batch.get("model_attention_mask"))
        return StepOutput(
            loss=out.loss,
            metrics={
                "loss": out.loss.detach(),
                "contrastive_loss": out.contrastive_loss,
                "diversity_loss": out.diversity_loss,
                "feature_penalty": out.feature_penalty,
                "accuracy": out.accuracy,
                "code_perplexity": out.code_perplexity,
                "prob_perplexity": out.prob_perplexity,
                "masked_fraction": out.num_masked / out.mask.numel(),
                "context_similarity": out.context_similarity,
            },
            weight=out.num_masked,
        )

    def export(
        self, module: Wav2Vec2PretrainingObjective, directory: Path, state_dict: dict | None = None
    ) -> None:
        if state_dict is not None:  # the objective's keys are "model.<stock key>"
            state_dict = {key.removeprefix("model."): value for key, value in state_dict.items()}
        module.model.save_pretrained(directory, state_dict=state_dict)
        # Layer-norm encoders were trained with padding masks; group-norm (BASE) ones must not get one.
        layer_norm = module.config.feat_extract_norm == "layer"
        self.feature_extractor(return_attention_mask=layer_norm).save_pretrained(directory)


class Wav2VecTask(PretrainingTask):
    """wav2vec / vq-wav2vec: our models, whose forward computes the K-step contrastive loss."""

    def __init__(self, config: PretrainingConfig, accelerator=None) -> None:
        super().__init__(config, accelerator)
        self.model_type = config.model.model_type
        self.quantized = self.model_type == "vq-wav2vec"

    def build_module(self) -> Wav2VecForPreTraining:
        model_args = self.config.model
        model_class = VQWav2VecForPreTraining if self.quantized else Wav2VecForPreTraining
        if model_args.init_from:
            overrides = parse_config_overrides(model_args.config_overrides)
            model = _from_pretrained(model_class, model_args.init_from, self.model_type, overrides)
        else:
            expected = (VQWav2VecConfig, Wav2VecConfig) if self.quantized else (Wav2VecConfig,)
            model_config = load_config(self.config, expected)
            model = model_class(model_config)
        has_quantizer = model.config.vq_type != "none"
        if has_quantizer != self.quantized:
            raise ValueError(
                f"--model_type {self.model_type} but the model {'has' if has_quantizer else 'has no'} quantiser "
                f"(vq_type={model.config.vq_type!r}); use --model_type {'vq-wav2vec' if has_quantizer else 'wav2vec'}."
            )
        self.model_config = model.config
        self.gumbel = None
        if model.config.vq_type == "gumbel":
            self.gumbel = self.config.gumbel_schedule(tuple(model.config.vq_temp))
        return model

    def min_input_samples(self) -> int:
        config = self.model_config
        return config.min_input_length(config.min_pretraining_frames)

    def health_spec(self) -> HealthSpec:
        config = self.model_config
        quantized = config.vq_type != "none"
        return HealthSpec(
            chance_accuracy=1.0 / (config.num_negatives + config.cross_sample_negatives + 1),
            num_groups=config.vq_groups if quantized else None,
            num_vars=config.vq_vars if quantized else None,
            has_diversity=config.vq_type == "gumbel",
        )

    def set_update(self, module: Wav2VecForPreTraining, update: int) -> dict[str, float]:
        if self.gumbel is None:
            return {}
        temperature = self.gumbel.temperature(update)
        module.set_gumbel_temperature(temperature)
        return {"temperature": temperature}

    def step(self, module: nn.Module, batch: dict) -> StepOutput:
        out = module(batch["input_values"])
        metrics = {
            "loss": out.loss.detach(),
            "contrastive_loss": out.contrastive_loss.detach(),
            "accuracy": out.accuracy.detach(),
        }
        for name in ("code_perplexity", "prob_perplexity", "diversity_loss", "kmeans_loss"):
            value = getattr(out, name)
            if value is not None:
                metrics[name] = value.detach().float()
        # Every (step, frame, utterance) is one prediction: weight by the frames of the batch.
        weight = torch.tensor(float(out.step_predictions.shape[0] * out.step_predictions.shape[2]))
        return StepOutput(loss=out.loss, metrics=metrics, weight=weight.to(out.loss.device))

    def export(self, module: Wav2VecForPreTraining, directory: Path, state_dict: dict | None = None) -> None:
        module.save_pretrained(directory, state_dict=state_dict)
        self.feature_extractor(return_attention_mask=False).save_pretrained(directory)


def _from_pretrained(model_class, folder: str, model_type: str, overrides: dict):
    """Load a ``save_pretrained`` folder (e.g. ``convert-fairseq`` output) to continue pretraining it."""
    path = Path(folder)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"--init_from {folder}: no config.json there; give a save_pretrained folder (convert a fairseq "
            "checkpoint first with `wav2vec-hf convert-fairseq`)."
        )
    import json

    from wav2vec_hf.model_folders import check_model_weights

    found = json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type")
    if found != model_type:
        raise ValueError(f"--init_from {folder} holds a {found!r} model, not {model_type!r}.")
    check_model_weights(path)
    model = model_class.from_pretrained(str(path), **overrides)
    architectures = getattr(model.config, "architectures", None) or []
    if any("CTC" in name for name in architectures):
        logger.warning(
            "%s was fine-tuned with CTC: its quantiser and projections are not in the folder and start "
            "from random weights.",
            folder,
        )
    return model


__all__ = [
    "HealthSpec",
    "PretrainingTask",
    "StepOutput",
    "Wav2Vec2Task",
    "Wav2VecTask",
    "apply_overrides",
    "samples_for_frames",
]
