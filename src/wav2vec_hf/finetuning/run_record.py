"""``finetuning.json`` as a typed record: written by ``finetune_ctc``, read back by the model card.

The record is a dataclass (``FinetuningRecord``), so the writer and the card name the same fields: a
field renamed on one side is an ``AttributeError`` / ``TypeError`` in the tests, not a card row that
silently turns into "not recorded". The command-line options inside it (``arguments.model``,
``arguments.recipe``: the fields of ``finetuning.arguments.FinetuneModelArguments`` / ``RecipeArguments``)
are read through ``model_option`` / ``recipe_option``, which refuse a name those dataclasses do not
have. Reading is tolerant of older files: missing keys are ``None``, unknown keys are ignored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from wav2vec_hf.finetuning.arguments import FinetuneModelArguments, RecipeArguments
from wav2vec_hf.json_files import record_field, record_from_dict

RUN_FILE = "finetuning.json"


@dataclass
class FinetuningArgumentsRecord:
    """The options a fine-tuning run used.

    Attributes:
        model: ``FinetuneModelArguments`` fields (JSON values), with ``freeze_feature_encoder`` as resolved.
        data: ``FinetuneDataArguments`` fields; a ``datasets`` object is named, never written as its ``repr``.
        recipe: ``RecipeArguments`` fields.
        peak_learning_rate, max_steps, batch_size (per device), gradient_accumulation_steps,
        adam_betas, max_grad_norm, seed: from the ``Trainer``'s arguments.
    """

    model: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    recipe: dict[str, Any] = field(default_factory=dict)
    peak_learning_rate: float | None = None
    max_steps: int | None = None
    batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    adam_betas: list[float] | None = None
    max_grad_norm: float | None = None
    seed: int | None = None

    def model_option(self, name: str) -> Any:
        """The recorded value of model option ``name`` (a ``FinetuneModelArguments`` field), or ``None``."""
        return self.model.get(record_field(FinetuneModelArguments, name, file=RUN_FILE))

    def recipe_option(self, name: str) -> Any:
        """The recorded value of recipe option ``name`` (a ``RecipeArguments`` field), or ``None``."""
        return self.recipe.get(record_field(RecipeArguments, name, file=RUN_FILE))


@dataclass
class FinetuningRecord:
    """What ``finetune_ctc`` records about a run (``finetuning.json``).

    Attributes:
        model: the model fine-tuned (folder, preset or converted checkpoint), as given.
        model_class, parameters, generation: the CTC model built from it.
        arguments: the options used.
        schedule: ``{"kind": "head_first" | "fairseq", "description": ...}``.
        paper_recipe: the applied fairseq recipe and its overrides (``ResolvedRecipe.to_json``), or ``None``.
        datasets: ``{"train": DatasetReference dict, "eval": ...}``.
        vocabulary: the CTC tokens, in id order; text_normalizer: the saved normaliser's rules.
        train_utterances, train_minutes, eval_utterances: data sizes after validation.
        metrics, train_metrics: the final evaluation's and ``Trainer.train``'s metrics.
        best_checkpoint: the ``Trainer``'s best checkpoint, when it kept one.
        reports: what validation and loading dropped, per set.
        seconds: wall-clock time of the whole job; hardware: ``hardware.hardware_record``.
    """

    model: str | None = None
    model_class: str | None = None
    parameters: int | None = None
    generation: str | None = None
    arguments: FinetuningArgumentsRecord = field(default_factory=FinetuningArgumentsRecord)
    schedule: dict[str, Any] = field(default_factory=dict)
    paper_recipe: dict[str, Any] | None = None
    datasets: dict[str, Any] = field(default_factory=dict)
    vocabulary: list[str] = field(default_factory=list)
    text_normalizer: dict[str, Any] = field(default_factory=dict)
    train_utterances: int | None = None
    train_minutes: float | None = None
    eval_utterances: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    train_metrics: dict[str, Any] = field(default_factory=dict)
    best_checkpoint: str | None = None
    reports: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    hardware: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to ``finetuning.json``."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, content: dict[str, Any] | None) -> FinetuningRecord:
        """The record of a ``finetuning.json`` object (older files: missing fields are ``None``)."""
        record = record_from_dict(cls, content)
        record.arguments = record_from_dict(FinetuningArgumentsRecord, (content or {}).get("arguments"))
        for name in ("model", "data", "recipe"):
            if not isinstance(getattr(record.arguments, name), dict):
                setattr(record.arguments, name, {})
        for name in ("schedule", "datasets", "metrics", "train_metrics", "reports", "text_normalizer"):
            if not isinstance(getattr(record, name), dict):
                setattr(record, name, {})
        return record


__all__ = ["RUN_FILE", "FinetuningArgumentsRecord", "FinetuningRecord"]
