"""Command-line arguments of CTC fine-tuning, as dataclasses for ``HfArgumentParser``.

``scripts/finetune_ctc.py`` and ``wav2vec-hf finetune`` parse the same four groups:

* ``FinetuneModelArguments``: which pretrained model, what the recipe sets in its config;
* ``FinetuneDataArguments``: training / evaluation data (anything ``open_audio_source`` reads) and text
  normalisation;
* ``RecipeArguments``: a paper recipe (``--recipe base_10m``: see ``paper_recipes``), the schedule
  (head-first warm-up or fairseq's frozen start) and the tri-stage phases;
* ``FinetuneTrainingArguments``: transformers' ``TrainingArguments`` with defaults for this recipe
  (evaluate and save every 100 updates, keep the best checkpoint by WER, group batches by length,
  no external loggers); every ``TrainingArguments`` option works, ``--push_to_hub`` /
  ``--hub_model_id`` included. ``--learning_rate 0`` (the default) picks the peak rate from the
  model size (``schedule.auto_learning_rate``); ``--lr_scheduler_type`` is ignored (the recipe's
  schedule is used).

Without ``--recipe`` every default below stands (this package's recipe for small models); with it
the recipe's values replace the defaults and any option given on the command line replaces the
recipe's value (``recipe_resolution.parse_finetune_arguments``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import HfArgumentParser, TrainingArguments

from wav2vec_hf.data.augmentation import WaveformAugmentation
from wav2vec_hf.finetuning.models import CTC_REDUCTIONS, CTCModelOptions
from wav2vec_hf.finetuning.paper_recipes import FAIRSEQ_SCHEDULE, HEAD_FIRST_SCHEDULE, recipe_names
from wav2vec_hf.finetuning.schedule import FrozenStartSchedule, TriStage, TwoPhaseSchedule
from wav2vec_hf.finetuning.vocabulary import TextNormalizer


@dataclass
class FinetuneModelArguments:
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
        default=0.05,
        metadata={
            "help": "wav2vec 2.0 time masking: share of frames to mask (fairseq's mask_prob): "
            "mask_time_prob x frames / mask_time_length spans are drawn, so overlaps mask somewhat less"
        },
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
    hidden_dropout: float | None = field(
        default=None,
        metadata={
            "help": "wav2vec 2.0 Transformer dropout (fairseq's dropout; default: the pretrained config's)"
        },
    )
    attention_dropout: float | None = field(
        default=None,
        metadata={"help": "wav2vec 2.0 attention-weight dropout (default: the pretrained config's)"},
    )
    activation_dropout: float | None = field(
        default=None,
        metadata={"help": "wav2vec 2.0 dropout after the FFN activation (default: the pretrained config's)"},
    )
    feat_proj_dropout: float | None = field(
        default=None,
        metadata={
            "help": "wav2vec 2.0 dropout after the feature projection (fairseq's dropout_input; "
            "default: the pretrained config's)"
        },
    )
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
    ctc_loss_reduction: str = field(
        default="mean",
        metadata={
            "help": "mean (each utterance's loss / its label count, averaged: transformers'), sum, or "
            "sentence (summed over the batch's utterances / their number: fairseq's sentence_avg)"
        },
    )
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
        if self.ctc_loss_reduction not in CTC_REDUCTIONS:
            raise ValueError(
                f"--ctc_loss_reduction {self.ctc_loss_reduction!r}: choose one of {', '.join(CTC_REDUCTIONS)}"
            )
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
            hidden_dropout=self.hidden_dropout,
            attention_dropout=self.attention_dropout,
            activation_dropout=self.activation_dropout,
            feat_proj_dropout=self.feat_proj_dropout,
            head_layers=head_layers,
            head_activation=self.head_activation,
            head_dropout=self.head_dropout,
            ctc_loss_reduction=self.ctc_loss_reduction,
            ctc_zero_infinity=self.ctc_zero_infinity,
        )


@dataclass
class FinetuneDataArguments:
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
    trailing_word_delimiter: bool = field(
        default=False,
        metadata={
            "help": "end every label sequence with the word delimiter '|', as fairseq's .ltr letter targets "
            "do (one more label per utterance, so one more CTC frame needed; transcripts are unchanged)"
        },
    )

    speed_perturbation: str | None = field(
        default=None,
        metadata={
            "help": "training audio only: play each utterance at a random speed in MIN,MAX (e.g. 0.9,1.1; "
            "changes tempo and pitch, imitating other speakers)"
        },
    )
    noise_snr_db: str | None = field(
        default=None,
        metadata={"help": "training audio only: add white noise at a random SNR in MIN,MAX dB (e.g. 20,40)"},
    )
    random_eq_db: float | None = field(
        default=None,
        metadata={
            "help": "training audio only: pass each utterance through a random smooth equaliser of at most "
            "this many dB either way (e.g. 6; imitates other microphones and rooms)"
        },
    )

    def __post_init__(self):
        self.augmentation()  # a malformed range is a command-line error (exit 2), found before any work

    def augmentation(self) -> WaveformAugmentation | None:
        """The training augmentation these arguments describe (``None``: none).

        Raises:
            ValueError: a malformed range.
        """
        return WaveformAugmentation.from_options(
            self.speed_perturbation, self.noise_snr_db, self.random_eq_db
        )

    def normalizer(self) -> TextNormalizer:
        """The transcript normaliser these arguments describe."""
        return TextNormalizer(case=self.case, remove_punctuation=self.remove_punctuation)


@dataclass
class RecipeArguments:
    """The fine-tuning recipe: a paper recipe or not; head-first or fairseq schedule; tri-stage phases."""

    recipe: str | None = field(
        default=None,
        metadata={
            "help": f"apply a fairseq fine-tuning config of the wav2vec 2.0 paper ({', '.join(recipe_names())}); "
            "options given on the command line override its values (and are reported)"
        },
    )
    print_recipe: bool = field(
        default=False,
        metadata={
            "help": "print the resolved --recipe settings as one JSON object and exit (no other option needed)"
        },
    )
    schedule: str = field(
        default=HEAD_FIRST_SCHEDULE,
        metadata={
            "help": f"{HEAD_FIRST_SCHEDULE}: the new layer alone for --head_steps at --head_learning_rate, then "
            f"tri-stage over the remaining updates (makes tiny models learn); {FAIRSEQ_SCHEDULE}: one tri-stage "
            "over all updates for every parameter, pretrained network frozen for --freeze_finetune_updates "
            "(the paper's)"
        },
    )
    head_steps: int = field(
        default=200,
        metadata={
            "help": "head_first schedule: updates that train only the new CTC layer / acoustic model "
            "(pretrained network frozen)"
        },
    )
    head_learning_rate: float = field(
        default=1e-2, metadata={"help": "head_first schedule: constant learning rate of the head-only phase"}
    )
    freeze_finetune_updates: int = field(
        default=0,
        metadata={
            "help": "fairseq schedule: updates during which the pretrained network is frozen (the head "
            "already follows the tri-stage schedule)"
        },
    )
    batch_seconds: float | None = field(
        default=None,
        metadata={
            "help": "with --recipe: seconds of audio one device holds per batch (default: fairseq's per-GPU "
            "max_tokens: 200 s BASE, 80 s LARGE); sets gradient accumulation and the utterances per batch"
        },
    )
    num_devices: int | None = field(
        default=None,
        metadata={"help": "with --recipe: training processes (default: this launch's WORLD_SIZE, else 1)"},
    )
    tri_stage_ratios: str = field(
        default="0.1,0.4,0.5",
        metadata={
            "help": "warm-up, hold, decay fractions of the tri-stage updates (head_first: those after the "
            "head phase; fairseq: all)"
        },
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

    def learning_rate_schedule(
        self, total_steps: int, peak_learning_rate: float
    ) -> TwoPhaseSchedule | FrozenStartSchedule:
        """The schedule ``--schedule`` names, for ``total_steps`` updates at peak ``peak_learning_rate``."""
        if self.schedule == HEAD_FIRST_SCHEDULE:
            return TwoPhaseSchedule(
                head_steps=self.head_steps,
                total_steps=total_steps,
                peak_learning_rate=peak_learning_rate,
                head_learning_rate=self.head_learning_rate,
                tri_stage=self.tri_stage(),
            )
        if self.schedule == FAIRSEQ_SCHEDULE:
            return FrozenStartSchedule(
                freeze_steps=self.freeze_finetune_updates,
                total_steps=total_steps,
                peak_learning_rate=peak_learning_rate,
                tri_stage=self.tri_stage(),
            )
        raise ValueError(f"--schedule {self.schedule!r}: choose {HEAD_FIRST_SCHEDULE} or {FAIRSEQ_SCHEDULE}")


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
    return HfArgumentParser(
        (FinetuneModelArguments, FinetuneDataArguments, RecipeArguments, FinetuneTrainingArguments)
    )


def parse_args(argv: list[str] | None = None):
    """``(model_args, data_args, recipe_args, training_args)`` from the command line (``argv``)."""
    return build_parser().parse_args_into_dataclasses(args=argv)


__all__ = [
    "FinetuneDataArguments",
    "FinetuneModelArguments",
    "FinetuneTrainingArguments",
    "RecipeArguments",
    "build_parser",
    "parse_args",
]
