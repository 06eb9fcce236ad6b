"""``pretraining_state.json``: how far a saved model was pretrained, and with which recipe.

A ``save_pretrained`` folder that pretraining can continue from holds, next to ``config.json``, the
file ``pretraining_state.json``. Two writers produce it, in one format:

* ``wav2vec-hf convert-fairseq`` for a wav2vec 2.0 pretraining checkpoint (the fairseq ``cfg`` /
  ``args``: learning rate and schedule, optimizer, ``max_update``, ``feature_grad_mult``, the feature
  penalty weight, ``latent_temp``, ``task.normalize``, crops and batch size; the update count of
  ``optimizer_history``);
* the pretraining loop's export (the recipe that ran, warm-up and Gumbel schedule resolved to fixed
  numbers, and the update count the export was taken at).

Format (version 1)::

    {
      "format": "wav2vec-hf pretraining state",
      "version": 1,
      "num_updates": 400000,              # updates done when the folder was written
      "source": "...",                    # who wrote it (free text)
      "recipe": {                         # a subset of PretrainingRecipe's fields (RECORD_FIELDS)
        "learning_rate": 0.0005, "lr_scheduler": "polynomial", "warmup_steps": 32000,
        "warmup_init_lr": 0.0, "end_learning_rate": 0.0, "max_steps": 400000,
        "adam_betas": [0.9, 0.98], "adam_epsilon": 1e-06, "weight_decay": 0.01, "max_grad_norm": 0.0,
        "feature_grad_mult": 0.1, "feature_penalty_weight": 10.0,
        "gumbel_temperature": [2.0, 0.5, 0.999995], "gumbel_floor_fraction": null,
        "normalize": false, "crop_samples": 250000, "min_samples": 32000, ...
      },
      "notes": {...}                      # optional: settings that could not be carried over
    }

``gumbel_temperature`` is the schedule that ran (start, end, decay: ``max(end, start * decay ** n)``
at update n), so ``gumbel_floor_fraction`` is null; ``warmup_steps`` is a count, never a fraction.
``max_steps`` is the run's total number of updates (fairseq ``max_update``), not the updates left.

``resolve_arguments`` (``pretraining.arguments``) is the one reader: with ``--init_from DIR`` the record's
recipe replaces the preset's (or the default) recipe field by field, options on the command line (or in
``--config``) win over it and are reported, and the run starts at ``num_updates``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wav2vec_hf.json_files import write_json
from wav2vec_hf.pretraining.training_recipes import LR_SCHEDULERS, PretrainingRecipe

PRETRAINING_STATE_FILE = "pretraining_state.json"
FORMAT = "wav2vec-hf pretraining state"
VERSION = 1

_EXCLUDED = ("source", "warmup_fraction")
RECORD_FIELDS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(PretrainingRecipe) if f.name not in _EXCLUDED
)
"""The ``PretrainingRecipe`` fields a record may hold (all but ``source`` and ``warmup_fraction``)."""


def _field_kinds() -> dict[str, tuple[Any, bool, int]]:
    """Recipe field -> (value type, nullable, tuple length or 0), from ``PretrainingRecipe``'s annotations."""
    kinds = {}
    for name, hint in typing.get_type_hints(PretrainingRecipe).items():
        args = typing.get_args(hint)
        nullable = type(None) in args
        if nullable:
            hint = next(arg for arg in args if arg is not type(None))
        if typing.get_origin(hint) is tuple:
            kinds[name] = (tuple, nullable, len(typing.get_args(hint)))
        else:
            kinds[name] = (hint, nullable, 0)
    return kinds


_KINDS = _field_kinds()


@dataclass(frozen=True)
class PretrainingState:
    """A read ``pretraining_state.json``.

    Attributes:
        path: the file.
        num_updates: updates done when the folder was written.
        recipe: recipe field -> value (tuples for ``adam_betas`` / ``gumbel_temperature``).
        source: who wrote it.
    """

    path: Path
    num_updates: int
    recipe: dict[str, Any]
    source: str = ""


def recipe_record(
    recipe: PretrainingRecipe, *, warmup_steps: int, gumbel: tuple[float, float, float] | None
) -> dict[str, Any]:
    """The record of a recipe that ran: ``warmup_steps`` and the Gumbel schedule (start, end, decay)
    as the run used them (fractions resolved), so a continuation computes the same values."""
    values = {name: getattr(recipe, name) for name in RECORD_FIELDS}
    values["warmup_steps"] = int(warmup_steps)
    values["gumbel_temperature"] = tuple(float(v) for v in gumbel) if gumbel is not None else None
    values["gumbel_floor_fraction"] = None
    return values


def write_pretraining_state(
    directory: str | Path,
    *,
    num_updates: int,
    recipe: Mapping[str, Any],
    source: str,
    notes: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``directory/pretraining_state.json`` (keys of ``recipe`` must be ``RECORD_FIELDS``)."""
    unknown = sorted(set(recipe) - set(RECORD_FIELDS))
    if unknown:
        raise ValueError(f"pretraining state: {', '.join(unknown)} are not recipe fields.")
    checked = _check_recipe(dict(recipe), PRETRAINING_STATE_FILE)
    content: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "num_updates": int(num_updates),
        "source": source,
        "recipe": {key: list(value) if isinstance(value, tuple) else value for key, value in checked.items()},
    }
    if notes:
        content["notes"] = dict(notes)
    path = Path(directory) / PRETRAINING_STATE_FILE
    write_json(path, content)
    return path


def read_pretraining_state(directory: str | Path) -> PretrainingState | None:
    """The record of ``directory`` (None when the folder has none, e.g. an older conversion).

    Raises:
        ValueError: the file is not a valid record (the message names it and the field).
    """
    path = Path(directory) / PRETRAINING_STATE_FILE
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error}).") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise ValueError(f'{path}: not a wav2vec-hf pretraining state (no "format": "{FORMAT}").')
    if content.get("version") != VERSION:
        raise ValueError(
            f"{path}: version {content.get('version')!r}; this wav2vec-hf reads version {VERSION}."
        )
    num_updates = content.get("num_updates")
    if isinstance(num_updates, bool) or not isinstance(num_updates, int) or num_updates < 0:
        raise ValueError(f"{path}: num_updates must be a count >= 0, not {num_updates!r}.")
    recipe = content.get("recipe")
    if not isinstance(recipe, dict):
        raise ValueError(f'{path}: "recipe" must be a mapping of recipe fields to values.')
    # Fields a later version may add are ignored (the rest still applies).
    known = {key: value for key, value in recipe.items() if key in RECORD_FIELDS}
    return PretrainingState(
        path=path,
        num_updates=num_updates,
        recipe=_check_recipe(known, str(path)),
        source=str(content.get("source", "")),
    )


def _check_recipe(recipe: dict[str, Any], where: str) -> dict[str, Any]:
    """Type-check and normalise record values by ``PretrainingRecipe``'s annotations (lists -> tuples)."""
    checked: dict[str, Any] = {}
    for key, value in recipe.items():
        kind, nullable, length = _KINDS[key]
        problem = f"{where}: recipe.{key}={value!r}"
        if value is None:
            if not nullable:
                raise ValueError(f"{problem} may not be null.")
            checked[key] = None
        elif kind is tuple:
            if not isinstance(value, (list, tuple)) or len(value) != length:
                raise ValueError(f"{problem}: give {length} numbers.")
            checked[key] = tuple(_number(v, problem) for v in value)
        elif kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{problem}: give true or false.")
            checked[key] = value
        elif kind is str:
            if key == "lr_scheduler" and value not in LR_SCHEDULERS:
                raise ValueError(f"{problem}: choose one of {', '.join(LR_SCHEDULERS)}.")
            if not isinstance(value, str):
                raise ValueError(f"{problem}: give a string.")
            checked[key] = value
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{problem}: give a whole number.")
            checked[key] = value
        else:
            checked[key] = _number(value, problem)
    return checked


def _number(value: Any, problem: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{problem}: give a finite number.")
    return float(value)


__all__ = [
    "PRETRAINING_STATE_FILE",
    "RECORD_FIELDS",
    "PretrainingState",
    "read_pretraining_state",
    "recipe_record",
    "write_pretraining_state",
]
