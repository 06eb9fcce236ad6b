"""The ``hardware`` object of the run records: what a run ran on, read by the model cards.

Written by the pretraining loop (``pretraining_summary.json``), CTC fine-tuning (``finetuning.json``)
and the demo's evaluation (``evaluation.json``); ``hub.records.hardware`` turns it into card rows.
"""

from __future__ import annotations

import os
import platform
from typing import Any


def hardware_record(
    device: str, *, num_processes: int = 1, mixed_precision: str | None = "no"
) -> dict[str, Any]:
    """``{"device", "num_processes", "mixed_precision", "gpu"?, "cpu", "cpu_cores", "torch_threads",
    "torch"}`` of this process (``device``: ``"cpu"``, ``"cuda"``, ...)."""
    import torch

    record: dict[str, Any] = {
        "device": device,
        "num_processes": int(num_processes),
        "mixed_precision": mixed_precision or "no",
    }
    if device == "cuda" and torch.cuda.is_available():
        record["gpu"] = torch.cuda.get_device_name(0)
    record["cpu"] = platform.processor() or platform.machine()
    record["cpu_cores"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    record["torch_threads"] = torch.get_num_threads()
    record["torch"] = torch.__version__
    return record


__all__ = ["hardware_record"]
