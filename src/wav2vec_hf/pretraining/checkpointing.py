"""Atomic training checkpoints (``accelerator.save_state``) and the loop's own state.

Layout under ``OUTPUT/checkpoints``::

    update-00001000/          one complete checkpoint (the update count in the name)
        model.safetensors     \
        optimizer.bin          > accelerate's save_state: model, optimizer, GradScaler,
        random_states_<r>.pkl /  every process's Python / numpy / torch / CUDA RNG states
        trainer_state.json    update count, data position, health counters, timing (ours)
    .tmp-update-00002000/     a checkpoint being written (never read; removed at the next start)

A checkpoint is written into ``.tmp-update-N`` by every process and renamed to ``update-N`` by the
main process once all of them have finished: the rename is atomic, so a run killed at any moment
leaves either a complete checkpoint or none; ``trainer_state.json`` is written last, inside the
temporary folder, and a folder without it is never resumed from. Only the last ``keep`` are kept.

The ``.pkl`` RNG files are accelerate's own pickles; they are only ever read back from checkpoints
this code wrote (never from downloaded files).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from wav2vec_hf.checkpoint_folders import STATE_FILE, complete_checkpoints, read_checkpoint_state
from wav2vec_hf.json_files import write_json

CHECKPOINTS = "checkpoints"
CHECKPOINT_PREFIX = "update-"


def checkpoint_root(output_dir: str | os.PathLike) -> Path:
    """``OUTPUT/checkpoints``."""
    return Path(output_dir) / CHECKPOINTS


def checkpoint_path(root: Path, update: int) -> Path:
    """``root/update-0000NNNN``."""
    return root / f"{CHECKPOINT_PREFIX}{update:08d}"


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    return complete_checkpoints(root, CHECKPOINT_PREFIX)


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete checkpoint, or None."""
    checkpoints = list_checkpoints(root)
    return checkpoints[-1] if checkpoints else None


def remove_partial_checkpoints(root: Path) -> list[Path]:
    """Delete ``.tmp-*`` folders left by a killed run (main process, before training); returns them."""
    removed = []
    if root.is_dir():
        for child in root.iterdir():
            if child.name.startswith(".tmp-") and child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
                removed.append(child)
    return removed


def save_checkpoint(accelerator, root: Path, update: int, trainer_state: dict, keep: int) -> Path:
    """Write a checkpoint of update ``update`` atomically (call on every process).

    Args:
        accelerator: the run's ``Accelerator`` (its prepared model and optimizer are saved).
        root: ``OUTPUT/checkpoints``.
        update: the number of updates done.
        trainer_state: the loop's JSON-ready state (written as ``trainer_state.json``).
        keep: how many of the newest checkpoints to keep (at least 1).

    Returns:
        The final checkpoint folder.
    """
    temporary = root / f".tmp-{CHECKPOINT_PREFIX}{update:08d}"
    final = checkpoint_path(root, update)
    if accelerator.is_main_process:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(temporary, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(temporary))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        write_json(temporary / STATE_FILE, trainer_state, sort_keys=True)
        if final.exists():  # the same update saved before (a resumed run): the new one replaces it
            stale = root / f".tmp-stale-{update:08d}"
            shutil.rmtree(stale, ignore_errors=True)
            os.rename(final, stale)
            os.rename(temporary, final)
            shutil.rmtree(stale, ignore_errors=True)
        else:
            os.rename(temporary, final)
        _fsync_directory(root)
        for old in list_checkpoints(root)[: -max(1, keep)]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def _fsync_directory(path: Path) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def read_trainer_state(checkpoint: Path) -> dict:
    """The loop's state saved with a checkpoint.

    Raises:
        FileNotFoundError: ``checkpoint`` is not a complete checkpoint folder.
    """
    state = read_checkpoint_state(Path(checkpoint))
    if state is None:
        raise FileNotFoundError(
            f"{checkpoint}: not a complete checkpoint (no readable {STATE_FILE}); "
            "pass a folder OUTPUT/checkpoints/update-N."
        )
    return state


def check_random_states(checkpoint: Path, num_processes: int) -> list[str]:
    """Problems that keep a resume from being exact (missing per-process RNG files, other process count)."""
    problems = []
    for rank in range(num_processes):
        if not (Path(checkpoint) / f"random_states_{rank}.pkl").is_file():
            problems.append(f"no RNG state for process {rank}")
    return problems


__all__ = [
    "CHECKPOINTS",
    "STATE_FILE",
    "check_random_states",
    "checkpoint_path",
    "checkpoint_root",
    "latest_checkpoint",
    "list_checkpoints",
    "read_trainer_state",
    "remove_partial_checkpoints",
    "save_checkpoint",
]
