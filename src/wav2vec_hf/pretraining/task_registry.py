"""Which pretraining task trains which model type: ``make_task``.

The tasks live in their own modules (``tasks``: wav2vec 2.0, wav2vec / vq-wav2vec; ``units_bert``:
BERT on vq-wav2vec units) and import only what they build on; this registry sits above them, so no
task module imports another to be found (``units_bert`` imports ``tasks``' base class; ``tasks``
imports nothing of ``units_bert``). A task class is imported when its model type is asked for.
"""

from __future__ import annotations

import importlib

TASKS: dict[str, str] = {
    "wav2vec2": "wav2vec_hf.pretraining.tasks.Wav2Vec2Task",
    "wav2vec": "wav2vec_hf.pretraining.tasks.Wav2VecTask",
    "vq-wav2vec": "wav2vec_hf.pretraining.tasks.Wav2VecTask",
    "units-bert": "wav2vec_hf.pretraining.units_bert.UnitsBertTask",
}
"""Model type -> the dotted path of its ``PretrainingTask`` class."""


def task_class(model_type: str) -> type:
    """The ``PretrainingTask`` class of ``model_type``.

    Raises:
        ValueError: an unknown model type (the known ones are named).
    """
    if model_type not in TASKS:
        raise ValueError(f"unknown model type {model_type!r}; known: {', '.join(sorted(TASKS))}")
    module, name = TASKS[model_type].rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def make_task(config, accelerator=None):
    """The task of ``config.model.model_type`` (``accelerator``: for this process's data share)."""
    return task_class(config.model.model_type)(config, accelerator)


__all__ = ["TASKS", "make_task", "task_class"]
