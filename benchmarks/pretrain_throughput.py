"""Pretraining throughput: our wav2vec 2.0 train step vs stock transformers, side by side.

Reference: stock ``Wav2Vec2ForPreTraining.forward`` fed by transformers' numpy
``_compute_mask_indices`` / ``_sample_negative_indices`` (what its pretraining example does),
optionally with ``torch.compile`` on the model. Ours: ``Wav2Vec2PretrainingObjective`` (masks and
negatives on the device, no host sync) compiled as one graph. Same config, weights, batch, dtype,
optimizer (AdamW) and Gumbel schedule; each step is forward + backward + optimizer step.

Prints one line per system and, last, one JSON object with the figures (audio seconds per second).

    python benchmarks/pretrain_throughput.py                      # CPU, small config
    python benchmarks/pretrain_throughput.py --device cuda --preset base --batch-size 8 \
        --num-samples 250000 --dtype bf16 --stock-compile        # one GPU, BASE
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining
from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

from step_timing import autocast, synchronize
from wav2vec_hf.pretraining.wav2vec2_objective import Wav2Vec2PretrainingObjective, gumbel_temperature

SAMPLE_RATE = 16000


def make_config(preset: str) -> Wav2Vec2Config:
    """BASE as in the paper (fairseq's dropouts and LayerDrop), or the small CPU config."""
    common = dict(mask_time_prob=0.65, mask_time_length=10, num_negatives=100, diversity_loss_weight=0.1)
    if preset == "base":
        config = Wav2Vec2Config(
            hidden_dropout=0.1,
            attention_dropout=0.1,
            activation_dropout=0.0,
            feat_proj_dropout=0.1,
            feat_quantizer_dropout=0.1,
            layerdrop=0.05,
            **common,
        )
    elif preset == "small":  # 1.8M parameters: the CPU configuration of our small-scale runs
        config = Wav2Vec2Config(
            conv_dim=(64, 128, 128, 128, 128),
            conv_stride=(10, 4, 2, 2, 2),
            conv_kernel=(20, 8, 4, 4, 4),
            hidden_size=192,
            num_hidden_layers=3,
            num_attention_heads=4,
            intermediate_size=768,
            num_codevectors_per_group=64,
            codevector_dim=128,
            proj_codevector_dim=128,
            num_conv_pos_embeddings=32,
            num_conv_pos_embedding_groups=8,
            hidden_dropout=0.1,
            attention_dropout=0.1,
            feat_proj_dropout=0.1,
            layerdrop=0.05,
            **{**common, "num_negatives": 20, "mask_time_length": 5},
        )
    else:
        raise ValueError(f"unknown preset {preset!r} (small or base)")
    config._attn_implementation = "sdpa"
    return config


def run_stock(config, state, batch, args, compile_model: bool) -> dict:
    """Stock model, masks and negatives from transformers' numpy helpers every step."""
    model = Wav2Vec2ForPreTraining(config).to(args.device)
    model.load_state_dict(state)
    model.train()
    forward = torch.compile(model) if compile_model else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=args.device == "cuda")
    frames = int(model._get_feat_extract_output_lengths(batch.shape[1]))
    host_seconds = 0.0

    def step(index: int) -> float:
        nonlocal host_seconds
        started = time.perf_counter()
        mask = _compute_mask_indices(
            (batch.shape[0], frames), config.mask_time_prob, config.mask_time_length, min_masks=2
        )
        negatives = _sample_negative_indices((batch.shape[0], frames), config.num_negatives, mask)
        host_seconds += time.perf_counter() - started
        mask = torch.from_numpy(mask).to(args.device, non_blocking=True)
        negatives = torch.from_numpy(negatives).to(args.device, non_blocking=True)
        model.set_gumbel_temperature(gumbel_temperature(index, 2.0, 0.5, 0.999995))
        with autocast(args.device, args.dtype):
            out = forward(batch, mask_time_indices=mask, sampled_negative_indices=negatives)
        loss = out.loss / mask.sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    result = time_steps(step, args)
    result["host_mask_seconds_per_step"] = host_seconds / (args.warmup + args.steps)
    return result


def run_ours(config, state, batch, args) -> dict:
    """Our objective: device-side masks and negatives, one compiled graph."""
    model = Wav2Vec2ForPreTraining(config).to(args.device)
    model.load_state_dict(state)
    objective = Wav2Vec2PretrainingObjective(model, feature_grad_mult=0.1).train()
    forward = torch.compile(objective) if args.compile else objective
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=args.device == "cuda")

    def step(index: int):
        objective.set_gumbel_temperature(gumbel_temperature(index, 2.0, 0.5, 0.999995))
        with autocast(args.device, args.dtype):
            out = forward(batch)
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return out.loss

    result = time_steps(step, args)
    if args.profile:
        profile_steps(step, args)
    return result


def profile_steps(step, args) -> None:
    """Print the operators that take the most device time over three steps."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if args.device == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profiler:
        for index in range(3):
            step(index)
        synchronize(args.device)
    sort_by = "cuda_time_total" if args.device == "cuda" else "cpu_time_total"
    print(profiler.key_averages().table(sort_by=sort_by, row_limit=25, max_name_column_width=60), flush=True)


def time_steps(step, args) -> dict:
    """Warm up (compilation included), then time ``args.steps`` steps."""
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
    audio_seconds = args.batch_size * args.num_samples / SAMPLE_RATE
    return {
        "seconds_per_step": seconds,
        "audio_seconds_per_second": audio_seconds / seconds,
        "warmup_seconds": warmup_seconds,
        "final_loss": float(loss.detach()),
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if args.device == "cuda" else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", choices=["small", "base"], default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--num-samples", type=int, default=None, help="samples per utterance (16 kHz)")
    parser.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument(
        "--compile", dest="compile", action="store_true", default=None, help="compile our step"
    )
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="run ours eagerly")
    parser.add_argument("--stock-compile", action="store_true", help="also time stock under torch.compile")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-cudnn-benchmark", dest="cudnn_benchmark", action="store_false")
    parser.add_argument("--profile", action="store_true", help="print a profile of our step")
    args = parser.parse_args()
    gpu = args.device == "cuda"
    if args.compile is None:
        args.compile = gpu  # inductor's CPU code for this step is slower than eager (measured)
    args.preset = args.preset or ("base" if gpu else "small")
    args.batch_size = args.batch_size or (8 if gpu else 4)
    args.num_samples = args.num_samples or (250_000 if gpu else 64_000)
    args.dtype = args.dtype or ("bf16" if gpu else "fp32")
    args.steps = args.steps or (20 if gpu else 5)
    args.warmup = args.warmup or (5 if gpu else 2)
    if args.threads:
        torch.set_num_threads(args.threads)
    if gpu:  # the same backend settings for every system measured
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = args.cudnn_benchmark

    torch.manual_seed(0)
    config = make_config(args.preset)
    state = Wav2Vec2ForPreTraining(config).state_dict()
    batch = torch.randn(args.batch_size, args.num_samples, generator=torch.Generator().manual_seed(1)).to(
        args.device
    )
    np.random.seed(0)

    results = {"stock": run_stock(config, state, batch, args, compile_model=False)}
    print(
        f"stock transformers:           {results['stock']['audio_seconds_per_second']:10.1f} audio-s/s",
        flush=True,
    )
    if args.stock_compile:
        results["stock_compiled"] = run_stock(config, state, batch, args, compile_model=True)
        print(
            f"stock + torch.compile:        {results['stock_compiled']['audio_seconds_per_second']:10.1f} audio-s/s",
            flush=True,
        )
    results["ours"] = run_ours(config, state, batch, args)
    print(
        f"wav2vec-hf objective{' (compiled)' if args.compile else ''}: {results['ours']['audio_seconds_per_second']:10.1f} audio-s/s",
        flush=True,
    )

    summary = {
        "benchmark": "pretrain_throughput",
        "generation": "wav2vec2",
        "device": torch.cuda.get_device_name() if gpu else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "config": {
            "preset": args.preset,
            "batch_size": args.batch_size,
            "num_samples": args.num_samples,
            "dtype": args.dtype,
            "cudnn_benchmark": args.cudnn_benchmark if args.device == "cuda" else None,
            "steps": args.steps,
            "warmup": args.warmup,
            "ours_compiled": args.compile,
            "parameters": sum(p.numel() for p in state.values()),
        },
        "results": results,
        "speedup_vs_stock": results["ours"]["audio_seconds_per_second"]
        / results["stock"]["audio_seconds_per_second"],
    }
    if "stock_compiled" in results:
        summary["speedup_vs_stock_compiled"] = (
            results["ours"]["audio_seconds_per_second"]
            / results["stock_compiled"]["audio_seconds_per_second"]
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
