"""Pretraining throughput of wav2vec and vq-wav2vec (Gumbel, k-means) train steps.

Each step is what ``scripts/pretrain.py`` runs per micro-batch: forward with the K-step contrastive
loss (plus the quantiser's loss), backward, AdamW step, Gumbel temperature set per update. There is
no stock transformers implementation to compare with; the figure to watch is audio seconds per
second, eager and (``--compile``) under ``torch.compile``.

Prints one line per model and, last, one JSON object with the figures.

    python benchmarks/pretrain_throughput_wav2vec1.py                    # CPU, tiny presets
    python benchmarks/pretrain_throughput_wav2vec1.py --size small-cpu   # CPU, the presets that learn
    python benchmarks/pretrain_throughput_wav2vec1.py --size paper --device cuda --batch-size 8 \
        --num-samples 150000 --dtype bf16 --compile                      # one GPU, the papers' models
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from step_timing import autocast, synchronize
from wav2vec_hf.models.wav2vec import VQWav2VecForPreTraining, Wav2VecForPreTraining
from wav2vec_hf.presets import get_preset
from wav2vec_hf.pretraining.schedules import GumbelSchedule

SAMPLE_RATE = 16000
PRESETS = {
    "tiny": {
        "wav2vec": "wav2vec-tiny",
        "vq-wav2vec-gumbel": "vq-wav2vec-gumbel-tiny",
        "vq-wav2vec-kmeans": "vq-wav2vec-kmeans-tiny",
    },
    "small-cpu": {
        "wav2vec": "wav2vec-small-cpu",
        "vq-wav2vec-gumbel": "vq-wav2vec-gumbel-small-cpu",
        "vq-wav2vec-kmeans": "vq-wav2vec-kmeans-small-cpu",
    },
    "paper": {
        "wav2vec": "wav2vec-base",
        "vq-wav2vec-gumbel": "vq-wav2vec-gumbel",
        "vq-wav2vec-kmeans": "vq-wav2vec-kmeans",
    },
}


def run_model(name: str, preset: str, batch: torch.Tensor, args) -> dict:
    """Time ``args.steps`` train steps after ``args.warmup`` (compilation included in warm-up)."""
    config = get_preset(preset)
    model_class = VQWav2VecForPreTraining if config.vq_type != "none" else Wav2VecForPreTraining
    torch.manual_seed(0)
    model = model_class(config).to(args.device).train()
    forward = torch.compile(model) if args.compile else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=args.device == "cuda")
    schedule = GumbelSchedule(*config.vq_temp)

    def step(index: int) -> torch.Tensor:
        if config.vq_type == "gumbel":
            model.set_gumbel_temperature(schedule.temperature(index))
        with autocast(args.device, args.dtype):
            loss = forward(batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    started = time.perf_counter()
    for index in range(args.warmup):
        loss = step(index)
    synchronize(args.device)
    warmup_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for index in range(args.warmup, args.warmup + args.steps):
        loss = step(index)
    synchronize(args.device)
    seconds = (time.perf_counter() - started) / args.steps
    audio_seconds = batch.shape[0] * batch.shape[1] / SAMPLE_RATE
    result = {
        "preset": preset,
        "parameters": sum(p.numel() for p in model.parameters()),
        "seconds_per_step": seconds,
        "audio_seconds_per_second": audio_seconds / seconds,
        "warmup_seconds": warmup_seconds,
        "final_loss": float(loss.detach()),
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if args.device == "cuda" else None,
    }
    print(f"{name:20s} {preset:24s} {result['audio_seconds_per_second']:10.1f} audio-s/s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--size", choices=sorted(PRESETS), default=None, help="tiny (CPU default), small-cpu or paper"
    )
    parser.add_argument("--models", default="wav2vec,vq-wav2vec-gumbel,vq-wav2vec-kmeans")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--num-samples", type=int, default=None, help="samples per utterance (16 kHz)")
    parser.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    gpu = args.device == "cuda"
    args.size = args.size or ("paper" if gpu else "tiny")
    args.batch_size = args.batch_size or (8 if gpu else 4)
    args.num_samples = args.num_samples or (150_000 if gpu else 32_000)
    args.dtype = args.dtype or ("bf16" if gpu else "fp32")
    args.steps = args.steps or (20 if gpu else 5)
    args.warmup = args.warmup or (5 if gpu else 2)
    if args.threads:
        torch.set_num_threads(args.threads)
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True

    batch = torch.randn(args.batch_size, args.num_samples, generator=torch.Generator().manual_seed(1))
    batch = batch.to(args.device)
    results = {}
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        results[name] = run_model(name, PRESETS[args.size][name], batch, args)
    summary = {
        "benchmark": "pretrain_throughput_wav2vec1",
        "device": torch.cuda.get_device_name() if gpu else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "config": {
            "size": args.size,
            "batch_size": args.batch_size,
            "num_samples": args.num_samples,
            "dtype": args.dtype,
            "compiled": args.compile,
            "steps": args.steps,
            "warmup": args.warmup,
        },
        "results": results,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
