"""``pretraining_summary.json``: what a pretraining run did, as the loop returns it and the card reads it.

``PretrainingResult`` is what ``run_pretraining`` returns; ``summary_record`` turns it into the JSON
object the loop writes (``SUMMARY_FILE``); ``summary_key`` is how readers (the model card) name its
keys, so a field renamed here is a ``KeyError`` in their tests rather than a card row gone quiet.
This module imports no torch or Accelerate: the Hub layer reads it without the training stack.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from wav2vec_hf.json_files import record_field

SUMMARY_FILE = "pretraining_summary.json"


@dataclass
class PretrainingResult:
    """What a run did.

    Attributes:
        output_dir: the run folder.
        updates: updates done (including those of the run it resumed).
        interrupted: stopped by ``stop_after_steps`` (no final checkpoint, evaluation or export).
        export_dir: the ``save_pretrained`` folder written at the end (None when interrupted).
        first_valid, last_valid: validation metrics at the first and last evaluation (None without --valid).
        last_train: the last update's training metrics.
        health: ``HealthMonitor.summary()``.
        data_skips: skip reports (source validation and load-time skips), JSON-ready.
        bad_files: the table of every skipped file with its reason (``OUTPUT_DIR/bad_files.tsv``), or
            None when no file was skipped.
        seconds: wall time of this process's loop.
        audio_seconds: audio (or unit tokens for units-bert) consumed, all processes, this run only.
    """

    output_dir: Path
    updates: int
    interrupted: bool
    export_dir: Path | None
    first_valid: dict | None
    last_valid: dict | None
    last_train: dict
    health: dict
    data_skips: list[dict] = field(default_factory=list)
    bad_files: Path | None = None
    seconds: float = 0.0
    audio_seconds: float = 0.0


def summary_record(result: PretrainingResult, hardware: dict) -> dict:
    """``pretraining_summary.json``: the result's fields (paths as strings) and the ``hardware`` object."""
    summary = {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(result).items()}
    return {**summary, "hardware": hardware}


def summary_key(name: str) -> str:
    """``name`` if ``pretraining_summary.json`` has such a key (a ``PretrainingResult`` field, or ``hardware``).

    Raises:
        KeyError: no such key.
    """
    return record_field(PretrainingResult, name, also={"hardware"}, file=SUMMARY_FILE)


__all__ = ["SUMMARY_FILE", "PretrainingResult", "summary_key", "summary_record"]
