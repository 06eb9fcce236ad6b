"""Helpers shared by the train-step benchmarks (run as scripts: ``benchmarks/`` is on ``sys.path``)."""

from __future__ import annotations

import contextlib
import json
import platform
from pathlib import Path

import torch


def autocast(device: str, dtype: str):
    """bf16/fp16 autocast on the device, or nothing for fp32."""
    if dtype == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device, dtype=torch.bfloat16 if dtype == "bf16" else torch.float16)


def synchronize(device: str) -> None:
    """Wait for the device's queued work, so wall-clock time covers it (no-op on CPU)."""
    if device == "cuda":
        torch.cuda.synchronize()


def fast_cuda_math() -> None:
    """TF32 matrix products and convolutions, cuDNN autotuning: what a training run on a GPU uses."""
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True


def device_name(cuda: bool) -> str:
    """The GPU's name, or the CPU's (for the benchmark's JSON record)."""
    return torch.cuda.get_device_name() if cuda else (platform.processor() or platform.machine())


def write_json(path: Path | None, record: dict) -> None:
    """Write ``record`` to ``path`` atomically (a killed benchmark keeps the last complete file); None: skip."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(record, indent=1, default=str))
    temporary.replace(path)
