"""Command-line arguments of ``scripts/pretrain.py``, merged over the preset's training recipe.

Three ``HfArgumentParser`` dataclasses (``PretrainingModelArguments``, ``PretrainingDataArguments``, ``PretrainingTrainingArguments``)
hold every option. A YAML/JSON file given with ``--config FILE`` supplies values for any of their
fields (flat, or nested under ``model:`` / ``data:`` / ``training:``); options on the command line win.

Fields left at ``None`` are filled from the **recipe** of the preset: ``presets.get_recipe(name)``
(``pretraining.training_recipes.PretrainingRecipe``, carried by the preset itself) holds the
training settings that are not part of the model config (learning rate and schedule, warm-up,
crops and batch size, feature-encoder gradient scale, Gumbel schedule, segment concatenation, ...),
so ``--preset wav2vec2-base`` alone reproduces fairseq's BASE run. Without a preset (``--model-config``
or ``--init-from``) the model type's default recipe is used (``DEFAULT_RECIPE``).

``--init_from DIR`` continues a model: when ``DIR`` holds ``pretraining_state.json`` (written by
``convert-fairseq`` and by the loop's exports, see ``pretraining.pretraining_state``), its recipe replaces
the preset's (or the default) recipe field by field, and the run starts at its ``num_updates`` (so the
learning-rate and Gumbel schedules go on; ``--max_steps`` is the total, not the updates to add). Every
option given that changes one of its values is reported and kept in ``PretrainingConfig.overrides``.

Precedence, lowest first: dataclass default < recipe (preset or default) < the ``--init_from``
folder's record < config file < command line.
"""

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wav2vec_hf.json_files import record_field
from wav2vec_hf.pretraining.training_recipes import LR_SCHEDULERS, PretrainingRecipe

MODEL_TYPES = ("wav2vec", "vq-wav2vec", "wav2vec2", "units-bert")
MIXED_PRECISION = ("no", "fp16", "bf16")


DEFAULT_RECIPE = {
    "wav2vec2": "wav2vec2-base",
    "wav2vec": "wav2vec-base",
    "vq-wav2vec": "vq-wav2vec-gumbel",
    "units-bert": "units-bert-base",
}
"""The preset whose recipe a run without one uses (``--model-config`` / ``--init-from``)."""


@dataclass
class PretrainingModelArguments:
    """What to train."""

    model_type: str | None = field(
        default=None,
        metadata={"help": "wav2vec | vq-wav2vec | wav2vec2 | units-bert", "choices": MODEL_TYPES},
    )
    preset: str | None = field(
        default=None, metadata={"help": "named model + recipe (wav2vec_hf.presets), e.g. wav2vec2-base"}
    )
    model_config: str | None = field(
        default=None, metadata={"help": "a config.json (or a folder holding one) for a fresh model"}
    )
    init_from: str | None = field(
        default=None,
        metadata={
            "help": "a save_pretrained folder (e.g. a converted fairseq checkpoint) to continue pretraining: "
            "its pretraining_state.json gives the recipe and the update to start at"
        },
    )
    reset_updates: bool = field(
        default=False,
        metadata={
            "help": "with --init_from: start at update 0 (new warm-up, Gumbel temperature from its start) "
            "instead of the folder's num_updates"
        },
    )
    config_overrides: str | None = field(
        default=None,
        metadata={"help": "model config changes as JSON or key=value,key=value (e.g. layerdrop=0.1)"},
    )
    quantizer: str | None = field(
        default=None, metadata={"help": "units-bert: folder of a trained vq-wav2vec that tokenises the audio"}
    )
    gradient_checkpointing: bool = field(
        default=False, metadata={"help": "wav2vec2: recompute Transformer layers in the backward pass"}
    )
    attn_implementation: str = field(
        default="sdpa", metadata={"help": "wav2vec2 / units-bert attention: sdpa | eager | flash_attention_2"}
    )


@dataclass
class PretrainingDataArguments:
    """Where the audio comes from and how it is batched (None: from the recipe)."""

    train: str | None = field(
        default=None, metadata={"help": "training audio: fairseq manifest, table, folder or saved HF dataset"}
    )
    valid: str | None = field(default=None, metadata={"help": "validation audio (same kinds)"})
    train_split: str | None = field(default=None, metadata={"help": "split of a saved DatasetDict"})
    valid_split: str | None = field(default=None, metadata={"help": "split of a saved DatasetDict"})
    on_bad: str = field(
        default="raise",
        metadata={
            "help": "bad audio: raise (one error before training) | skip (count, report at the end)",
            "choices": ("raise", "skip"),
        },
    )
    max_batch_samples: int | None = field(
        default=None, metadata={"help": "batch x padded samples per micro-batch (fairseq max_tokens)"}
    )
    max_batch_size: int | None = field(default=None, metadata={"help": "utterances per micro-batch, at most"})
    crop_samples: int | None = field(
        default=None, metadata={"help": "random crop to at most this many samples (0: no crop)"}
    )
    min_samples: int | None = field(default=None, metadata={"help": "drop (or refuse) shorter utterances"})
    crop_to_shortest: bool | None = field(
        default=None, metadata={"help": "crop every batch to its shortest utterance (no padding)"}
    )
    segment_seconds: float | None = field(
        default=None, metadata={"help": "concatenate utterances into segments of this length (0: off)"}
    )
    normalize: bool | None = field(default=None, metadata={"help": "zero mean / unit variance per utterance"})
    num_buckets: int | None = field(default=None, metadata={"help": "length buckets (None: sorted packing)"})
    num_workers: int | None = field(
        default=None,
        metadata={
            "help": "DataLoader worker processes, kept for the run (default: 0 on CPU; on a GPU the CPU "
            "cores per process minus one, at most 8)"
        },
    )
    cache_audio: bool = field(
        default=False, metadata={"help": "keep decoded audio in memory (small corpora: no re-decoding)"}
    )
    max_valid_batches: int | None = field(default=None, metadata={"help": "evaluate on at most this many"})
    streaming: bool = field(
        default=False,
        metadata={
            "help": "--train is a folder (or glob) of Parquet / Arrow / WebDataset tar shards, read as a stream: no listing "
            "or validation up front; resumes at the exact batch (same processes and --num_workers)"
        },
    )
    shuffle_buffer: int = field(
        default=1000, metadata={"help": "with --streaming: examples held for shuffling (1: stream order)"}
    )


@dataclass
class PretrainingTrainingArguments:
    """How to train (None: from the recipe)."""

    output_dir: str | None = field(default=None, metadata={"help": "checkpoints, logs, plots, the export"})
    max_steps: int | None = field(default=None, metadata={"help": "updates to run"})
    seed: int = field(default=1, metadata={"help": "seed of the initialisation, data order, masks"})
    learning_rate: float | None = None
    lr_scheduler: str | None = field(default=None, metadata={"choices": LR_SCHEDULERS})
    warmup_steps: int | None = None
    warmup_fraction: float | None = None
    end_learning_rate: float | None = None
    weight_decay: float | None = None
    adam_beta1: float | None = None
    adam_beta2: float | None = None
    adam_epsilon: float | None = None
    max_grad_norm: float | None = field(default=None, metadata={"help": "clip threshold (0: no clipping)"})
    update_freq: int | None = field(
        default=None, metadata={"help": "micro-batches per update and process (gradient accumulation)"}
    )
    mixed_precision: str | None = field(
        default=None,
        metadata={"help": "no | fp16 | bf16 (default: accelerate config)", "choices": MIXED_PRECISION},
    )
    gumbel_start: float | None = None
    gumbel_end: float | None = None
    gumbel_decay: float | None = None
    gumbel_floor_fraction: float | None = field(
        default=None, metadata={"help": "reach the Gumbel floor at this fraction of the run (0: paper decay)"}
    )
    feature_grad_mult: float | None = None
    feature_penalty_weight: float | None = None
    require_same_masks: bool | None = field(
        default=None,
        metadata={"help": "wav2vec2: equal masked-frame counts per utterance (the batch's fewest; fairseq)"},
    )
    compile: bool = field(default=False, metadata={"help": "torch.compile the train step (GPU)"})
    save_steps: int = field(
        default=1000, metadata={"help": "checkpoint every N updates (0: only at the end)"}
    )
    keep_checkpoints: int = field(default=2, metadata={"help": "keep the last K checkpoints"})
    resume: bool = field(
        default=False, metadata={"help": "continue from the latest checkpoint in output_dir"}
    )
    resume_from: str | None = field(default=None, metadata={"help": "continue from this checkpoint folder"})
    export_steps: int = field(
        default=0, metadata={"help": "save_pretrained export every N updates (0: end only)"}
    )
    export_only: bool = field(
        default=False, metadata={"help": "load the latest checkpoint, write the export, stop"}
    )
    eval_steps: int = field(
        default=0, metadata={"help": "validate every N updates (0: at the start and end)"}
    )
    push_to_hub: bool = field(
        default=False,
        metadata={"help": "upload every export (--export_steps and the final one) in the background"},
    )
    hub_model_id: str | None = field(default=None, metadata={"help": "org/name of the Hub repo"})
    hub_private_repo: bool = field(default=False, metadata={"help": "create the Hub repo private"})
    hub_revision: str | None = field(
        default=None, metadata={"help": "Hub branch to commit to (default main)"}
    )
    report_to: str = field(
        default="tensorboard",
        metadata={
            "help": "accelerate trackers: tensorboard (the [tensorboard] extra), wandb, trackio, all, none"
        },
    )
    plots: bool = field(
        default=True, metadata={"help": "PNG curves at the end (the [plots] extra: matplotlib)"}
    )
    progress_bar: bool = field(default=True, metadata={"help": "tqdm bar with the key numbers"})
    max_nonfinite_updates: int = field(
        default=20, metadata={"help": "stop after this many consecutive NaN/inf updates (each is skipped)"}
    )
    log_module_grad_norms: bool = field(
        default=False,
        metadata={"help": "log the gradient norm of each part of the model (grad_norm/<part>) every update"},
    )
    health_patience: int = field(default=50, metadata={"help": "updates a collapse sign must last"})
    stop_on_collapse: bool = field(default=False, metadata={"help": "stop when collapse is detected"})
    stop_after_steps: int | None = field(
        default=None,
        metadata={
            "help": "simulate a kill: end abruptly after N updates of this process (tests, pre-emption)"
        },
    )


@dataclass
class PretrainingConfig:
    """Everything a run needs, recipe applied (``resolve_arguments``). ``recipe`` is the merged recipe."""

    model: PretrainingModelArguments
    data: PretrainingDataArguments
    training: PretrainingTrainingArguments
    recipe: PretrainingRecipe
    recipe_name: str
    start_update: int = 0
    """The update the run starts at: the ``--init_from`` folder's ``num_updates`` (0 for a new model
    or with ``--reset_updates``). ``--resume`` replaces it with its checkpoint's update."""
    init_state: str | None = None
    """The ``pretraining_state.json`` the recipe was read from, if any."""
    overrides: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    """Options that changed a value of ``init_state``: ``{"field", "checkpoint", "value", "option"}``."""

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-ready view (for trackers and ``run_config.json``)."""
        flat: dict[str, Any] = {}
        for prefix, part in (("model", self.model), ("data", self.data), ("training", self.training)):
            for key, value in dataclasses.asdict(part).items():
                flat[f"{prefix}.{key}"] = value
        for key, value in dataclasses.asdict(self.recipe).items():
            flat[f"recipe.{key}"] = list(value) if isinstance(value, tuple) else value
        flat["recipe.name"] = self.recipe_name
        flat["init.start_update"] = self.start_update
        flat["init.state_file"] = self.init_state
        flat["init.overrides"] = self.overrides
        return flat

    @property
    def warmup_steps(self) -> int:
        recipe = self.recipe
        if recipe.warmup_steps is not None:
            return int(recipe.warmup_steps)
        return math.ceil(recipe.warmup_fraction * recipe.max_steps)

    def gumbel_schedule(self, default: tuple[float, float, float] | None = None):
        """The run's ``GumbelSchedule``: the recipe's (or ``default``, the model config's) with
        ``gumbel_floor_fraction`` applied; None when neither gives one."""
        from wav2vec_hf.pretraining.schedules import GumbelSchedule

        schedule = self.recipe.gumbel_temperature or default
        if schedule is None:
            return None
        start, end, decay = (float(value) for value in schedule)
        fraction = self.recipe.gumbel_floor_fraction
        if fraction:
            return GumbelSchedule.scaled_to(start, end, fraction * self.recipe.max_steps)
        return GumbelSchedule(start, end, decay)


_RECIPE_FROM_TRAINING = (
    "learning_rate",
    "lr_scheduler",
    "warmup_steps",
    "warmup_fraction",
    "end_learning_rate",
    "weight_decay",
    "adam_epsilon",
    "max_grad_norm",
    "update_freq",
    "feature_grad_mult",
    "feature_penalty_weight",
    "require_same_masks",
    "gumbel_floor_fraction",
    "max_steps",
)
_RECIPE_FROM_DATA = (
    "max_batch_samples",
    "max_batch_size",
    "crop_samples",
    "min_samples",
    "crop_to_shortest",
    "segment_seconds",
    "normalize",
)


def resolve_arguments(
    model: PretrainingModelArguments, data: PretrainingDataArguments, training: PretrainingTrainingArguments
) -> PretrainingConfig:
    """Check the arguments and merge them over the preset's recipe.

    Raises:
        ValueError: a required option is missing or options contradict each other (the message says which).
    """
    if model.model_type is None:
        raise ValueError(f"--model_type is required: one of {', '.join(MODEL_TYPES)}.")
    if model.model_type not in MODEL_TYPES:
        raise ValueError(f"--model_type {model.model_type!r}: choose one of {', '.join(MODEL_TYPES)}.")
    if model.preset:
        from wav2vec_hf.presets import list_presets

        if model.preset not in list_presets():  # found here, not as a KeyError once training starts
            raise ValueError(
                f"--preset {model.preset!r}: no such preset; choose one of {', '.join(list_presets())}."
            )
    sources = [name for name in ("preset", "model_config", "init_from") if getattr(model, name)]
    if not sources:
        raise ValueError("say which model to train: --preset NAME, --model_config FILE or --init_from DIR.")
    if model.model_config and model.init_from:
        raise ValueError("--model_config and --init_from both give the model; pass one of them.")
    if training.push_to_hub and not training.hub_model_id:
        raise ValueError(
            "--push_to_hub needs --hub_model_id org/name (the Hub repo to upload the exports to)."
        )
    if training.output_dir is None:
        raise ValueError("--output_dir is required (checkpoints, logs and the exported model go there).")
    if not training.export_only and data.train is None:
        raise ValueError("--train is required: a fairseq manifest, table, audio folder or saved dataset.")
    if model.model_type == "units-bert" and not model.quantizer and not model.init_from:
        raise ValueError(
            "units-bert needs --quantizer DIR: a trained vq-wav2vec folder that turns audio into units."
        )

    from wav2vec_hf.presets import get_recipe

    recipe_name = model.preset or DEFAULT_RECIPE[model.model_type]
    recipe = get_recipe(recipe_name)
    state = None
    if model.init_from:
        from wav2vec_hf.pretraining.pretraining_state import read_pretraining_state

        state = read_pretraining_state(model.init_from)
    if state is not None:
        # The folder's own recipe wins over the preset's / default one; they fill what it lacks.
        recipe = dataclasses.replace(
            recipe, **state.recipe, source=f"{state.path} ({state.source}); the rest from {recipe_name}"
        )
    changes: dict[str, Any] = {}
    for name in _RECIPE_FROM_TRAINING:
        value = getattr(training, name)
        if value is not None:
            changes[name] = value
    if training.warmup_fraction is not None and training.warmup_steps is None:
        changes["warmup_steps"] = None  # an explicit fraction replaces the recipe's fixed warm-up
    for name in _RECIPE_FROM_DATA:
        value = getattr(data, name)
        if value is not None:
            changes[name] = value
    if changes.get("crop_samples") == 0:
        changes["crop_samples"] = None
    if changes.get("segment_seconds") == 0:
        changes["segment_seconds"] = None
    if changes.get("gumbel_floor_fraction") == 0:
        changes["gumbel_floor_fraction"] = None
    betas = list(recipe.adam_betas)
    if training.adam_beta1 is not None:
        betas[0] = training.adam_beta1
    if training.adam_beta2 is not None:
        betas[1] = training.adam_beta2
    changes["adam_betas"] = tuple(betas)
    gumbel = recipe.gumbel_temperature
    if any(v is not None for v in (training.gumbel_start, training.gumbel_end, training.gumbel_decay)):
        base = gumbel or (2.0, 0.5, 0.999995)
        gumbel = (
            training.gumbel_start if training.gumbel_start is not None else base[0],
            training.gumbel_end if training.gumbel_end is not None else base[1],
            training.gumbel_decay if training.gumbel_decay is not None else base[2],
        )
        changes["gumbel_temperature"] = gumbel
    overrides = _overrides_of(state, changes, training) if state is not None else []
    recipe = dataclasses.replace(recipe, **changes)
    _check_recipe(recipe, model.model_type)
    start_update = state.num_updates if state is not None and not model.reset_updates else 0
    if start_update >= recipe.max_steps:
        raise ValueError(
            f"--init_from {model.init_from}: the model has done {start_update} updates and its run's "
            f"total is {recipe.max_steps} (max_steps), so nothing is left to do. Pass --max_steps N above "
            f"{start_update} (the total, not the updates to add), or --reset_updates to start the schedules "
            "at update 0."
        )
    return PretrainingConfig(
        model=model,
        data=data,
        training=training,
        recipe=recipe,
        recipe_name=recipe_name,
        start_update=start_update,
        init_state=str(state.path) if state is not None else None,
        overrides=overrides,
    )


_OPTION_OF_FIELD = {
    "adam_betas": "--adam_beta1 / --adam_beta2",
    "gumbel_temperature": "--gumbel_start / --gumbel_end / --gumbel_decay",
}


def _overrides_of(
    state, changes: dict[str, Any], training: PretrainingTrainingArguments
) -> list[dict[str, Any]]:
    """The options (command line or ``--config``) that change a value of the ``--init_from`` record;
    each is logged as a warning."""
    import logging

    logger = logging.getLogger(__name__)
    overrides = []
    for name, value in changes.items():
        if name not in state.recipe or _same(state.recipe[name], value):
            continue
        option = _OPTION_OF_FIELD.get(name, f"--{name}")
        if name == "warmup_steps" and value is None:
            option = f"--warmup_fraction {training.warmup_fraction}"
        overrides.append(
            {
                "field": name,
                "checkpoint": _plain(state.recipe[name]),
                "value": _plain(value),
                "option": option,
            }
        )
        logger.warning(
            "overriding the checkpoint's %s %s with %s (%s; the checkpoint's value is in %s)",
            name,
            _plain(state.recipe[name]),
            _plain(value),
            option,
            state.path,
        )
    return overrides


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _check_recipe(recipe: PretrainingRecipe, model_type: str) -> None:
    if recipe.lr_scheduler not in LR_SCHEDULERS:
        raise ValueError(f"--lr_scheduler {recipe.lr_scheduler!r}: choose one of {', '.join(LR_SCHEDULERS)}.")
    if recipe.max_steps < 1:
        raise ValueError(f"--max_steps {recipe.max_steps}: give at least 1 update.")
    if recipe.update_freq < 1:
        raise ValueError(f"--update_freq {recipe.update_freq}: give at least 1 micro-batch per update.")
    if recipe.learning_rate <= 0:
        raise ValueError(f"--learning_rate {recipe.learning_rate}: must be positive.")
    if recipe.max_batch_samples < 1:
        raise ValueError(f"--max_batch_samples {recipe.max_batch_samples}: must be positive.")
    if recipe.gumbel_floor_fraction is not None and not 0 < recipe.gumbel_floor_fraction <= 1:
        raise ValueError(f"--gumbel_floor_fraction {recipe.gumbel_floor_fraction}: give a value in (0, 1].")
    if (
        model_type in ("wav2vec", "vq-wav2vec")
        and not recipe.crop_to_shortest
        and recipe.segment_seconds is None
    ):
        raise ValueError(
            f"{model_type} has no padding mask (group norm over the whole utterance): keep --crop_to_shortest "
            "on, or use --segment_seconds."
        )


def parse_config_overrides(text: str | None) -> dict[str, Any]:
    """``'{"a": 1}'`` or ``'a=1,b=true,c=[1,2]'`` -> dict (values parsed as JSON when they are JSON)."""
    if not text:
        return {}
    text = text.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"--config_overrides is not valid JSON: {error}") from None
        return dict(value)
    result: dict[str, Any] = {}
    for item in _split_top_level(text):
        if "=" not in item:
            raise ValueError(f"--config_overrides item {item!r}: write key=value (e.g. layerdrop=0.1).")
        key, raw = item.split("=", 1)
        try:
            result[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            result[key.strip()] = raw.strip()
    return result


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside brackets: ``a=1,b=[1,2]`` -> ``["a=1", "b=[1,2]"]``."""
    items, depth, current = [], 0, []
    for char in text:
        if char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        items.append("".join(current))
    return [item for item in (i.strip() for i in items) if item]


def load_config_file(path: str) -> dict[str, Any]:
    """Read a YAML/JSON run config: flat keys, or nested under ``model`` / ``data`` / ``training``.

    Keys may use dashes or underscores. Raises ``ValueError`` naming the file for unknown keys.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"--config {path}: no such file.")
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() == ".json":
        content = json.loads(text)
    else:
        import yaml

        content = yaml.safe_load(text)
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ValueError(f"--config {path}: the file must hold a mapping of option names to values.")
    flat: dict[str, Any] = {}
    for key, value in content.items():
        if key in ("model", "data", "training") and isinstance(value, dict):
            flat.update({k.replace("-", "_"): v for k, v in value.items()})
        else:
            flat[key.replace("-", "_")] = value
    known = {
        f.name
        for cls in (PretrainingModelArguments, PretrainingDataArguments, PretrainingTrainingArguments)
        for f in dataclasses.fields(cls)
    }
    unknown = sorted(set(flat) - known)
    if unknown:
        raise ValueError(
            f"--config {path}: unknown option(s) {', '.join(unknown)}; run scripts/pretrain.py --help for the list."
        )
    if isinstance(flat.get("config_overrides"), dict):
        flat["config_overrides"] = json.dumps(flat["config_overrides"])
    return flat


def build_parser(prog: str | None = None):
    """The ``HfArgumentParser`` over the three dataclasses, plus ``--config FILE``; ``prog`` names the
    command in ``--help`` and error messages (default: the script's name)."""
    from transformers import HfArgumentParser

    from wav2vec_hf.presets import list_presets

    parser = HfArgumentParser(
        (PretrainingModelArguments, PretrainingDataArguments, PretrainingTrainingArguments),
        prog=prog,
        description="Pretrain wav2vec, vq-wav2vec, wav2vec 2.0 or BERT on vq-wav2vec units (run it with "
        "`accelerate launch`). Presets: " + ", ".join(list_presets()),
    )
    parser.add_argument(
        "--config", default=None, help="YAML/JSON file with option values (command line wins)"
    )
    return parser


def parse_arguments(argv: list[str] | None = None, prog: str | None = None, style=None) -> PretrainingConfig:
    """Parse ``argv`` (default ``sys.argv[1:]``), apply ``--config`` and the recipe.

    Options accept dashes or underscores (``--max-steps`` = ``--max_steps``). ``prog`` names the
    command in ``--help`` and messages; ``style`` (parser -> parser) is applied to the parser built
    (the command line's spellings and one-line errors: ``cli_options.adopt``).
    """
    import sys

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(prog)
    if style is not None:
        parser = style(parser)
    config_path = None
    for index, item in enumerate(argv):
        if item == "--config" and index + 1 < len(argv):
            config_path = argv[index + 1]
        elif item.startswith("--config="):
            config_path = item.split("=", 1)[1]
    if config_path:
        parser.set_defaults(**load_config_file(config_path))
    # The outputs are the three dataclasses, a namespace holding --config, and unparsed strings.
    outputs = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    model, data, training, extra = outputs[0], outputs[1], outputs[2], outputs[-1]
    if extra:
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    return resolve_arguments(model, data, training)


RUN_CONFIG_INIT_KEYS = frozenset({"start_update", "state_file", "overrides"})


def run_config_key(section: str, name: str) -> str:
    """The ``run_config.json`` key (``PretrainingConfig.to_dict``) of field ``name`` of ``section``.

    ``section``: ``"model"``, ``"data"``, ``"training"`` (the argument dataclasses), ``"recipe"``
    (``PretrainingRecipe``, plus ``name``) or ``"init"``. Readers (the model card) name keys through
    this, so a field renamed here is a ``KeyError`` in their tests, not a card row gone quiet.

    Raises:
        KeyError: no such section or field.
    """
    if section == "init":
        if name not in RUN_CONFIG_INIT_KEYS:
            raise KeyError(f"run_config.json has no key init.{name} (PretrainingConfig.to_dict writes none)")
        return f"init.{name}"
    types = {
        "model": PretrainingModelArguments,
        "data": PretrainingDataArguments,
        "training": PretrainingTrainingArguments,
        "recipe": PretrainingRecipe,
    }
    if section not in types:
        raise KeyError(f"run_config.json has no section {section!r}")
    also = {"name"} if section == "recipe" else set()
    return f"{section}.{record_field(types[section], name, also=also, file='run_config.json')}"


__all__ = [
    "DEFAULT_RECIPE",
    "MODEL_TYPES",
    "PretrainingConfig",
    "PretrainingDataArguments",
    "PretrainingModelArguments",
    "PretrainingTrainingArguments",
    "build_parser",
    "load_config_file",
    "parse_arguments",
    "parse_config_overrides",
    "resolve_arguments",
    "run_config_key",
]
