"""Which ``Trainer`` checkpoint a fine-tuning run resumes from (``--resume_from_checkpoint``)."""

from __future__ import annotations

import logging
from pathlib import Path

from wav2vec_hf.checkpoint_folders import STATE_FILE, complete_checkpoints, is_complete_checkpoint

TRAINER_CHECKPOINT_PREFIX = "checkpoint-"

logger = logging.getLogger(__name__)


def resolve_resume_checkpoint(output_dir: Path, resume: str | bool | None) -> str | None:
    """The checkpoint folder to resume from.

    Args:
        output_dir: the run's output folder (the ``Trainer`` writes ``checkpoint-N`` folders there).
        resume: a checkpoint folder; ``"last"`` / ``True`` for the newest complete ``checkpoint-N`` in
            ``output_dir`` (``None`` when there is none yet: the run starts afresh); ``None`` /
            ``False`` / ``""`` / ``"none"`` / ``"false"`` for no resumption.

    Raises:
        FileNotFoundError: a named folder that is not a complete checkpoint.
    """
    if resume is None or resume is False or str(resume).lower() in ("", "false", "none"):
        return None
    if resume is True or str(resume).lower() in ("last", "true"):
        found = complete_checkpoints(Path(output_dir), TRAINER_CHECKPOINT_PREFIX)
        if not found:
            logger.info(
                "no complete %s* in %s: training from the start", TRAINER_CHECKPOINT_PREFIX, output_dir
            )
            return None
        logger.info("resuming from %s", found[-1])
        return str(found[-1])
    if not is_complete_checkpoint(Path(resume)):
        raise FileNotFoundError(
            f"--resume_from_checkpoint {resume}: not a complete checkpoint folder (no readable {STATE_FILE}); "
            f"give a {TRAINER_CHECKPOINT_PREFIX}* folder or 'last'"
        )
    return str(resume)


__all__ = ["TRAINER_CHECKPOINT_PREFIX", "resolve_resume_checkpoint"]
