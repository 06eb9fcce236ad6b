"""What every demo step needs from its surroundings: the device, the hardware record, JSON files.

Pretraining runs through Accelerate, whose process-wide state must be reset between runs in one
process; ``--device cpu`` must keep Accelerate and the Trainer off a GPU even where one exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def hardware_record(device: str) -> dict[str, Any]:
    """The ``hardware`` object of the run records (read by the model cards)."""
    import torch

    record: dict[str, Any] = {"device": device, "num_processes": 1, "mixed_precision": "no"}
    if device == "cuda":
        record["gpu"] = torch.cuda.get_device_name(0)
    record["cpu"] = platform.processor() or platform.machine()
    record["cpu_cores"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    record["torch_threads"] = torch.get_num_threads()
    record["torch"] = torch.__version__
    return record


def read_jsonl(path: Path) -> list[dict]:
    """The records of a JSON-lines file (``metrics.jsonl``)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


__all__ = ["accelerate_on", "check_device", "hardware_record", "read_jsonl", "write_json"]
