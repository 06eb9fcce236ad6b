"""Command line -> fine-tuning arguments, with a paper recipe applied: recipe values < options given.

``parse_finetune_arguments(argv)`` is what ``wav2vec-hf finetune`` and ``scripts/finetune_ctc.py``
call. Without ``--recipe`` it is ``arguments.parse_args`` plus a check of the schedule options.
With ``--recipe NAME`` the recipe's values (``PaperRecipe.arguments`` and its ``BatchPlan``) become
the parser's defaults, so every option written on the command line still wins; those are the
*overrides*, found by parsing ``argv`` a second time with an "unset" marker as every default, and
reported (``ResolvedRecipe.report_lines``, ``recipe.json``, ``finetuning.json``, the model card).
``--print_recipe`` returns the resolved settings without needing ``--model`` / ``--train``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from wav2vec_hf.finetuning.arguments import build_parser
from wav2vec_hf.finetuning.paper_recipes import (
    FAIRSEQ_SCHEDULE,
    HEAD_FIRST_SCHEDULE,
    BatchPlan,
    PaperRecipe,
    RecipeError,
    get_recipe,
)

RECIPE_FILE = "recipe.json"
_FROM_DATA = "from the training data: update seconds / (devices x accumulation x mean utterance seconds)"
_HEAD_FIRST_ONLY = ("head_steps", "head_learning_rate")
_RECIPE_ONLY = ("batch_seconds", "num_devices")


class _Unset:
    """The default of every option in the parse that finds which options were given."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET = _Unset()

Style = Callable[[Any], Any]
"""Applied to every parser built: ``HfArgumentParser -> HfArgumentParser`` (the command's style)."""


def given_options(argv: list[str], prog: str | None = None, style: Style | None = None) -> dict[str, Any]:
    """``{option name: parsed value}`` of the options written in ``argv`` (abbreviations and ``--no_x`` included).

    Raises:
        RecipeError: an option the fine-tuning parser does not know.
    """
    parser = _parser(prog, style)
    if any(token in ("-h", "--help") for token in argv):
        parser.parse_args(argv)  # the help with the real defaults; exits
    names = {action.dest for action in parser._actions if action.dest != "help"}
    for action in parser._actions:
        action.required = False  # --print_recipe needs neither --model nor --train
    parser.set_defaults(**dict.fromkeys(names, _UNSET))
    namespace, unknown = parser.parse_known_args(argv)
    if unknown:
        raise RecipeError(f"unknown option(s) {' '.join(unknown)}; `wav2vec-hf finetune --help` lists them")
    return {name: value for name, value in vars(namespace).items() if value is not _UNSET}


@dataclass(frozen=True)
class ResolvedRecipe:
    """A paper recipe with the user's overrides: what a run uses, and where it departs from the recipe.

    Attributes:
        recipe: the fairseq config.
        batch: the audio-per-update plan on the user's devices.
        settings: option name -> value the run uses (the recipe's unless given on the command line);
            ``per_device_train_batch_size`` is ``None`` until the training data fixes it.
        overrides: option name -> ``{"recipe": value, "given": value}`` for each option given that
            the recipe also sets.
        mean_utterance_seconds: mean training utterance length, once known.
    """

    recipe: PaperRecipe
    batch: BatchPlan
    settings: dict[str, Any]
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    mean_utterance_seconds: float | None = None

    @property
    def name(self) -> str:
        """The recipe's name."""
        return self.recipe.name

    def parser_defaults(self) -> dict[str, Any]:
        """The recipe's values as parser defaults (options left to the data are left out)."""
        return {key: value for key, value in self.settings.items() if value is not None}

    def batch_size_from_data(self) -> bool:
        """True when the per-device utterance count is still to be set from the training data."""
        return self.settings.get("per_device_train_batch_size") is None

    def with_train_batch(self, utterances: int, mean_utterance_seconds: float) -> ResolvedRecipe:
        """This resolution with the per-device utterances the training data gave."""
        settings = {**self.settings, "per_device_train_batch_size": int(utterances)}
        return replace(self, settings=settings, mean_utterance_seconds=float(mean_utterance_seconds))

    def to_json(self) -> dict[str, Any]:
        """One JSON object: the recipe name, every resolved option, the batch plan, fairseq's facts, overrides."""
        settings = dict(self.settings)
        settings["tri_stage_ratios"] = [float(part) for part in str(settings["tri_stage_ratios"]).split(",")]
        if settings.get("per_device_train_batch_size") is None:
            settings["per_device_train_batch_size"] = _FROM_DATA
        return {
            "recipe": self.name,
            **settings,
            "update_seconds": self.batch.update_seconds,
            "device_batch_seconds": self.batch.device_batch_seconds,
            "mean_utterance_seconds": self.mean_utterance_seconds,
            "fairseq": self.recipe.fairseq_facts(),
            "overrides": self.overrides,
        }

    def report_lines(self) -> list[str]:
        """What a run prints: the recipe, its batch plan and each override."""
        lines = [f"recipe {self.name} ({self.recipe.source}): {self.batch.describe()}"]
        if self.settings.get("per_device_train_batch_size") is not None:
            lines.append(
                f"recipe {self.name}: {self.settings['per_device_train_batch_size']} utterances per device batch"
            )
        for key, values in self.overrides.items():
            lines.append(
                f"recipe {self.name}: --{key} {values['given']!r} overrides the recipe's {values['recipe']!r}"
            )
        return lines


def _parser(prog: str | None, style: Style | None = None):
    parser = build_parser()
    if prog:
        parser.prog = prog
    return style(parser) if style is not None else parser


def _launch_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def resolve_recipe(name: str, given: dict[str, Any] | None = None) -> ResolvedRecipe:
    """The recipe ``name`` with the options in ``given`` (``given_options``) laid over it.

    Raises:
        RecipeError: unknown recipe name, bad batch options.
    """
    recipe = get_recipe(name)
    given = given or {}
    plan = recipe.batch_plan(
        batch_seconds=given.get("batch_seconds"),
        num_devices=int(given.get("num_devices") or _launch_world_size()),
    )
    values = {
        **recipe.arguments(),
        "batch_seconds": plan.batch_seconds,
        "num_devices": plan.num_devices,
        "gradient_accumulation_steps": plan.gradient_accumulation_steps,
        "per_device_train_batch_size": None,  # set from the training data's mean length
    }
    settings, overrides = {}, {}
    for key, value in values.items():
        if key in given and key not in _RECIPE_ONLY:
            if given[key] != value:
                overrides[key] = {"recipe": _FROM_DATA if value is None else value, "given": given[key]}
            value = given[key]
        settings[key] = value
    # A given accumulation keeps the update's seconds: the data-derived batch shrinks or grows instead.
    plan = replace(plan, gradient_accumulation_steps=int(settings["gradient_accumulation_steps"]))
    return ResolvedRecipe(recipe, plan, settings, overrides)


def check_schedule_options(given: dict[str, Any], schedule: str, recipe: str | None) -> None:
    """Refuse options that the chosen schedule (or the absence of a recipe) would silently ignore.

    Raises:
        RecipeError: naming the option and the fix.
    """
    if schedule not in (HEAD_FIRST_SCHEDULE, FAIRSEQ_SCHEDULE):
        raise RecipeError(f"--schedule {schedule!r}: choose {HEAD_FIRST_SCHEDULE} or {FAIRSEQ_SCHEDULE}")
    if schedule == FAIRSEQ_SCHEDULE:
        stray = [f"--{key}" for key in _HEAD_FIRST_ONLY if key in given]
        if stray:
            raise RecipeError(
                f"{' '.join(stray)} set(s) the head_first schedule, but this run uses --schedule fairseq "
                "(frozen for --freeze_finetune_updates, one tri-stage); drop it or pass --schedule head_first"
            )
    elif "freeze_finetune_updates" in given:
        raise RecipeError(
            "--freeze_finetune_updates sets the fairseq schedule, but this run uses --schedule head_first "
            "(--head_steps); pass --schedule fairseq or use --head_steps"
        )
    if recipe is None:
        stray = [f"--{key}" for key in _RECIPE_ONLY if key in given]
        if stray:
            raise RecipeError(
                f"{' '.join(stray)} plan(s) a --recipe's batch; without --recipe set "
                "--per_device_train_batch_size and --gradient_accumulation_steps"
            )


@dataclass
class FinetuneCommand:
    """A parsed ``wav2vec-hf finetune`` command line.

    Attributes:
        arguments: ``(model_args, data_args, recipe_args, training_args)``; ``None`` with ``--print_recipe``.
        recipe: the resolved recipe, or ``None`` without ``--recipe``.
        print_only: ``--print_recipe`` was given (print ``recipe.to_json()`` and stop).
    """

    arguments: tuple | None
    recipe: ResolvedRecipe | None
    print_only: bool = False


def parse_finetune_arguments(
    argv: list[str], prog: str | None = None, style: Style | None = None
) -> FinetuneCommand:
    """Parse a fine-tuning command line, applying ``--recipe`` (see the module docstring).

    ``prog``: the command's name in ``--help`` and argparse's messages; ``style``: applied to each
    parser built (the command line's option spellings and one-line errors, ``cli_options.adopt``).

    Raises:
        RecipeError: unknown recipe, ``--print_recipe`` without ``--recipe``, options of the other
            schedule, batch options without a recipe.
        ValueError: contradictions found by ``TrainingArguments``.
    """
    argv = list(argv)
    given = given_options(argv, prog, style)
    name = given.get("recipe")
    if given.get("print_recipe") and not name:
        raise RecipeError("--print_recipe prints a recipe: add --recipe NAME")
    resolved = resolve_recipe(name, given) if name else None
    schedule = given.get("schedule", resolved.settings["schedule"] if resolved else HEAD_FIRST_SCHEDULE)
    check_schedule_options(given, schedule, name)
    if given.get("print_recipe"):
        return FinetuneCommand(None, resolved, print_only=True)
    parser = _parser(prog, style)
    if resolved is not None:
        parser.set_defaults(**resolved.parser_defaults())
    return FinetuneCommand(tuple(parser.parse_args_into_dataclasses(args=argv)), resolved)


__all__ = [
    "RECIPE_FILE",
    "FinetuneCommand",
    "ResolvedRecipe",
    "check_schedule_options",
    "given_options",
    "parse_finetune_arguments",
    "resolve_recipe",
]
