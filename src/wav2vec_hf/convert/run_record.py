"""``conversion.json`` as a typed record: written by ``convert-fairseq``, read back by the model card.

As with ``finetuning.json`` (``finetuning.run_record``) the writer and the card name the same dataclass
fields, so a renamed field breaks a test, not a card row. Reading is tolerant of older files: missing
keys are ``None``, unknown keys are ignored. This module imports no torch or transformers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from wav2vec_hf.json_files import record_from_dict

RUN_FILE = "conversion.json"


@dataclass
class ConversionRecord:
    """Where a converted folder came from.

    Attributes:
        source_file, source_sha256: the fairseq checkpoint's file name and its sha256.
        generation: ``"wav2vec"``, ``"vq-wav2vec"``, ``"wav2vec2"`` or ``"wav2vec2-ctc"``.
        num_updates: fairseq's update count in the checkpoint.
        transformers_class: the class the folder loads as.
        wav2vec_hf_version: the converter's package version.
        fairseq_config: the fairseq options that decide the architecture: ``model`` / ``task`` /
            ``criterion`` sections (wav2vec 2.0), or the whole ``args`` namespace (wav2vec 1.0).
        not_in_transformers: fairseq options transformers has no field for (wav2vec 2.0), or ``None``.
        pretraining_state: the ``pretraining_state.json`` written beside it (wav2vec 2.0 pretraining
            checkpoints), or ``None``.
    """

    source_file: str | None = None
    source_sha256: str | None = None
    generation: str | None = None
    num_updates: int | None = None
    transformers_class: str | None = None
    wav2vec_hf_version: str | None = None
    fairseq_config: dict[str, Any] = field(default_factory=dict)
    not_in_transformers: dict[str, Any] | None = None
    pretraining_state: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, without the optional fields this conversion does not have."""
        content = dataclasses.asdict(self)
        return {key: value for key, value in content.items() if value is not None}

    @classmethod
    def from_dict(cls, content: dict[str, Any] | None) -> ConversionRecord:
        """The record of a JSON object: keys it does not know are ignored, the ones it lacks default."""
        return record_from_dict(cls, content)

    @property
    def fairseq_args(self) -> dict[str, Any]:
        """The 2019/2020 ``args`` namespace of a wav2vec 1.0 checkpoint (empty for wav2vec 2.0)."""
        return (self.fairseq_config or {}).get("args") or {}

    @property
    def fairseq_task(self) -> dict[str, Any]:
        """The ``task`` section of a wav2vec 2.0 checkpoint's options (empty for wav2vec 1.0)."""
        return (self.fairseq_config or {}).get("task") or {}


__all__ = ["RUN_FILE", "ConversionRecord"]
