"""CTC fine-tuning with transformers' ``Trainer``: data, vocabulary, model, recipe, evaluation, saving.

``finetune_ctc(model_args, data_args, recipe_args, training_args)`` runs the whole job:

1. open the training / evaluation data (``open_audio_source``), build the letter vocabulary from
   the normalised training transcripts (or read ``--vocabulary``);
2. load the CTC model (stock ``Wav2Vec2ForCTC``, or ``Wav2VecForCTC`` / ``VQWav2VecForCTC``) and
   the feature extractor; processor = feature extractor + ``Wav2Vec2CTCTokenizer``;
3. check every transcript (unknown characters reported; utterances too short for their labels
   refused or counted);
4. train with ``CTCTrainer`` under the schedule ``--schedule`` names: ``head_first`` (head-only
   phase at a high constant rate, then tri-stage over everything trainable) or ``fairseq`` (one
   tri-stage over the whole run, pretrained network frozen for ``--freeze_finetune_updates``);
   WER / CER at every evaluation; the best checkpoint (by WER) kept;
5. save model + processor + ``text_normalizer.json`` + ``finetuning.json`` (recipe, schedule, data
   reports, final metrics) in ``output_dir``; with ``--push_to_hub``, publish it with the package's
   model card and upload plan (the ``hub_publisher`` the ``finetune`` command passes,
   ``hub.finetuned_publisher.publisher_for``; the stock ``Trainer`` push is never used).

With a paper recipe (``--recipe``, resolved by ``recipe_resolution``) the per-device batch is set
from the training data's mean utterance length, and the resolved recipe is written to
``output_dir/recipe.json`` before training starts.

A killed run continues from a checkpoint with ``--resume_from_checkpoint DIR`` or
``--resume_from_checkpoint last`` (the newest ``checkpoint-*`` in ``output_dir``; from the start when
there is none): the Trainer restores weights, optimiser, schedule, RNG and data position.

Works under ``accelerate launch`` / ``torchrun`` as any ``Trainer`` script: in a multi-process run
the pretrained parameters keep ``requires_grad`` during the head-only phase (their rate is 0), so
DDP sees the same parameters throughout.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import SequentialSampler
from transformers import Trainer, TrainerCallback, set_seed
from transformers.trainer_pt_utils import LengthGroupedSampler

from wav2vec_hf.data import AudioSet, SkipReport, ValidationRules, open_audio_source
from wav2vec_hf.data.audio import DEFAULT_SAMPLE_RATE
from wav2vec_hf.data.augmentation import WaveformAugmentation
from wav2vec_hf.data.references import dataset_reference, describe_source
from wav2vec_hf.decoding.logits import ctc_logits, greedy_ids
from wav2vec_hf.finetuning.arguments import (
    FinetuneDataArguments,
    FinetuneModelArguments,
    FinetuneTrainingArguments,
    RecipeArguments,
)
from wav2vec_hf.finetuning.checkpoints import resolve_resume_checkpoint
from wav2vec_hf.finetuning.data import (
    TOO_SHORT_FOR_LABELS,
    CTCCollator,
    CTCDataset,
    CTCSet,
    label_length_ratio,
    prepare_ctc_set,
)
from wav2vec_hf.finetuning.diagnostics import PlateauCallback, RunFacts
from wav2vec_hf.finetuning.metrics import CTCMetrics
from wav2vec_hf.finetuning.models import (
    body_parameter_names,
    build_ctc_model,
    count_parameters,
    head_parameter_names,
    is_wav2vec2,
)
from wav2vec_hf.finetuning.paper_recipes import SENTENCE_REDUCTION
from wav2vec_hf.finetuning.recipe_resolution import RECIPE_FILE, ResolvedRecipe
from wav2vec_hf.finetuning.run_record import RUN_FILE, FinetuningArgumentsRecord, FinetuningRecord
from wav2vec_hf.finetuning.schedule import FrozenStartSchedule, TwoPhaseSchedule, auto_learning_rate
from wav2vec_hf.finetuning.vocabulary import UnknownCharacterReport, Vocabulary
from wav2vec_hf.hardware import hardware_record
from wav2vec_hf.json_files import write_json
from wav2vec_hf.models.wav2vec.modeling_wav2vec import ctc_loss

logger = logging.getLogger(__name__)


class HeadFirstCallback(TrainerCallback):
    """Freezes the pretrained parameters for the first ``head_steps`` updates and releases them after.

    Serves both schedules: the head-only phase of ``head_first`` and fairseq's
    ``freeze_finetune_updates``. Single process: ``requires_grad`` is switched off (no backward
    through the pretrained network). Several processes: parameters keep ``requires_grad`` (DDP must
    see a fixed set); the schedule's zero rate keeps them unchanged, and with
    ``drop_frozen_gradients`` their gradients are dropped before each frozen update, so that Adam
    starts their moments at the release as fairseq (and one process) does.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        body_names: list[str],
        head_steps: int,
        *,
        drop_frozen_gradients: bool = False,
    ) -> None:
        self.parameters = [p for n, p in model.named_parameters() if n in set(body_names)]
        self.head_steps = int(head_steps)
        self.drop_frozen_gradients = drop_frozen_gradients

    def _apply(self, args, step: int) -> None:
        trainable = step >= self.head_steps or args.world_size > 1
        for parameter in self.parameters:
            parameter.requires_grad_(trainable)

    def on_train_begin(self, args, state, control, **kwargs):
        self._apply(args, state.global_step)

    def on_step_begin(self, args, state, control, **kwargs):
        if state.global_step == self.head_steps:
            self._apply(args, state.global_step)

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        if self.drop_frozen_gradients and state.global_step < self.head_steps:
            for parameter in self.parameters:
                parameter.grad = None


class CTCTrainer(Trainer):
    """``Trainer`` with the recipe's optimiser groups and schedule, length-grouped batches and greedy evaluation.

    Args:
        schedule: ``TwoPhaseSchedule`` or ``FrozenStartSchedule`` (``total_steps`` is filled in when
            training starts).
        head_names, body_names: parameter names trained from the start / after the frozen updates.
        train_lengths: samples per training example (for length-grouped batches without decoding audio).
        sentence_average: fairseq's ``sentence_avg``: the model sums the CTC loss over the batch
            (``config.ctc_loss_reduction == "sum"``) and the loss is divided by the batch's utterances.
        Other arguments: as ``Trainer``.
    """

    def __init__(
        self,
        *args,
        schedule: TwoPhaseSchedule | FrozenStartSchedule,
        head_names: list[str],
        body_names: list[str],
        train_lengths: list[int] | None = None,
        sentence_average: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.schedule = schedule
        self.head_names = list(head_names)
        self.body_names = list(body_names)
        self.train_lengths = train_lengths
        self.sentence_average = sentence_average
        # CTC losses are per-batch means (or, sentence_average, per-batch sums / utterances): let the
        # Trainer scale them for gradient accumulation.
        self.model_accepts_loss_kwargs = False

    def create_optimizer(self, model=None):
        if self.optimizer is None:
            model = self.model if model is None else model
            decay = set(self.get_decay_parameter_names(model))
            named = dict(model.named_parameters())
            groups = []
            for phase, names in (("head", self.head_names), ("body", self.body_names)):
                for decayed in (True, False):
                    params = [named[name] for name in names if (name in decay) == decayed]
                    if params:
                        weight_decay = self.args.weight_decay if decayed else 0.0
                        groups.append({"params": params, "weight_decay": weight_decay, "phase": phase})
            optimizer_class, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
            self.optimizer = optimizer_class(groups, **optimizer_kwargs)
        return self.optimizer

    def create_scheduler(self, num_training_steps: int, optimizer=None):
        if self.lr_scheduler is None:
            optimizer = optimizer if optimizer is not None else self.optimizer
            self.schedule = replace(self.schedule, total_steps=int(num_training_steps))
            factors = [
                self.schedule.head_factor if group.get("phase") == "head" else self.schedule.body_factor
                for group in optimizer.param_groups
            ]
            self.lr_scheduler = LambdaLR(optimizer, factors)
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def _get_train_sampler(self, train_dataset=None):
        if self.args.train_sampling_strategy == "group_by_length" and self.train_lengths is not None:
            return LengthGroupedSampler(
                self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths=self.train_lengths
            )
        return super()._get_train_sampler(train_dataset)

    def _get_eval_sampler(self, eval_dataset):
        if self.args.world_size <= 1:
            return SequentialSampler(eval_dataset)
        return super()._get_eval_sampler(eval_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        inputs = {key: value for key, value in inputs.items() if key != "input_lengths"}
        no_mask = _time_mask_that_fits(self.accelerator.unwrap_model(model), inputs["input_values"])
        if no_mask is not None:
            inputs["mask_time_indices"] = no_mask
        result = super().compute_loss(
            model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
        )
        if not self.sentence_average:
            return result
        utterances = inputs["input_values"].shape[0]
        if return_outputs:
            loss, outputs = result
            return loss / utterances, outputs
        return result / utterances

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        """Loss, greedy ids ``(B, T)`` (-100 past each utterance's frames) and labels.

        Logits come from ``ctc_logits``: each utterance is scored as if it were alone, so evaluation
        numbers equal what one-by-one inference and the pipeline give (group-norm models included).
        """
        inputs = self._prepare_inputs(inputs)
        labels = inputs.get("labels")
        values = inputs["input_values"]
        lengths = inputs.get("input_lengths")
        mask = inputs.get("attention_mask")
        if mask is None and lengths is not None:
            mask = (torch.arange(values.shape[1], device=values.device)[None, :] < lengths[:, None]).long()
        unwrapped = self.accelerator.unwrap_model(model)
        with torch.no_grad():
            logits, frames = ctc_logits(unwrapped, values, mask)
            loss = None
            if labels is not None:
                config = unwrapped.config
                loss = ctc_loss(
                    logits,
                    labels,
                    frames,
                    config.pad_token_id,
                    config.ctc_loss_reduction,
                    config.ctc_zero_infinity,
                ).detach()
                if self.sentence_average:
                    loss = loss / labels.shape[0]
        if prediction_loss_only:
            return loss, None, None
        return loss, greedy_ids(logits, frames, -100), labels


def _time_mask_that_fits(model, input_values: torch.Tensor) -> torch.Tensor | None:
    """An empty time mask for a wav2vec 2.0 batch shorter than one mask span, else ``None``.

    transformers refuses to draw time masks when the batch has fewer frames than ``mask_time_length``
    (a batch of 0.2 s words has 9 frames); such a batch is trained without time masking instead.
    """
    config = model.config
    if not (
        model.training and is_wav2vec2(config) and config.apply_spec_augment and config.mask_time_prob > 0
    ):
        return None
    frames = int(model._get_feat_extract_output_lengths(torch.tensor(input_values.shape[1])))
    if frames >= config.mask_time_length:
        return None
    return torch.zeros(input_values.shape[0], frames, dtype=torch.bool, device=input_values.device)


@dataclass
class FinetuneResult:
    """What ``finetune_ctc`` produced.

    Attributes:
        output_dir: the folder holding the model, processor and reports.
        metrics: final evaluation metrics (``eval_wer``, ``eval_cer``, ...; empty without evaluation data).
        train_metrics: the Trainer's training summary.
        vocabulary: the letter vocabulary.
        reports: data checks (skips, unknown characters) by name.
        seconds: wall time of the whole job.
    """

    output_dir: Path
    metrics: dict
    train_metrics: dict
    vocabulary: Vocabulary
    reports: dict = field(default_factory=dict)
    seconds: float = 0.0


def _open(
    path: str, *, transcripts, split, data_args: FinetuneDataArguments, rules: ValidationRules, name: str
):
    source = open_audio_source(
        path,
        rules=rules,
        on_bad=data_args.on_bad,
        transcripts=transcripts,
        split=split,
        audio_column=data_args.audio_column,
        text_column=data_args.text_column,
        name=name,
    )
    if not hasattr(source, "records"):
        raise ValueError(f"{path}: a streaming dataset; CTC fine-tuning needs a finite, validated data set.")
    return source


def _vocabulary(train_source, data_args: FinetuneDataArguments) -> Vocabulary:
    normalizer = data_args.normalizer()
    if data_args.vocabulary:
        return Vocabulary.from_json(data_args.vocabulary, normalizer)
    return Vocabulary.from_transcripts(
        (r.transcript for r in train_source.records if r.transcript), normalizer, source=train_source.name
    )


def _report_unknown(report: UnknownCharacterReport, policy: str) -> None:
    if not report.counts:
        return
    if policy == "raise":
        raise ValueError(report.summary() + "\n(--unknown_characters report counts them as errors instead)")
    logger.warning(report.summary())


def _run_facts(
    model, vocabulary: Vocabulary, train: CTCSet, evaluation: CTCSet | None, schedule, body_names
) -> RunFacts:
    labels = [i for ids in train.labels for i in ids]
    ratios = label_length_ratio(train)
    return RunFacts(
        peak_learning_rate=schedule.peak_learning_rate,
        head_learning_rate=schedule.head_learning_rate,
        head_steps=schedule.frozen_steps,
        total_steps=schedule.total_steps,
        body_trainable=bool(body_names),
        vocab_size=len(vocabulary),
        model_vocab_size=int(model.config.vocab_size),
        train_unknown_label_rate=labels.count(vocabulary.unknown_id) / max(len(labels), 1),
        eval_unknown_characters=evaluation.unknown.total if evaluation is not None else 0,
        dropped_too_short=int(train.dropped.counts.get(TOO_SHORT_FOR_LABELS, 0)),
        tight_alignment_rate=float((ratios > 0.8).mean()) if len(ratios) else 0.0,
    )


def _jsonable(value):
    if dataclasses.is_dataclass(value):
        value = dataclasses.asdict(value)
    return json.loads(json.dumps(value, default=str))


@dataclass
class _Data:
    """What the data steps produced: checked sets and their reports."""

    train_source: AudioSet
    eval_source: AudioSet | None
    on_bad: str = "raise"
    augment: WaveformAugmentation | None = None  # training audio only
    train: CTCSet | None = None
    evaluation: CTCSet | None = None
    reports: dict = field(default_factory=dict)


def _open_data(data_args: FinetuneDataArguments) -> _Data:
    """Open and validate the training and evaluation sources."""
    augment = data_args.augmentation()  # a malformed range fails before any file is read
    max_samples = (
        int(data_args.max_train_seconds * DEFAULT_SAMPLE_RATE) if data_args.max_train_seconds else None
    )
    rules = ValidationRules(require_transcript=True, max_samples=max_samples)
    # messages name a datasets object by its description, not its multi-line repr
    train_name = describe_source(data_args.train, data_args.train_split)
    train = _open(
        data_args.train, transcripts=data_args.transcripts, split=data_args.train_split, data_args=data_args,
        rules=rules, name=f"train {train_name}",
    )  # fmt: skip
    evaluation = None
    if data_args.eval:
        eval_name = describe_source(data_args.eval, data_args.eval_split)
        evaluation = _open(
            data_args.eval, transcripts=data_args.eval_transcripts, split=data_args.eval_split, data_args=data_args,
            rules=replace(rules, max_samples=None), name=f"eval {eval_name}",
        )  # fmt: skip
    return _Data(train, evaluation, on_bad=data_args.on_bad, augment=augment)


def _check_transcripts(
    data: _Data, vocabulary: Vocabulary, model, rate: int, data_args: FinetuneDataArguments
) -> None:
    """Encode and check every transcript (``prepare_ctc_set``); log and keep what was found."""

    def output_frames(samples: int) -> int:
        return int(model._get_feat_extract_output_lengths(torch.tensor(samples)))

    trailing = data_args.trailing_word_delimiter
    data.train = prepare_ctc_set(
        data.train_source, vocabulary, output_frames, target_rate=rate, on_bad=data_args.on_bad,
        trailing_delimiter=trailing,
    )  # fmt: skip
    if data.eval_source is not None:
        data.evaluation = prepare_ctc_set(
            data.eval_source, vocabulary, output_frames, target_rate=rate, on_bad=data_args.on_bad,
            trailing_delimiter=trailing,
        )  # fmt: skip
        _report_unknown(data.evaluation.unknown, data_args.unknown_characters)
    for name, source in (("train", data.train_source), ("eval", data.eval_source)):
        if source is not None and source.skip_report.failed_count:
            logger.warning(source.skip_report.summary())
            data.reports[f"{name}_skipped_audio"] = source.skip_report.to_dict()
    for name, ctc_set in (("train", data.train), ("eval", data.evaluation)):
        if ctc_set is not None:
            if ctc_set.dropped.failed_count:
                logger.warning(ctc_set.dropped.summary())
            data.reports[f"{name}_dropped"] = ctc_set.dropped.to_dict()
            data.reports[f"{name}_unknown_characters"] = ctc_set.unknown.to_dict()


def _settle_training_arguments(training_args, model, has_eval: bool, recipe_args: RecipeArguments) -> None:
    """Fill in what depends on the model and the data (auto learning rate, sampling, DDP)."""
    if training_args.learning_rate <= 0:
        training_args.learning_rate = auto_learning_rate(count_parameters(model))
        logger.info(
            "peak learning rate %.2g chosen for %d parameters",
            training_args.learning_rate,
            count_parameters(model),
        )
    if not has_eval:
        training_args.eval_strategy = "no"
        training_args.load_best_model_at_end = False
    if recipe_args.group_by_length:
        training_args.train_sampling_strategy = "group_by_length"
    if not torch.cuda.is_available():
        training_args.dataloader_pin_memory = False  # nothing to pin for (and torch warns at every loader)
    if training_args.world_size > 1 and training_args.ddp_find_unused_parameters is None:
        # LayerDrop skips layers and the head phase leaves the body without gradients: DDP must allow both.
        training_args.ddp_find_unused_parameters = True


def _build_trainer(
    model, feature_extractor, processor, vocabulary, data: _Data, args, recipe_args, options
) -> CTCTrainer:
    """The ``CTCTrainer`` with datasets, collator, metrics, schedule and callbacks."""
    rate, normalize = int(feature_extractor.sampling_rate), feature_extractor.do_normalize
    head_names, body_names = head_parameter_names(model), body_parameter_names(model, options)
    schedule = recipe_args.learning_rate_schedule(max(args.max_steps, 0), args.learning_rate)
    logger.info("schedule %s", schedule.describe())
    train_dataset = CTCDataset(
        data.train, target_rate=rate, normalize=normalize, on_bad=data.on_bad, augment=data.augment
    )
    eval_dataset = None
    freeze = HeadFirstCallback(
        model,
        body_names,
        schedule.frozen_steps,
        drop_frozen_gradients=isinstance(schedule, FrozenStartSchedule),
    )
    callbacks: list[TrainerCallback] = [freeze]
    if data.evaluation is not None:
        eval_dataset = CTCDataset(data.evaluation, target_rate=rate, normalize=normalize, on_bad=data.on_bad)
        if recipe_args.diagnostics:
            facts = _run_facts(model, vocabulary, data.train, data.evaluation, schedule, body_names)
            grace = max(schedule.frozen_steps, int(0.1 * max(args.max_steps, 0)))
            callbacks.append(PlateauCallback(facts, warmup_steps=grace, output_dir=args.output_dir))
    # The Trainer uses one collator for training and evaluation batches: its report covers both sets,
    # each file counted once however many epochs skip it.
    loaded = len(data.train) + (len(data.evaluation) if data.evaluation is not None else 0)
    collator = CTCCollator(
        return_attention_mask=bool(feature_extractor.return_attention_mask),
        skip_report=SkipReport(source="audio loaded for training and evaluation", seen=loaded),
    )
    return CTCTrainer(
        model=model,
        args=args,
        data_collator=collator,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        compute_metrics=CTCMetrics(processor.tokenizer) if eval_dataset is not None else None,
        callbacks=callbacks,
        schedule=schedule,
        head_names=head_names,
        body_names=body_names,
        train_lengths=train_dataset.lengths,
        sentence_average=options.ctc_loss_reduction == SENTENCE_REDUCTION,
    )


def _settle_recipe(
    recipe: ResolvedRecipe, data: _Data, feature_extractor, training_args, output_dir: Path
) -> ResolvedRecipe:
    """Fit a paper recipe to this launch and data: check the devices, set the per-device batch from the
    mean training utterance, warn about an input normalisation the recipe did not use, write ``recipe.json``.

    Raises:
        ValueError: the recipe was planned for another number of processes than this launch has.
    """
    planned, launched = recipe.batch.num_devices, int(training_args.world_size)
    if planned != launched:
        raise ValueError(
            f"recipe {recipe.name}: batch planned for --num_devices {planned} but this launch runs {launched} "
            f"process(es); drop --num_devices (it defaults to the launch's) or launch {planned} processes"
        )
    mean_seconds = data.train.audio.total_seconds / max(len(data.train), 1)
    if recipe.batch_size_from_data():
        recipe = recipe.with_train_batch(recipe.batch.per_device_utterances(mean_seconds), mean_seconds)
        training_args.per_device_train_batch_size = recipe.settings["per_device_train_batch_size"]
    else:
        recipe = replace(recipe, mean_utterance_seconds=mean_seconds)
    if bool(feature_extractor.do_normalize) != recipe.recipe.normalize:
        logger.warning(
            "recipe %s was run with normalize=%s (fairseq task.normalize) but this model's feature extractor "
            "has do_normalize=%s: is this the pretrained model the recipe is for (%s)?",
            recipe.name, recipe.recipe.normalize, feature_extractor.do_normalize, recipe.recipe.model,
        )  # fmt: skip
    for line in recipe.report_lines():
        logger.info(line)
    if training_args.process_index == 0:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / RECIPE_FILE).write_text(
            json.dumps(_jsonable(recipe.to_json()), indent=2) + "\n", encoding="utf-8"
        )
    return recipe


def _run_report(
    model_args,
    options,
    data_args,
    recipe_args,
    training_args,
    model,
    vocabulary,
    data,
    trainer,
    metrics,
    train_output,
    seconds,
    paper_recipe: ResolvedRecipe | None = None,
) -> FinetuningRecord:
    """The content of ``finetuning.json``; ``options`` are the model options as ``finetune_ctc`` resolved them."""
    return FinetuningRecord(
        model=model_args.model,
        model_class=type(model).__name__,
        parameters=count_parameters(model),
        generation="wav2vec2" if is_wav2vec2(model.config) else model.config.model_type,
        arguments=FinetuningArgumentsRecord(
            # freeze_feature_encoder as decided for this model (the argument may leave it to the default)
            model={**_jsonable(model_args), "freeze_feature_encoder": options.freeze_feature_encoder},
            data=_data_arguments(data_args),
            recipe=_jsonable(recipe_args),
            peak_learning_rate=training_args.learning_rate,
            max_steps=training_args.max_steps,
            batch_size=training_args.per_device_train_batch_size,
            gradient_accumulation_steps=training_args.gradient_accumulation_steps,
            adam_betas=[training_args.adam_beta1, training_args.adam_beta2],
            max_grad_norm=training_args.max_grad_norm,
            seed=training_args.seed,
        ),
        schedule={"kind": trainer.schedule.kind, "description": trainer.schedule.describe()},
        paper_recipe=paper_recipe.to_json() if paper_recipe is not None else None,
        datasets=_dataset_references(data_args),
        vocabulary=list(vocabulary.tokens),
        text_normalizer=vocabulary.normalizer.to_dict(),
        train_utterances=len(data.train),
        train_minutes=data.train.audio.total_seconds / 60,
        eval_utterances=len(data.evaluation) if data.evaluation is not None else 0,
        metrics=metrics,
        train_metrics=train_output.metrics,
        best_checkpoint=trainer.state.best_model_checkpoint,
        reports=data.reports,
        seconds=seconds,
        hardware=hardware_record(
            training_args.device.type,
            num_processes=training_args.world_size,
            mixed_precision="bf16" if training_args.bf16 else "fp16" if training_args.fp16 else "no",
        ),
    )


def _data_arguments(data_args: FinetuneDataArguments) -> dict:
    """The data arguments as recorded: a ``datasets`` object given instead of a path is named
    (``data.references.describe_source``), never written as its ``repr``."""
    recorded = _jsonable(replace(data_args, train=None, eval=None))
    recorded["train"] = describe_source(data_args.train, data_args.train_split)
    recorded["eval"] = describe_source(data_args.eval, data_args.eval_split)
    return recorded


def _dataset_references(data_args: FinetuneDataArguments) -> dict:
    """``{"train": ..., "eval": ...}``: each set's ``DatasetReference`` (name, Hub id only for Hub data)."""
    sources = (
        ("train", data_args.train, data_args.train_split),
        ("eval", data_args.eval, data_args.eval_split),
    )
    return {name: dataset_reference(source, split).to_dict() for name, source, split in sources if source}


def finetune_ctc(
    model_args: FinetuneModelArguments,
    data_args: FinetuneDataArguments,
    recipe_args: RecipeArguments,
    training_args: FinetuneTrainingArguments,
    *,
    resume_from_checkpoint: str | bool | None = None,
    recipe: ResolvedRecipe | None = None,
    hub_publisher: Callable | None = None,
) -> FinetuneResult:
    """Fine-tune ``model_args.model`` with CTC on ``data_args.train``; see the module docstring.

    ``resume_from_checkpoint`` (default: ``training_args.resume_from_checkpoint``): a checkpoint
    folder, or ``"last"`` / ``True`` for the newest one in ``output_dir`` (none there: start afresh).
    ``recipe``: the paper recipe the arguments were resolved with
    (``recipe_resolution.parse_finetune_arguments``); required when ``recipe_args.recipe`` is set.
    ``hub_publisher``: ``training_args -> (output_dir -> None) or None`` for ``--push_to_hub``, called
    before training (it checks the target and turns the ``Trainer``'s own pushing off); the command
    passes ``wav2vec_hf.hub.finetuned_publisher.publisher_for``. Fine-tuning itself knows no Hub.

    Raises:
        ValueError / DataValidationError: bad data (message names the files and the fix), unknown
            evaluation characters under ``--unknown_characters raise``.
        FileNotFoundError: the model is neither a folder nor a preset.
        PublishError: ``--push_to_hub`` refused before training (offline, no token, bad repo id) or
            the upload failed after it (the model is saved in ``output_dir`` either way).
    """
    started = time.perf_counter()
    if recipe_args.recipe and (recipe is None or recipe.name != recipe_args.recipe):
        raise ValueError(
            f"--recipe {recipe_args.recipe}: resolve the arguments with "
            "recipe_resolution.parse_finetune_arguments and pass its recipe to finetune_ctc"
        )
    output_dir = Path(training_args.output_dir)
    if training_args.push_to_hub and hub_publisher is None:
        raise ValueError(
            "--push_to_hub: finetune_ctc has no publisher for the model; pass "
            "hub_publisher=wav2vec_hf.hub.finetuned_publisher.publisher_for (the finetune command does)"
        )
    # --push_to_hub: checked now, before any training; the Trainer itself never pushes.
    publish = hub_publisher(training_args) if training_args.push_to_hub else None
    set_seed(training_args.seed)  # the new layers' initial weights, masks and batch order

    data = _open_data(data_args)
    vocabulary = _vocabulary(data.train_source, data_args)
    options = model_args.options().resolved(model_args.model)
    model, feature_extractor = build_ctc_model(model_args.model, vocabulary, options)
    processor = vocabulary.processor(feature_extractor)
    _check_transcripts(data, vocabulary, model, int(feature_extractor.sampling_rate), data_args)
    if recipe is not None:
        recipe = _settle_recipe(recipe, data, feature_extractor, training_args, output_dir)
    _settle_training_arguments(training_args, model, data.evaluation is not None, recipe_args)
    trainer = _build_trainer(
        model, feature_extractor, processor, vocabulary, data, training_args, recipe_args, options
    )
    logger.info(
        "fine-tuning %s (%s, %d parameters): %d training utterances (%.1f min), vocabulary of %d tokens",
        model_args.model, type(model).__name__, count_parameters(model), len(data.train),
        data.train.audio.total_seconds / 60, len(vocabulary),
    )  # fmt: skip

    resume = resolve_resume_checkpoint(
        output_dir,
        training_args.resume_from_checkpoint if resume_from_checkpoint is None else resume_from_checkpoint,
    )
    train_output = trainer.train(resume_from_checkpoint=resume)
    trainer.save_model()
    metrics = trainer.evaluate() if data.evaluation is not None else {}
    skipped = trainer.data_collator.skip_report
    if skipped.failed_count:
        logger.warning(skipped.summary())
        data.reports["skipped_while_loading"] = skipped.to_dict()

    if trainer.is_world_process_zero():
        vocabulary.normalizer.save(output_dir)
        run = _run_report(
            model_args, options, data_args, recipe_args, training_args, model, vocabulary, data, trainer,
            metrics, train_output, time.perf_counter() - started, recipe,
        )  # fmt: skip
        write_json(output_dir / RUN_FILE, _jsonable(run.to_dict()))
    if publish is not None:  # the package's card and upload plan: safetensors, no pickles
        publish(output_dir)
    return FinetuneResult(
        output_dir=output_dir,
        metrics=metrics,
        train_metrics=train_output.metrics,
        vocabulary=vocabulary,
        reports=data.reports,
        seconds=time.perf_counter() - started,
    )


__all__ = ["RUN_FILE", "CTCTrainer", "FinetuneResult", "HeadFirstCallback", "finetune_ctc"]
