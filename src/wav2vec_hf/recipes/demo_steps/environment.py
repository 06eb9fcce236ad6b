"""What every demo step needs from its surroundings: the device, the hardware record, JSON files.

Pretraining runs through Accelerate, whose process-wide state must be reset between runs in one
process; ``--device cpu`` must keep Accelerate and the Trainer off a GPU even where one exists.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from wav2vec_hf.hardware import hardware_record
from wav2vec_hf.json_files import write_json


def check_device(device: str) -> str:
    """``device`` if usable ("cpu", or "cuda" with a GPU present).

    Raises:
        ValueError: unknown device, or "cuda" without a GPU (the message says what to pass instead).
    """
    if device not in ("cpu", "cuda"):
        raise ValueError(f"--device {device!r}: use cpu or cuda.")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ValueError("--device cuda: torch sees no GPU here; run with --device cpu.")
    return device


@contextlib.contextmanager
def accelerate_on(device: str) -> Iterator[None]:
    """Run an Accelerate job on ``device``, then reset Accelerate's process-wide state.

    ``ACCELERATE_USE_CPU`` keeps a ``--device cpu`` run off any GPU; the reset lets the next run
    create its own ``Accelerator`` in this process.
    """
    from accelerate.state import AcceleratorState, GradientState

    previous = os.environ.get("ACCELERATE_USE_CPU")
    if device == "cpu":
        os.environ["ACCELERATE_USE_CPU"] = "true"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("ACCELERATE_USE_CPU", None)
        else:
            os.environ["ACCELERATE_USE_CPU"] = previous
        AcceleratorState._reset_state(True)
        GradientState._reset_state()


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file (``metrics.jsonl``)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


__all__ = ["accelerate_on", "check_device", "hardware_record", "read_jsonl", "write_json"]
