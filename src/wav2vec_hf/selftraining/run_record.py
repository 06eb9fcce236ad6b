"""``self_training.json`` in a self-trained model's folder, as a typed record: written by the round that
trained the model, read back by the model card.

A model trained on pseudo-labels carries the round that made it: which model labelled the unlabelled
audio, how many pseudo-labels the filter kept, and the run's settings. Its presence makes the card
cite and tag self-training; its fields are rows of the card. As with ``finetuning.json``
(``finetuning.run_record``) the writer and the card name the same dataclass fields, so a renamed field
breaks a test, not a card row. Reading is tolerant of older files: missing keys are ``None``, unknown
keys are ignored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wav2vec_hf.json_files import record_from_dict, write_json

RUN_FILE = "self_training.json"


@dataclass
class SelfTrainingRecord:
    """One self-training round, as recorded in the model folder it trained.

    Attributes:
        round: the round (1 = the first model trained on pseudo-labels).
        starting_model: the folder of the model that produced the pseudo-labels.
        pseudo_labels_kept, pseudo_labels_total: pseudo-labelled utterances kept by the filter / decoded.
        labelled_utterances: labelled utterances trained on with them.
        final_model: ``"ctc"`` or ``"seq2seq"`` (``SelfTrainingConfig.final_model``).
        settings: the run's ``SelfTrainingConfig`` as JSON (``to_json``).
    """

    round: int | None = None
    starting_model: str | None = None
    pseudo_labels_kept: int | None = None
    pseudo_labels_total: int | None = None
    labelled_utterances: int | None = None
    final_model: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, content: dict[str, Any] | None) -> SelfTrainingRecord:
        """The record of a JSON object: keys it does not know are ignored, the ones it lacks are ``None``."""
        return record_from_dict(cls, content)

    def write(self, folder: str | Path) -> Path:
        """Write ``folder/self_training.json`` atomically; returns its path."""
        return write_json(Path(folder) / RUN_FILE, self.to_dict())


__all__ = ["RUN_FILE", "SelfTrainingRecord"]
