"""Pretraining throughput through the real loader: audio files on disk -> our train step, vs stock.

Unlike ``pretrain_throughput.py`` (one random batch already on the device), every step here takes
its batch from the package's pretraining data path, as ``run_pretraining`` builds it:
``build_audio_data`` (folder scan, header validation, random crops, ``LengthBatchSampler``,
``AudioCollator``) -> ``BatchStream`` (a ``DataLoader`` with worker processes decoding the files)
-> host-to-device copy -> step. The files are speech-like FLAC written first by
``synthetic_audio.py`` on local disk (WAV when soundfile is missing; the package's loader needs
soundfile either way). Every system starts a fresh ``BatchStream`` at epoch 0, so all see the same
batches.

Variants (``--variants``, run in this order; each in its own try/except, so one failure keeps the
others; each is skipped when ``--time-budget`` would not cover its estimate):

* ``loader``: the loader alone (batches copied to the device, no step): its ceiling in audio-s/s;
* ``flops``: one eager forward + backward of ours and of stock under ``FlopCounterMode`` (for MFU);
* ``stock``: stock ``Wav2Vec2ForPreTraining`` fed by transformers' numpy mask / negative helpers,
  fused AdamW;
* ``ours``: ``Wav2Vec2PretrainingObjective`` under ``torch.compile`` (default mode), fused AdamW;
* ``ours_cudagraphs``: the same with ``mode="reduce-overhead"`` (CUDA graphs), fused AdamW;
* ``ours_compiled_opt``: compiled (default mode) with a compiled AdamW step instead of the fused one;
* ``stock_compiled``: stock under ``torch.compile`` (not in the default list).

Each step is forward + backward + optimizer step + zero_grad (no gradient clipping, metrics or
logging: the loop's own per-update costs are not measured). Per variant: audio-s/s with the
loader (after warm-up, compilation included, and after draining the batches the workers had
prefetched meanwhile), seconds blocked waiting for the loader, audio-s/s of the same step on one
batch kept on the device (no loader), MFU (FLOPs of one step counted by
``torch.utils.flop_counter.FlopCounterMode`` over achieved seconds per step, against
``--peak-tflops``), peak memory (``torch.cuda.max_memory_allocated``). The JSON file (``--json``)
is rewritten after every variant, so a run killed by a time limit keeps what it measured.

    python benchmarks/pretrain_loader_throughput.py --device cpu --preset tiny        # plumbing check
    python benchmarks/pretrain_loader_throughput.py --device cuda --preset base \\
        --json base.json --time-budget 240                                           # one GPU, BASE
    python benchmarks/pretrain_loader_throughput.py --device cuda --preset large-lv60 \\
        --variants loader,flops,stock,ours_cudagraphs                              # LARGE, 4 x 20 s
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import torch

from step_timing import autocast, device_name, fast_cuda_math, synchronize, write_json
from synthetic_audio import ensure_audio

SAMPLE_RATE = 16_000
STARTED = time.monotonic()

# name -> (package preset and recipe, batch size, samples per utterance)
PRESETS = {
    "base": ("wav2vec2-base", 8, 250_000),
    "large-lv60": ("wav2vec2-large-lv60", 4, 320_000),
    "small": ("wav2vec2-small-cpu", 8, 64_000),
    "tiny": ("wav2vec2-tiny", 2, 32_000),
}
DEFAULT_VARIANTS = ("loader", "flops", "stock", "ours", "ours_cudagraphs", "ours_compiled_opt")
ALL_VARIANTS = (*DEFAULT_VARIANTS, "stock_compiled")
OURS_VARIANTS = ("ours", "ours_cudagraphs", "ours_compiled_opt")
STOCK_VARIANTS = ("stock", "stock_compiled")

# Seconds each variant is expected to take on one H100/H200 (model build, warm-up with compilation,
# draining, timed and no-loader steps). The ours/stock compile times come from the H200 run of
# pretrain_throughput.py (BASE: ~90 s for 5 warm-up steps); later compiled variants reuse the
# kernels cached by the first, and their estimate is replaced by the first one's measured time.
GPU_ESTIMATES = {
    "base": {
        "loader": 15,
        "flops": 20,
        "stock": 30,
        "ours": 110,
        "ours_cudagraphs": 100,
        "ours_compiled_opt": 100,
        "stock_compiled": 110,
    },
    "large-lv60": {
        "loader": 15,
        "flops": 25,
        "stock": 45,
        "ours": 160,
        "ours_cudagraphs": 150,
        "ours_compiled_opt": 150,
        "stock_compiled": 160,
    },
}
CPU_ESTIMATE = 20


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:7.1f}s] {message}", flush=True)


def elapsed() -> float:
    return time.monotonic() - STARTED


# --- data --------------------------------------------------------------------------------------


def build_data(args, config, recipe):
    """The training split as the loop builds it (``Wav2Vec2Task.build_data``), fixed crops and batch size."""
    from wav2vec_hf.pretraining.data import build_audio_data
    from wav2vec_hf.pretraining.tasks import samples_for_frames

    min_samples = samples_for_frames(config.conv_kernel, config.conv_stride, 2 * config.mask_time_length)
    return build_audio_data(
        str(args.data_dir),
        split=None,
        recipe=recipe,
        min_samples=min_samples,
        seed=args.seed,
        on_bad="raise",
        num_replicas=1,
        rank=0,
        training=True,
        cache_audio=args.cache_audio,
        name="train",
    )


class Batches:
    """A fresh ``BatchStream`` at epoch 0 and the loop's ``to_device``; counts time blocked on the loader."""

    def __init__(self, data, args):
        from wav2vec_hf.pretraining.data import BatchStream

        self.stream = BatchStream(
            data.dataset,
            data.sampler,
            data.collator,
            num_workers=args.num_workers,
            pin_memory=torch.device(args.device).type == "cuda",
        )
        self.iterator = iter(self.stream)
        self.device = args.device
        self.wait_seconds = 0.0

    def next(self):
        started = time.perf_counter()
        batch = next(self.iterator)
        self.wait_seconds += time.perf_counter() - started
        # PretrainingTask.to_device: a padding mask only when the batch has padding.
        from wav2vec_hf.pretraining.data import waveform_inputs

        values, mask = waveform_inputs(batch, torch.device(self.device))
        return values, mask, float(batch["lengths"].sum()) / SAMPLE_RATE

    def close(self) -> None:
        self.iterator.close()  # ends the DataLoader iterator and its worker processes


# --- steps -------------------------------------------------------------------------------------


def compile_module(module, args, mode: str | None):
    """``torch.compile`` with ``mode`` on inductor; other backends (CPU dry runs) take no mode."""
    if args.compile_backend == "inductor":
        return torch.compile(module, mode=mode) if mode else torch.compile(module)
    return torch.compile(module, backend=args.compile_backend)


def make_optimizer(parameters, recipe, args, fused: bool):
    options = dict(
        lr=1e-4, betas=tuple(recipe.adam_betas), eps=recipe.adam_epsilon, weight_decay=recipe.weight_decay
    )
    if fused:
        options["fused"] = True
    return torch.optim.AdamW(parameters, **options)


def build_ours(variant, config, state, recipe, gumbel, args):
    """``step(index, values, mask) -> loss`` of our objective, and its module (eager for ``flops``)."""
    from transformers import Wav2Vec2ForPreTraining

    from wav2vec_hf.pretraining.wav2vec2_objective import Wav2Vec2PretrainingObjective, gumbel_temperature

    with torch.device(args.device):  # initialised where it runs (LARGE on a CPU takes seconds)
        model = Wav2Vec2ForPreTraining(config)
    model.load_state_dict(state)
    objective = Wav2Vec2PretrainingObjective(
        model,
        feature_grad_mult=recipe.feature_grad_mult,
        feature_penalty_weight=recipe.feature_penalty_weight,
        min_masks=config.mask_time_min_masks,
        require_same_masks=recipe.require_same_masks,
    ).to(args.device)
    objective.train()
    cuda = args.device == "cuda"
    cudagraphs = variant == "ours_cudagraphs" and cuda and args.compile_backend == "inductor"
    if variant == "flops":
        forward = objective
    else:
        forward = compile_module(objective, args, "reduce-overhead" if variant == "ours_cudagraphs" else None)
    compiled_opt = variant == "ours_compiled_opt"
    optimizer = make_optimizer(model.parameters(), recipe, args, fused=cuda and not compiled_opt)
    if compiled_opt:  # as in PyTorch's compiled-optimizer recipe: a function that calls step()

        def optimizer_step():
            optimizer.step()

        if args.compile_backend == "inductor":
            optimizer_step = torch.compile(optimizer_step, fullgraph=False)
        else:
            optimizer_step = torch.compile(optimizer_step, backend=args.compile_backend)
    else:
        optimizer_step = optimizer.step

    def step(index: int, values, mask):
        objective.set_gumbel_temperature(gumbel_temperature(index, *gumbel))
        if cudagraphs:
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(args.device, args.dtype):
            out = forward(values, attention_mask=mask)
        out.loss.backward()
        optimizer_step()
        optimizer.zero_grad(set_to_none=True)
        return out.loss

    return step, objective


def build_stock(variant, config, state, recipe, gumbel, args):
    """The stock model driven as transformers' pretraining example does (numpy masks every step)."""
    from transformers import Wav2Vec2ForPreTraining
    from transformers.models.wav2vec2.modeling_wav2vec2 import (
        _compute_mask_indices,
        _sample_negative_indices,
    )

    from wav2vec_hf.pretraining.wav2vec2_objective import gumbel_temperature

    with torch.device(args.device):
        model = Wav2Vec2ForPreTraining(config)
    model.load_state_dict(state)
    model.train()
    forward = compile_module(model, args, None) if variant == "stock_compiled" else model
    optimizer = make_optimizer(model.parameters(), recipe, args, fused=args.device == "cuda")

    def step(index: int, values, mask):
        frames = int(model._get_feat_extract_output_lengths(values.shape[1]))
        shape = (values.shape[0], frames)
        time_mask = _compute_mask_indices(
            shape, config.mask_time_prob, config.mask_time_length, min_masks=config.mask_time_min_masks
        )
        negatives = _sample_negative_indices(shape, config.num_negatives, time_mask)
        time_mask = torch.from_numpy(time_mask).to(args.device, non_blocking=True)
        negatives = torch.from_numpy(negatives).to(args.device, non_blocking=True)
        model.set_gumbel_temperature(gumbel_temperature(index, *gumbel))
        with autocast(args.device, args.dtype):
            out = forward(
                values, attention_mask=mask, mask_time_indices=time_mask, sampled_negative_indices=negatives
            )
        loss = out.loss / time_mask.sum()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss

    return step, model


# --- measurements ------------------------------------------------------------------------------


def free_memory(args) -> None:
    torch._dynamo.reset()
    gc.collect()
    if args.device == "cuda":
        torch.cuda.empty_cache()


def measure_loader(data, args) -> dict:
    """Batches per second the loader gives alone (copied to the device), after its workers started."""
    batches = Batches(data, args)
    try:
        started = time.perf_counter()
        batches.next()
        first = time.perf_counter() - started
        count = args.loader_batches
        audio = 0.0
        started = time.perf_counter()
        for _ in range(count):
            _, _, seconds = batches.next()
            audio += seconds
        synchronize(args.device)
        seconds = time.perf_counter() - started
    finally:
        batches.close()
    return {
        "audio_seconds_per_second": audio / seconds,
        "batches_per_second": count / seconds,
        "batches": count,
        "first_batch_seconds": first,
        "num_workers": args.num_workers,
        "note": "prefetched batches included: a ceiling, not a steady state, when few batches are timed",
    }


def count_flops(build, config, state, recipe, gumbel, args) -> float:
    """FLOPs of one eager forward + backward (FlopCounterMode: matmuls, convolutions, attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    step_fn, module = build("flops", config, state, recipe, gumbel, args)
    del step_fn
    values = torch.randn(args.batch_size, args.num_samples, generator=torch.Generator().manual_seed(1))
    values = values.to(args.device)
    counter = FlopCounterMode(display=False)
    if build is build_ours:
        with counter:  # one context for both passes: entering it again resets the counts
            with autocast(args.device, args.dtype):
                out = module(values)
            out.loss.backward()
    else:  # stock: a fixed mask and negatives
        from transformers.models.wav2vec2.modeling_wav2vec2 import (
            _compute_mask_indices,
            _sample_negative_indices,
        )

        frames = int(module._get_feat_extract_output_lengths(args.num_samples))
        shape = (args.batch_size, frames)
        mask = _compute_mask_indices(
            shape, config.mask_time_prob, config.mask_time_length, min_masks=config.mask_time_min_masks
        )
        negatives = _sample_negative_indices(shape, config.num_negatives, mask)
        mask = torch.from_numpy(mask).to(args.device)
        negatives = torch.from_numpy(negatives).to(args.device)
        with counter:
            with autocast(args.device, args.dtype):
                out = module(values, mask_time_indices=mask, sampled_negative_indices=negatives)
            (out.loss / mask.sum()).backward()
    synchronize(args.device)
    del module, out
    return float(counter.get_total_flops())


def run_variant(variant, build, data, config, state, recipe, gumbel, args) -> dict:
    """Warm up, drain the prefetched batches, time ``args.steps`` steps with the loader, then
    ``args.no_loader_steps`` on one batch kept on the device (stock on a GPU: fewer of each)."""
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    counters = torch._dynamo.utils.counters
    counters.clear()
    built = time.perf_counter()
    step, module = build(variant, config, state, recipe, gumbel, args)
    steps, drain, no_loader_steps = args.steps, args.drain, args.no_loader_steps
    if variant in STOCK_VARIANTS and args.device == "cuda":
        # Several times slower than ours: fewer steps time it as well, and its loader never runs dry.
        steps, drain, no_loader_steps = max(10, steps // 3), min(drain, 4), min(no_loader_steps, 5)
    batches = Batches(data, args)
    index = 0
    try:
        started = time.perf_counter()
        for _ in range(args.warmup):
            values, mask, _ = batches.next()
            loss = step(index, values, mask)
            index += 1
        synchronize(args.device)
        warmup_seconds = time.perf_counter() - started
        for _ in range(drain):  # the batches prefetched during warm-up (compilation)
            values, mask, _ = batches.next()
            loss = step(index, values, mask)
            index += 1
        synchronize(args.device)
        batches.wait_seconds = 0.0
        audio = 0.0
        started = time.perf_counter()
        for _ in range(steps):
            values, mask, seconds = batches.next()
            audio += seconds
            loss = step(index, values, mask)
            index += 1
        synchronize(args.device)
        seconds = time.perf_counter() - started
        final_loss = float(loss.detach())
        wait = batches.wait_seconds
    finally:
        batches.close()
    result = {
        "audio_seconds_per_second": audio / seconds,
        "seconds_per_step": seconds / steps,
        "timed_steps": steps,
        "loader_wait_seconds_per_step": wait / steps,
        "warmup_steps": args.warmup,
        "warmup_seconds": warmup_seconds,
        "drained_steps": drain,
        "final_loss": final_loss,
    }
    if no_loader_steps:  # the same step on one batch already on the device
        batch_audio = args.batch_size * args.num_samples / SAMPLE_RATE
        started = time.perf_counter()
        for _ in range(no_loader_steps):
            loss = step(index, values, mask)
            index += 1
        synchronize(args.device)
        per_step = (time.perf_counter() - started) / no_loader_steps
        result["no_loader_audio_seconds_per_second"] = batch_audio / per_step
        result["no_loader_seconds_per_step"] = per_step
    result["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30 if args.device == "cuda" else None
    result["wall_seconds"] = time.perf_counter() - built
    if variant not in ("stock",):  # what torch.compile did: graphs, breaks, CUDA graph skips
        result["compile_counters"] = {
            "stats": dict(counters.get("stats", {})),
            "graph_breaks": {
                reason[:200]: n for reason, n in list(counters.get("graph_break", {}).items())[:5]
            },
            "inductor": {
                k: v for k, v in counters.get("inductor", {}).items() if "cudagraph" in k or "fxgraph" in k
            },
        }
    del step, module, loss, values, mask
    return result


# --- main --------------------------------------------------------------------------------------


def estimate(variant: str, args, measured: dict) -> float:
    if args.device != "cuda":
        return CPU_ESTIMATE
    table = GPU_ESTIMATES.get(args.preset, GPU_ESTIMATES["large-lv60"])
    value = table[variant]
    compiled = [v for v in OURS_VARIANTS if v != variant and "wall_seconds" in measured.get(v, {})]
    if variant in OURS_VARIANTS and compiled:
        value = 1.1 * measured[compiled[0]]["wall_seconds"]
    return value


def summarize(record: dict, args) -> None:
    """Best ours / stock variants, speedup, MFU and the goal check, into ``record``."""
    results = record["results"]
    flops = results.get("flops", {})

    def timed(names):
        return {n: results[n] for n in names if "audio_seconds_per_second" in results.get(n, {})}

    for name, result in timed(OURS_VARIANTS + STOCK_VARIANTS).items():
        per_step = flops.get("ours_flops_per_step" if name in OURS_VARIANTS else "stock_flops_per_step")
        if per_step:
            achieved = per_step / result["seconds_per_step"]
            result["achieved_tflops"] = achieved / 1e12
            result["mfu"] = achieved / (args.peak_tflops * 1e12)
    ours, stock = timed(OURS_VARIANTS), timed(STOCK_VARIANTS)
    record["audio_seconds_per_second_with_loader"] = None
    if ours:
        best = max(ours, key=lambda n: ours[n]["audio_seconds_per_second"])
        record["best"] = {"variant": best, **ours[best]}
        record["audio_seconds_per_second_with_loader"] = ours[best]["audio_seconds_per_second"]
    if stock:
        best_stock = max(stock, key=lambda n: stock[n]["audio_seconds_per_second"])
        record["best_stock"] = {"variant": best_stock, **stock[best_stock]}
        record["stock_audio_seconds_per_second_with_loader"] = stock[best_stock]["audio_seconds_per_second"]
    if ours and "stock" in stock:
        record["speedup_vs_stock"] = (
            record["audio_seconds_per_second_with_loader"] / stock["stock"]["audio_seconds_per_second"]
        )
    if args.goal:
        value = record["audio_seconds_per_second_with_loader"]
        record["goal_audio_seconds_per_second"] = args.goal
        record["goal_met"] = None if value is None else value >= args.goal


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None, help="base on cuda, tiny on cpu")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--num-samples", type=int, default=None, help="crop length (16 kHz samples)")
    parser.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default=None)
    parser.add_argument(
        "--variants", default=",".join(DEFAULT_VARIANTS), help=f"from {','.join(ALL_VARIANTS)}"
    )
    parser.add_argument("--steps", type=int, default=None, help="timed steps with the loader")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps (compilation happens here)")
    parser.add_argument(
        "--drain", type=int, default=None, help="untimed steps after warm-up (default 2 x workers)"
    )
    parser.add_argument("--no-loader-steps", type=int, default=None)
    parser.add_argument("--loader-batches", type=int, default=None)
    parser.add_argument("--num-workers", type=int, default=None, help="DataLoader workers")
    parser.add_argument("--cache-audio", action="store_true", help="the loop's --cache_audio (decode once)")
    parser.add_argument("--data-dir", default=None, help="audio folder (written when missing)")
    parser.add_argument("--files", type=int, default=None, help="audio files to write")
    parser.add_argument("--file-seconds", type=float, default=20.0)
    parser.add_argument("--compile-backend", default=None, help="inductor on cuda, eager on cpu")
    parser.add_argument(
        "--peak-tflops", type=float, default=790.0, help="bf16 dense peak for MFU (H200: ~790)"
    )
    parser.add_argument("--goal", type=float, default=None, help="audio-s/s the best variant should reach")
    parser.add_argument(
        "--time-budget", type=float, default=None, help="seconds; variants that won't fit are skipped"
    )
    parser.add_argument("--json", default=None, help="write the record here (rewritten after every variant)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cuda = args.device == "cuda"
    args.preset = args.preset or ("base" if cuda else "tiny")
    preset_name, batch_size, num_samples = PRESETS[args.preset]
    args.batch_size = args.batch_size or batch_size
    args.num_samples = args.num_samples or num_samples
    args.dtype = args.dtype or ("bf16" if cuda else "fp32")
    from wav2vec_hf.pretraining.data import loader_workers

    cores = len(os.sched_getaffinity(0))
    # The pretraining script's own default on a GPU (measured as users run it); one worker on CPU,
    # where the script itself loads in line.
    args.num_workers = loader_workers(args.num_workers, torch.device(args.device)) or 1
    args.steps = args.steps or (60 if cuda else 3)
    args.warmup = args.warmup or (5 if cuda else 1)
    args.drain = args.drain if args.drain is not None else (2 * args.num_workers if cuda else 0)
    args.no_loader_steps = args.no_loader_steps if args.no_loader_steps is not None else (20 if cuda else 2)
    args.loader_batches = args.loader_batches or (64 if cuda else 4)
    args.compile_backend = args.compile_backend or ("inductor" if cuda else "eager")
    args.file_seconds = max(args.file_seconds, args.num_samples / SAMPLE_RATE)
    needed = args.warmup + args.drain + args.steps
    args.files = args.files or args.batch_size * max(needed + 8, args.loader_batches + 8)
    args.files -= args.files % args.batch_size  # whole batches only: no short last batch
    args.data_dir = Path(args.data_dir or f"/tmp/wav2vec_hf_bench/audio_{args.files}x{args.file_seconds:g}s")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(ALL_VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {ALL_VARIANTS}")
    if cuda:
        fast_cuda_math()

    import transformers
    from transformers import Wav2Vec2ForPreTraining

    from wav2vec_hf.presets import get_preset, get_recipe

    json_path = Path(args.json) if args.json else None
    record = {
        "benchmark": "pretrain_loader_throughput",
        "generation": "wav2vec2",
        "device": device_name(cuda),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "cpu_cores": cores,
        "config": {
            "preset": args.preset,
            "package_preset": preset_name,
            "batch_size": args.batch_size,
            "num_samples": args.num_samples,
            "audio_seconds_per_batch": args.batch_size * args.num_samples / SAMPLE_RATE,
            "dtype": args.dtype,
            "steps": args.steps,
            "warmup": args.warmup,
            "drain": args.drain,
            "no_loader_steps": args.no_loader_steps,
            "num_workers": args.num_workers,
            "cache_audio": args.cache_audio,
            "compile_backend": args.compile_backend,
            "peak_tflops": args.peak_tflops,
            "variants": variants,
            "time_budget_seconds": args.time_budget,
        },
        "results": {},
    }

    log(f"audio: {args.files} files x {args.file_seconds:g} s in {args.data_dir}")
    record["data"] = ensure_audio(args.data_dir, args.files, args.file_seconds, workers=cores)
    log(f"audio ready ({record['data']['format']}, {record['data']['wall_seconds']:.1f} s)")

    torch.manual_seed(args.seed)
    config = get_preset(preset_name)
    config._attn_implementation = "sdpa"
    base_recipe = get_recipe(preset_name)
    recipe = dataclasses.replace(
        base_recipe,
        crop_samples=args.num_samples,
        min_samples=None,
        max_batch_samples=args.batch_size * args.num_samples,
        max_batch_size=args.batch_size,
        segment_seconds=None,
        crop_to_shortest=True,
    )
    gumbel = tuple(base_recipe.gumbel_temperature or (2.0, 0.5, 0.999995))
    with torch.device(args.device):  # the weights every system starts from
        state = {k: v.detach().clone() for k, v in Wav2Vec2ForPreTraining(config).state_dict().items()}
    record["config"]["parameters"] = sum(p.numel() for p in state.values())
    record["config"]["recipe"] = {
        "feature_grad_mult": recipe.feature_grad_mult,
        "feature_penalty_weight": recipe.feature_penalty_weight,
        "require_same_masks": recipe.require_same_masks,
        "normalize": recipe.normalize,
        "gumbel_temperature": gumbel,
    }
    started = time.perf_counter()
    data = build_data(args, config, recipe)
    record["data"]["build_audio_data_seconds"] = time.perf_counter() - started
    record["data"]["batches_per_epoch"] = (
        len(data.sampler.batches()) if hasattr(data.sampler, "batches") else None
    )
    write_json(json_path, record)

    results = record["results"]
    for variant in variants:
        needed_seconds = estimate(variant, args, results)
        if args.time_budget is not None and elapsed() + needed_seconds > args.time_budget:
            results[variant] = {
                "skipped": f"time budget: {elapsed():.0f} s used of {args.time_budget:.0f} s, "
                f"this variant needs ~{needed_seconds:.0f} s"
            }
            log(f"{variant}: skipped ({results[variant]['skipped']})")
            write_json(json_path, record)
            continue
        log(f"{variant}: running (estimate {needed_seconds:.0f} s)")
        try:
            if variant == "loader":
                results[variant] = measure_loader(data, args)
            elif variant == "flops":
                results[variant] = {
                    "ours_flops_per_step": count_flops(build_ours, config, state, recipe, gumbel, args),
                    "stock_flops_per_step": count_flops(build_stock, config, state, recipe, gumbel, args),
                    "counted_by": "torch.utils.flop_counter.FlopCounterMode, one eager forward + backward",
                }
            else:
                build = build_ours if variant in OURS_VARIANTS else build_stock
                results[variant] = run_variant(variant, build, data, config, state, recipe, gumbel, args)
        except Exception as error:  # one variant's failure must not lose the others
            results[variant] = {
                "error": f"{type(error).__name__}: {str(error)[:2000]}",
                "traceback": traceback.format_exc()[-4000:],
            }
            log(f"{variant}: FAILED {type(error).__name__}: {str(error)[:300]}")
        else:
            value = results[variant].get("audio_seconds_per_second")
            log(f"{variant}: done" + (f", {value:,.1f} audio-s/s" if value else ""))
        free_memory(args)
        summarize(record, args)
        record["wall_seconds"] = elapsed()
        write_json(json_path, record)

    summarize(record, args)
    record["wall_seconds"] = elapsed()
    write_json(json_path, record)
    for name, result in results.items():
        if "audio_seconds_per_second" in result:
            extra = ""
            if "mfu" in result:
                extra += f"  MFU {100 * result['mfu']:.1f}%"
            if result.get("peak_memory_gib") is not None:
                extra += f"  peak {result['peak_memory_gib']:.1f} GiB"
            if "no_loader_audio_seconds_per_second" in result:
                extra += f"  (no loader {result['no_loader_audio_seconds_per_second']:,.1f})"
            print(f"{name:20s} {result['audio_seconds_per_second']:12,.1f} audio-s/s{extra}")
        elif name == "flops" and "ours_flops_per_step" in result:
            print(
                f"{name:20s} ours {result['ours_flops_per_step'] / 1e9:,.1f} GFLOP/step, "
                f"stock {result['stock_flops_per_step'] / 1e9:,.1f} GFLOP/step"
            )
        else:
            print(f"{name:20s} {result.get('skipped') or result.get('error') or 'done'}")
    compact = {
        "device": record["device"],
        "preset": args.preset,
        "audio_seconds_per_second_with_loader": record.get("audio_seconds_per_second_with_loader"),
        "best_variant": record.get("best", {}).get("variant"),
        "stock_audio_seconds_per_second_with_loader": record.get(
            "stock_audio_seconds_per_second_with_loader"
        ),
        "speedup_vs_stock": record.get("speedup_vs_stock"),
        "goal_met": record.get("goal_met"),
        "json": args.json,
    }
    print(json.dumps(compact))
    failed = [n for n, r in results.items() if "error" in r]
    sys.exit(1 if failed and len(failed) == len(results) else 0)


if __name__ == "__main__":
    main()
