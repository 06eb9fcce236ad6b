"""The run's own records, read back for the model card: what was trained, how, on what, for how long.

Every record is optional: a card says "not recorded" rather than guessing. Files read (JSON only;
``training_args.bin`` is a pickle and is never opened):

========================  ================================================================
file                      written by
========================  ================================================================
``conversion.json``       ``convert-fairseq``: source file, sha256, generation, num_updates
``finetuning.json``       ``finetune``: arguments, data sizes, final metrics, seconds
``trainer_state.json``    transformers' ``Trainer`` (top level, else the newest
                          ``checkpoint-N/``): steps, batch size, log history
``all_results.json``,     ``Trainer.save_metrics``: ``train_runtime``, ``eval_wer``, ...
``train_results.json``,
``eval_results.json``
``run_config.json``       ``pretrain``: the flat resolved arguments (``recipe.*``, ``training.*``)
``pretraining_summary``   ``pretrain``: updates, seconds, audio seconds, last validation
``.json``
``health.json``           ``pretrain``: collapse / divergence events
``evaluation.json``       WER / CER per eval set and decoder (schema in ``wav2vec_hf.hub.scores``)
``self_training.json``    the self-training round that trained the model (its presence marks
                          the model as self-trained)
========================  ================================================================

A ``hardware`` object (``{"device": ..., "num_processes": ..., "mixed_precision": ...}``) is read from
``finetuning.json``, ``pretraining_summary.json``, ``run_config.json`` or ``evaluation.json``, the first
that has one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from wav2vec_hf.convert.run_record import ConversionRecord
from wav2vec_hf.data.references import DatasetReference
from wav2vec_hf.finetuning.run_record import FinetuningRecord
from wav2vec_hf.hub.artefacts import ArtefactError, read_json_file
from wav2vec_hf.pretraining.arguments import run_config_key
from wav2vec_hf.pretraining.health import HealthSummary
from wav2vec_hf.pretraining.run_summary import summary_key
from wav2vec_hf.selftraining.run_record import SelfTrainingRecord

RECORD_FILES = {
    "conversion": "conversion.json",
    "finetuning": "finetuning.json",
    "trainer_state": "trainer_state.json",
    "all_results": "all_results.json",
    "train_results": "train_results.json",
    "eval_results": "eval_results.json",
    "run_config": "run_config.json",
    "pretraining_summary": "pretraining_summary.json",
    "health": "health.json",
    "evaluation": "evaluation.json",
    "self_training": "self_training.json",
}

Rows = list[tuple[str, str]]
"""Card table rows: (label, value as shown)."""

_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")
_REPR = re.compile(r"^(Iterable)?Dataset(Dict)?\(")  # how older records wrote a datasets object


@dataclass
class RunRecords:
    """The records found in a folder: ``content[name]`` is the parsed JSON of ``RECORD_FILES[name]``.

    Attributes:
        folder: the model folder.
        content: record name -> parsed JSON object (only the records that exist).
        paths: record name -> the file it came from (relative to ``folder``).
    """

    folder: Path
    content: dict[str, dict[str, Any]] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> dict[str, Any] | None:
        """The parsed record ``name`` (a key of ``RECORD_FILES``) or None."""
        return self.content.get(name)

    @cached_property
    def finetuning(self) -> FinetuningRecord | None:
        """``finetuning.json`` as its type, parsed once per folder (None when there is none)."""
        content = self.content.get("finetuning")
        return FinetuningRecord.from_dict(content) if content else None

    @cached_property
    def conversion(self) -> ConversionRecord | None:
        """``conversion.json`` as its type (None when there is none)."""
        content = self.content.get("conversion")
        return ConversionRecord.from_dict(content) if content else None

    @cached_property
    def self_training(self) -> SelfTrainingRecord | None:
        """``self_training.json`` as its type (None when there is none)."""
        content = self.content.get("self_training")
        return SelfTrainingRecord.from_dict(content) if content is not None else None

    @property
    def self_trained(self) -> bool:
        """A self-training record is present."""
        return self.self_training is not None


def read_run_records(folder: str | Path) -> RunRecords:
    """Read every record of ``RECORD_FILES`` that exists in ``folder``.

    Raises:
        ArtefactError: a record exists but is not a JSON object (the message names the file).
    """
    folder = Path(folder)
    records = RunRecords(folder=folder)
    for name, filename in RECORD_FILES.items():
        path = folder / filename
        if name == "trainer_state" and not path.is_file():
            path = _newest_checkpoint_file(folder, filename) or path
        if not path.is_file():
            continue
        content = read_json_file(path, f"the {name.replace('_', ' ')} record")
        if not isinstance(content, dict):
            raise ArtefactError(
                f"{path}: expected a JSON object, got {type(content).__name__}; fix or remove it."
            )
        records.content[name] = content
        records.paths[name] = path.relative_to(folder).as_posix()
    return records


def _newest_checkpoint_file(folder: Path, filename: str) -> Path | None:
    """``checkpoint-N/filename`` with the largest N (Trainer keeps its state only in checkpoints)."""
    candidates = []
    for child in folder.iterdir():
        match = _CHECKPOINT_DIR.match(child.name)
        if match and (child / filename).is_file():
            candidates.append((int(match.group(1)), child / filename))
    return max(candidates)[1] if candidates else None


# ------------------------------------------------------------------------------------------------
# Facts for the card
# ------------------------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A record value as shown in a card: floats with 4 significant digits, lists joined."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(format_value(item) for item in value) + ")"
    return table_cell(str(value))


def table_cell(text: str) -> str:
    """``text`` made safe for one Markdown table cell: no line breaks, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def format_duration(seconds: float) -> str:
    """``3725.0`` -> ``"1 h 2 min"``; ``42.3`` -> ``"42 s"``."""
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.1f} min"
    return f"{int(minutes // 60)} h {int(minutes % 60)} min"


def _rows(pairs: list[tuple[str, Any]]) -> Rows:
    return [(label, format_value(value)) for label, value in pairs if value is not None and value != ""]


def hyperparameters(records: RunRecords) -> Rows:
    """Training hyperparameters, from the most specific record present (fine-tuning, then Trainer,
    then pretraining, then a fairseq conversion)."""
    record = records.finetuning
    if record is not None:
        arguments = record.arguments
        head_first = record.schedule.get("kind") != "fairseq"
        return _rows(
            [
                *_paper_recipe_rows(record.paper_recipe),
                ("schedule", record.schedule.get("description")),
                ("peak learning rate", arguments.peak_learning_rate),
                ("updates", arguments.max_steps),
                ("batch size (utterances per device)", arguments.batch_size),
                ("head-only updates", arguments.recipe_option("head_steps") if head_first else None),
                ("head learning rate", arguments.recipe_option("head_learning_rate") if head_first else None),
                ("tri-stage ratios", arguments.recipe_option("tri_stage_ratios")),
                (
                    "time masking (p, length)",
                    _pair(
                        arguments.model_option("mask_time_prob"), arguments.model_option("mask_time_length")
                    ),
                ),
                ("LayerDrop", arguments.model_option("layerdrop")),
                ("feature encoder frozen", arguments.model_option("freeze_feature_encoder")),
                ("from scratch", arguments.model_option("from_scratch")),
                ("seed", arguments.seed),
            ]
        )
    state = records.get("trainer_state")
    if state:
        return _rows(
            [
                ("updates", state.get("max_steps") or state.get("global_step")),
                ("batch size", state.get("train_batch_size")),
                ("epochs", state.get("num_train_epochs")),
                ("peak learning rate", _max_logged(state, "learning_rate")),
            ]
        )
    run_config = records.get("run_config")
    if run_config:

        def pick(key: str):
            section, name = key.split(".", 1)
            return run_config.get(run_config_key(section, name))

        return _rows(
            [
                ("model preset", pick("model.preset")),
                ("recipe", pick("recipe.name")),
                ("updates", pick("recipe.max_steps")),
                ("peak learning rate", pick("recipe.learning_rate")),
                ("learning-rate schedule", pick("recipe.lr_scheduler")),
                ("warm-up fraction", pick("recipe.warmup_fraction")),
                ("Adam betas", pick("recipe.adam_betas")),
                ("weight decay", pick("recipe.weight_decay")),
                ("samples per batch (max)", pick("recipe.max_batch_samples")),
                ("crop (samples)", pick("recipe.crop_samples")),
                ("update frequency", pick("recipe.update_freq")),
                ("Gumbel temperature (start, end, decay)", pick("recipe.gumbel_temperature")),
                ("feature-encoder gradient scale", pick("recipe.feature_grad_mult")),
                ("mixed precision", pick("training.mixed_precision")),
                ("seed", pick("training.seed")),
            ]
        )
    if records.conversion is not None:
        return _fairseq_hyperparameters(records.conversion.fairseq_config or {})
    return []


def _paper_recipe_rows(paper_recipe: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """The paper recipe a fine-tuning run applied (``finetuning.json``'s ``paper_recipe``) and its overrides."""
    if not paper_recipe:
        return []
    source = (paper_recipe.get("fairseq") or {}).get("source")
    overrides = paper_recipe.get("overrides") or {}
    changed = ", ".join(
        f"{key} {values.get('given')!r} (recipe {values.get('recipe')!r})"
        for key, values in overrides.items()
    )
    return [
        (
            "paper recipe",
            f"{paper_recipe.get('recipe')} ({source})" if source else paper_recipe.get("recipe"),
        ),
        ("recipe overrides", changed or "none"),
    ]


def _fairseq_hyperparameters(config: dict[str, Any]) -> Rows:
    """From ``conversion.json``'s ``fairseq_config``: the 2019/2020 ``args`` namespace (wav2vec,
    vq-wav2vec: optimisation included) or the wav2vec 2.0 model / criterion sections."""
    args, model, criterion = (
        config.get("args") or {},
        config.get("model") or {},
        config.get("criterion") or {},
    )
    learning_rate = args.get("lr")
    if isinstance(learning_rate, list) and learning_rate:
        learning_rate = learning_rate[0]
    return _rows(
        [
            ("optimizer", args.get("optimizer")),
            ("learning rate", learning_rate),
            ("max learning rate", args.get("max_lr")),
            ("learning-rate schedule", args.get("lr_scheduler")),
            ("warm-up updates", args.get("warmup_updates")),
            ("updates (max_update)", args.get("max_update")),
            ("Adam betas", args.get("adam_betas")),
            ("gradient clipping", args.get("clip_norm")),
            ("samples per GPU batch (max_tokens)", args.get("max_tokens")),
            ("crop (max_sample_size)", args.get("max_sample_size")),
            ("prediction steps", args.get("prediction_steps")),
            ("negatives", args.get("num_negatives") or model.get("num_negatives")),
            ("mask probability", model.get("mask_prob")),
            ("mask length", model.get("mask_length")),
            ("codebooks x entries", _pair(model.get("latent_groups"), model.get("latent_vars"))),
            ("Gumbel temperature (start, end, decay)", model.get("latent_temp") or args.get("vq_temp")),
            ("logit temperature", model.get("logit_temp")),
            ("LayerDrop", model.get("encoder_layerdrop")),
            ("feature-encoder gradient scale", model.get("feature_grad_mult")),
            ("loss weights", criterion.get("loss_weights")),
            ("seed", args.get("seed")),
        ]
    )


def run_facts(records: RunRecords) -> Rows:
    """Size and duration of the run: updates done, wall-clock time, audio processed, data sizes."""
    rows: list[tuple[str, Any]] = []
    record = records.finetuning
    if record is not None:
        rows += [
            ("training utterances", record.train_utterances),
            ("labelled audio (min)", record.train_minutes),
            ("evaluation utterances", record.eval_utterances or None),
            ("parameters", record.parameters),
        ]
        if record.seconds is not None:
            rows.append(("training time", format_duration(record.seconds)))
    self_training = records.self_training
    if self_training is not None:
        rows += [
            ("self-training round", self_training.round),
            ("pseudo-labelled utterances", self_training.pseudo_labels_kept),
            ("pseudo-labels decoded", self_training.pseudo_labels_total),
        ]
    summary = records.get("pretraining_summary")
    if summary:
        rows.append(("updates", summary.get(summary_key("updates"))))
        if summary.get(summary_key("seconds")) is not None:
            rows.append(("training time", format_duration(summary[summary_key("seconds")])))
        if summary.get(summary_key("audio_seconds")):
            rows.append(("audio processed (h)", summary[summary_key("audio_seconds")] / 3600))
        if summary.get(summary_key("interrupted")):
            rows.append(("interrupted", True))
    train_results = records.get("train_results") or records.get("all_results")
    if train_results and records.finetuning is None and train_results.get("train_runtime") is not None:
        rows.append(("training time", format_duration(train_results["train_runtime"])))
    conversion = records.conversion
    if conversion is not None:
        rows += [
            ("converted from", conversion.source_file),
            ("source sha256", conversion.source_sha256),
            ("fairseq updates", conversion.num_updates),
        ]
    return _rows(rows)


def hardware(records: RunRecords) -> Rows:
    """The ``hardware`` object of the first record that has one, as rows (empty when none does)."""
    for name in ("finetuning", "pretraining_summary", "run_config", "evaluation"):
        if name == "finetuning":
            found = records.finetuning.hardware if records.finetuning is not None else None
        else:
            found = (records.get(name) or {}).get("hardware")
        if isinstance(found, dict) and found:
            return _rows([(str(key).replace("_", " "), value) for key, value in found.items()])
        if isinstance(found, str) and found:
            return [("hardware", found)]
    args = records.conversion.fairseq_args if records.conversion is not None else {}
    return _rows(
        [
            ("GPUs (fairseq distributed_world_size)", args.get("distributed_world_size")),
            ("mixed precision", "fp16" if args.get("fp16") else None),
        ]
    )


def finetuning_dataset(record: FinetuningRecord | None, name: str) -> DatasetReference | None:
    """The ``"train"`` or ``"eval"`` set of a ``finetuning.json`` record, or None when it has none.

    Read from the record's ``datasets`` (``data.references.DatasetReference``: a Hub id only for data
    that came from the Hub); a record written before ``datasets`` existed gives the file or folder name
    of its ``arguments.data`` path, and "in-memory dataset" for the ``repr`` such records hold for a
    ``datasets`` object, never a Hub id.
    """
    if record is None:
        return None
    recorded = record.datasets.get(name)
    if isinstance(recorded, dict) and recorded.get("name"):
        return DatasetReference.from_dict(recorded)
    data = record.arguments.data
    source, split = data.get(name), data.get(f"{name}_split")
    if not source:
        return None
    text = str(source)
    if _REPR.match(text):
        return DatasetReference(name="in-memory dataset", split=split)
    return DatasetReference(name=Path(text).name or text, split=split)


def training_dataset_ids(records: RunRecords) -> list[str]:
    """Hub ids of the fine-tuning's training data (empty unless it came from the Hub)."""
    reference = finetuning_dataset(records.finetuning, "train")
    return [reference.hub_id] if reference is not None and reference.hub_id else []


def training_data(records: RunRecords) -> Rows:
    """Where the training (and evaluation) data came from, as the run recorded it."""
    finetuning = records.finetuning
    if finetuning is not None:
        data = finetuning.arguments.data
        rows = []
        for label, name in (("labelled training data", "train"), ("evaluation data", "eval")):
            reference = finetuning_dataset(finetuning, name)
            if reference is None:
                continue
            given = data.get(name)  # a path as the run was given it
            shown = reference.hub_id or (given if given and not _REPR.match(str(given)) else reference.name)
            rows.append((label, _with_split(shown, reference.split)))
        return _rows(rows)
    run_config = records.get("run_config")
    if run_config:
        return _rows(
            [
                (
                    "unlabelled training audio",
                    _with_split(
                        run_config.get(run_config_key("data", "train")),
                        run_config.get(run_config_key("data", "train_split")),
                    ),
                ),
                (
                    "validation audio",
                    _with_split(
                        run_config.get(run_config_key("data", "valid")),
                        run_config.get(run_config_key("data", "valid_split")),
                    ),
                ),
            ]
        )
    if records.conversion is not None:
        task = records.conversion.fairseq_task
        return _rows([("fairseq task", task.get("_name")), ("audio normalised", task.get("normalize"))])
    return []


def pretraining_quality(records: RunRecords) -> Rows:
    """The last pretraining validation (and training) metrics and the health verdict."""
    summary = records.get("pretraining_summary") or {}
    rows: list[tuple[str, Any]] = []
    for prefix, metrics in (
        ("validation", summary.get(summary_key("last_valid"))),
        ("training", summary.get(summary_key("last_train"))),
    ):
        if isinstance(metrics, dict):
            rows += [
                (f"{prefix} {key.replace('_', ' ')}", value)
                for key, value in metrics.items()
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "update"
            ]
    health = HealthSummary.from_dict(records.get("health") or summary.get(summary_key("health")))
    if health is not None:
        rows.append(
            ("health", "healthy" if health.healthy else "warnings: " + ", ".join(health.event_kinds()))
        )
    return _rows(rows)


def base_model_reference(records: RunRecords) -> str | None:
    """The model the fine-tuning started from, as recorded (a Hub id or a local path)."""
    record = records.finetuning or FinetuningRecord()
    model = record.model or record.arguments.model_option("model")
    return str(model) if model else None


def _pair(first: Any, second: Any) -> tuple[Any, Any] | None:
    return None if first is None or second is None else (first, second)


def _with_split(source: Any, split: Any) -> str | None:
    if not source:
        return None
    return f"{source} (split {split})" if split else str(source)


def _max_logged(state: dict[str, Any], key: str) -> float | None:
    values = [
        entry[key] for entry in state.get("log_history") or () if isinstance(entry, dict) and key in entry
    ]
    return max(values) if values else None


__all__ = [
    "RECORD_FILES",
    "Rows",
    "RunRecords",
    "base_model_reference",
    "finetuning_dataset",
    "format_duration",
    "format_value",
    "hardware",
    "hyperparameters",
    "pretraining_quality",
    "read_run_records",
    "run_facts",
    "table_cell",
    "training_data",
    "training_dataset_ids",
]
