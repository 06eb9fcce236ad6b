"""Command-line arguments of CTC fine-tuning, as dataclasses for ``HfArgumentParser``.

``scripts/finetune_ctc.py`` and ``wav2vec-hf finetune`` parse the same four groups:

* ``ModelArguments``: which pretrained model, what the recipe sets in its config;
* ``DataArguments``: training / evaluation data (anything ``open_audio_source`` reads) and text
  normalisation;
* ``RecipeArguments``: the head-only phase and the tri-stage schedule;
* ``FinetuneTrainingArguments``: transformers' ``TrainingArguments`` with defaults for this recipe
  (evaluate and save every 100 updates, keep the best checkpoint by WER, group batches by length,
  no external loggers); every ``TrainingArguments`` option works, ``--push_to_hub`` /
  ``--hub_model_id`` included. ``--learning_rate 0`` (the default) picks the peak rate from the
  model size (``schedule.auto_learning_rate``); ``--lr_scheduler_type`` is ignored (the recipe's
  schedule is used).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import HfArgumentParser, TrainingArguments

from wav2vec_hf.finetuning.models import CTCModelOptions
from wav2vec_hf.finetuning.schedule import TriStage
from wav2vec_hf.finetuning.vocabulary import TextNormalizer


@dataclass
class ModelArguments:
    """The model to fine-tune and its CTC settings."""

    model: str = field(
        metadata={
            "help": "pretrained folder (pretrain.py, convert-fairseq or an earlier fine-tuning) or a preset name "
            "(random weights)"
        }
    )
    from_scratch: bool = field(
        default=False, metadata={"help": "random weights with the folder's architecture"}
    )
    freeze_feature_encoder: bool | None = field(
        default=None,
        metadata={
            "help": "wav2vec 2.0: never train the conv feature encoder (default: frozen for pretrained weights, "
            "as in the paper; trained for random ones, --from_scratch or a preset name)"
        },
    )
    freeze_pretrained: bool = field(
        default=True,
        metadata={"help": "wav2vec / vq-wav2vec: keep the pretrained network fixed (the papers)"},
    )
    mask_time_prob: float = field(
        default=0.05, metadata={"help": "wav2vec 2.0 time masking: span-start probability"}
    )
    mask_time_length: int = field(default=10, metadata={"help": "wav2vec 2.0 time masking: span frames"})
    mask_time_min_masks: int = field(
        default=0,
        metadata={"help": "wav2vec 2.0 time masking: fewest spans per utterance (short words: keep 0)"},
    )
    mask_feature_prob: float = field(
        default=0.0, metadata={"help": "wav2vec 2.0 channel masking probability"}
    )
    mask_feature_length: int = field(
        default=10, metadata={"help": "wav2vec 2.0 channel masking: span channels"}
    )
    layerdrop: float = field(default=0.05, metadata={"help": "wav2vec 2.0 LayerDrop probability"})
    final_dropout: float = field(default=0.0, metadata={"help": "wav2vec 2.0 dropout before the CTC layer"})
    head_layers: str | None = field(
        default=None,
        metadata={
            "help": "wav2vec / vq-wav2vec acoustic model, e.g. '[(256, 5), (256, 5)]' (default: the config's)"
        },
    )
    head_activation: str | None = field(
        default=None, metadata={"help": "wav2vec / vq-wav2vec acoustic model activation: prelu, relu or glu"}
    )
    head_dropout: float | None = field(
        default=None, metadata={"help": "wav2vec / vq-wav2vec acoustic model dropout"}
    )
    ctc_loss_reduction: str = field(default="mean", metadata={"help": "mean or sum"})
    ctc_zero_infinity: bool = field(
        default=True,
        metadata={"help": "zero the loss of utterances too short for their labels (never inf/NaN)"},
    )

    def options(self) -> CTCModelOptions:
        """The model settings as ``CTCModelOptions``."""
        head_layers = None
        if self.head_layers:
            from wav2vec_hf.convert.checkpoint import parse_python_literal

            head_layers = parse_python_literal(self.head_layers, field="--head_layers")
        return CTCModelOptions(
            from_scratch=self.from_scratch,
            freeze_feature_encoder=self.freeze_feature_encoder,
            freeze_pretrained=self.freeze_pretrained,
            mask_time_prob=self.mask_time_prob,
            mask_time_length=self.mask_time_length,
            mask_time_min_masks=self.mask_time_min_masks,
            mask_feature_prob=self.mask_feature_prob,
            mask_feature_length=self.mask_feature_length,
            layerdrop=self.layerdrop,
            final_dropout=self.final_dropout,
            head_layers=head_layers,
            head_activation=self.head_activation,
            head_dropout=self.head_dropout,
            ctc_loss_reduction=self.ctc_loss_reduction,
            ctc_zero_infinity=self.ctc_zero_infinity,
        )


@dataclass
class DataArguments:
    """Training and evaluation data, and how transcripts are normalised."""

    train: str = field(
        metadata={
            "help": "labelled training data: fairseq manifest (.tsv + .wrd/.ltr), transcript table (.tsv/.csv/.jsonl), "
            "audio folder (with --transcripts or metadata.csv) or saved datasets folder"
        }
    )
    eval: str | None = field(default=None, metadata={"help": "labelled evaluation data (same forms)"})
    transcripts: str | None = field(
        default=None, metadata={"help": "transcript table for a --train audio folder"}
    )
    eval_transcripts: str | None = field(
        default=None, metadata={"help": "transcript table for an --eval audio folder"}
    )
    train_split: str | None = field(
        default=None, metadata={"help": "split of a saved DatasetDict for training"}
    )
    eval_split: str | None = field(
        default=None, metadata={"help": "split of a saved DatasetDict for evaluation"}
    )
    audio_column: str | None = field(
        default=None, metadata={"help": "audio column of a dataset (default: found by name)"}
    )
    text_column: str | None = field(
        default=None, metadata={"help": "transcript column (default: found by name)"}
    )
    case: str = field(default="upper", metadata={"help": "transcript case: upper, lower or keep"})
    remove_punctuation: bool = field(
        default=True, metadata={"help": "drop punctuation (apostrophes inside words stay)"}
    )
    vocabulary: str | None = field(
        default=None,
        metadata={"help": "use this vocab.json instead of building one from the training transcripts"},
    )
    on_bad: str = field(
        default="raise",
        metadata={
            "help": "bad utterances (unreadable, unlabelled, too short for their labels): raise or skip (counted)"
        },
    )
    unknown_characters: str = field(
        default="report",
        metadata={
            "help": "evaluation characters outside the vocabulary: report (count; they score as errors) or raise"
        },
    )
    max_train_seconds: float | None = field(
        default=None, metadata={"help": "skip longer training utterances (counted)"}
    )

    def normalizer(self) -> TextNormalizer:
        """The transcript normaliser these arguments describe."""
        return TextNormalizer(case=self.case, remove_punctuation=self.remove_punctuation)


@dataclass
class RecipeArguments:
    """The fine-tuning recipe: head-only phase, then tri-stage schedule."""

    head_steps: int = field(
        default=200,
        metadata={
            "help": "updates that train only the new CTC layer / acoustic model (pretrained network frozen)"
        },
    )
    head_learning_rate: float = field(
        default=1e-2, metadata={"help": "constant learning rate of the head-only phase"}
    )
    tri_stage_ratios: str = field(
        default="0.1,0.4,0.5",
        metadata={"help": "warm-up, hold, decay fractions of the updates after the head phase"},
    )
    tri_stage_init_scale: float = field(default=0.01, metadata={"help": "warm-up start rate / peak rate"})
    tri_stage_final_scale: float = field(default=0.05, metadata={"help": "final rate / peak rate"})
    group_by_length: bool = field(
        default=True, metadata={"help": "batch utterances of similar length (less padding)"}
    )
    diagnostics: bool = field(
        default=True, metadata={"help": "warn about all-blank / WER 1.0 plateaus with likely causes"}
    )

    def tri_stage(self) -> TriStage:
        """The tri-stage schedule these arguments describe."""
        try:
            ratios = tuple(float(part) for part in self.tri_stage_ratios.split(","))
        except ValueError as error:
            raise ValueError(
                f"--tri_stage_ratios {self.tri_stage_ratios!r}: give three numbers like 0.1,0.4,0.5"
            ) from error
        return TriStage(ratios, self.tri_stage_init_scale, self.tri_stage_final_scale)  # type: ignore[arg-type]


@dataclass
class FinetuneTrainingArguments(TrainingArguments):
    """``TrainingArguments`` with this recipe's defaults (every other option as in transformers)."""

    learning_rate: float = field(
        default=0.0, metadata={"help": "peak rate after the head phase; 0 = choose from the model size"}
    )
    max_steps: int = field(default=1000, metadata={"help": "total updates (head phase included)"})
    per_device_train_batch_size: int = field(default=8, metadata={"help": "utterances per device and update"})
    per_device_eval_batch_size: int = field(
        default=8, metadata={"help": "utterances per device in evaluation"}
    )
    eval_strategy: str = field(default="steps", metadata={"help": "when to evaluate: no, steps or epoch"})
    eval_steps: float | None = field(default=100, metadata={"help": "updates between evaluations"})
    save_strategy: str = field(default="steps", metadata={"help": "when to save: no, steps, epoch or best"})
    save_steps: float = field(default=100, metadata={"help": "updates between checkpoints"})
    save_total_limit: int | None = field(
        default=2, metadata={"help": "checkpoints kept (the best is always kept)"}
    )
    load_best_model_at_end: bool = field(default=True, metadata={"help": "end with the best checkpoint"})
    metric_for_best_model: str | None = field(default="wer", metadata={"help": "checkpoint selection metric"})
    greater_is_better: bool | None = field(default=False, metadata={"help": "False for error rates"})
    logging_steps: float = field(default=25, metadata={"help": "updates between loss logs"})
    report_to: str = field(default="none", metadata={"help": "loggers: none, all, tensorboard, wandb, ..."})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "keep: the collator picks the columns"}
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay (fairseq: 0)"})

    def __post_init__(self):
        # Best-checkpoint selection needs evaluations and checkpoints; without either, keep the last model.
        if self.load_best_model_at_end and "no" in (
            str(self.eval_strategy).split(".")[-1].lower(),
            str(self.save_strategy).split(".")[-1].lower(),
        ):
            self.load_best_model_at_end = False
        super().__post_init__()


def build_parser() -> HfArgumentParser:
    """The parser of the four argument groups."""
    return HfArgumentParser((ModelArguments, DataArguments, RecipeArguments, FinetuneTrainingArguments))


def parse_args(argv: list[str] | None = None):
    """``(model_args, data_args, recipe_args, training_args)`` from the command line (``argv``)."""
    return build_parser().parse_args_into_dataclasses(args=argv)


__all__ = [
    "DataArguments",
    "FinetuneTrainingArguments",
    "ModelArguments",
    "RecipeArguments",
    "build_parser",
    "parse_args",
]
