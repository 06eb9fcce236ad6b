"""Numbered checkpoint folders: which ones a killed run left complete.

Both trainers write one folder per save, named by a prefix and the update count
(``checkpoint-1200`` from transformers' ``Trainer``, ``update-00001200`` from our pretraining loop),
and write ``trainer_state.json`` last. A folder whose state file is missing or unreadable was cut
off while saving: it is never resumed from.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

STATE_FILE = "trainer_state.json"

logger = logging.getLogger(__name__)


def complete_checkpoints(root: Path, prefix: str) -> list[Path]:
    """The folders ``root/<prefix><N>`` whose ``trainer_state.json`` reads as JSON, oldest (smallest N) first.

    An incomplete one (state file missing or cut short) is left out with a warning.
    """
    if not root.is_dir():
        return []
    numbered = []
    for folder in root.iterdir():
        suffix = folder.name.removeprefix(prefix)
        if folder.name.startswith(prefix) and suffix.isdigit() and folder.is_dir():
            numbered.append((int(suffix), folder))
    complete = []
    for _, folder in sorted(numbered):
        if not is_complete_checkpoint(folder):
            logger.warning("%s: incomplete checkpoint (no readable %s), not resumed from", folder, STATE_FILE)
            continue
        complete.append(folder)
    return complete


def read_checkpoint_state(folder: Path) -> dict | None:
    """The parsed ``folder/trainer_state.json``, or ``None`` when it is missing or cut short."""
    try:
        return json.loads((Path(folder) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_complete_checkpoint(folder: Path) -> bool:
    """Whether ``folder/trainer_state.json`` exists and reads as JSON (the save finished)."""
    return read_checkpoint_state(folder) is not None


__all__ = ["STATE_FILE", "complete_checkpoints", "is_complete_checkpoint", "read_checkpoint_state"]
