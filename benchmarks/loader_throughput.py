"""The pretraining loader against its floor: audio-seconds delivered per CPU-second, FLAC and WAV.

The floor is the least work any loader must do: a plain ``soundfile.read`` loop over the very crops
the loader delivers (the same files, start frames and lengths), nothing else. The loader is the
package's pretraining data path as ``run_pretraining`` builds it (``build_audio_data``: validation,
``AudioDataset`` random crops, ``LengthBatchSampler``, ``AudioCollator``) read through
``BatchStream``, with ``--num-workers`` processes (0: in this process). Both are timed in CPU
seconds: ``resource.getrusage`` of this process plus its finished children (the workers are
stopped before reading it), so a shared machine does not blur the ratio. The two alternate,
best of ``--repeats`` after one untimed warm-up.

Reported per format (16-bit mono, speech-like files from ``synthetic_audio.py``: FLAC and WAV at
16 kHz, the model's rate, and FLAC at 44.1 kHz): audio-s per CPU-s of the floor and of the loader,
and their ratio. At 44.1 kHz the floor reads the crop's span at the file's rate and stops there; the
loader also resamples it to 16 kHz (soxr HQ, with a filter margin each side), which no plain read
loop does, so that ratio measures the resampling's price rather than the loader's overhead. Also the start-up of a rerun on
many files and the memory per utterance (``validation_startup.py``). The last line is one JSON object
with ``ratio_to_floor_flac16k``, ``ratio_to_floor_wav16k``, ``ratio_to_floor_flac44k``,
``startup_rerun_seconds_per_100k`` and ``rss_bytes_per_utterance``.

    python benchmarks/loader_throughput.py                      # 24 files x 20 s, crops of 250k samples
    python benchmarks/loader_throughput.py --num-workers 2 --startup-files 100000
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import itertools
import json
import math
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic_audio import ensure_audio
from validation_startup import build_manifest
from validation_startup import run as startup_run
from wav2vec_hf.data.audio import resampled_length
from wav2vec_hf.data.batching import crop_offset
from wav2vec_hf.presets import get_recipe
from wav2vec_hf.pretraining.data import BatchStream, build_audio_data


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def live_children_cpu_seconds() -> float:
    """CPU seconds (user + system) so far of this process's running children (the loader's workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for child in multiprocessing.active_children():
        try:
            fields = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited between the listing and the read
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


def loader_run(data, batches: int, workers: int) -> dict:
    """The loader's first ``batches`` batches: steady state and start-up, in audio and CPU seconds.

    Steady state counts the batches after the first, from the moment the first one arrived: this
    process's CPU plus the running workers' (read from ``/proc``), which is what a long run pays per
    batch once its persistent workers are up. Start-up is the first batch, worker start included.
    The harness's own clean-up (closing the loader, reaping the workers) is not counted.
    """
    stream = BatchStream(data.dataset, data.sampler, data.collator, num_workers=workers)
    iterator = iter(stream)
    start = cpu_seconds()
    first = next(iterator)
    steady_start = cpu_seconds() + live_children_cpu_seconds()
    startup_cpu = steady_start - start
    samples = 0
    for batch in itertools.islice(iterator, batches - 1):
        samples += int(batch["lengths"].sum())
    steady_cpu = cpu_seconds() + live_children_cpu_seconds() - steady_start
    iterator.close()  # stops the workers ...
    del iterator, stream
    gc.collect()
    while multiprocessing.active_children():  # ... and reaps them
        time.sleep(0.01)
    return {
        "audio_s": samples / 16000,
        "cpu_s": steady_cpu,
        "startup_cpu_s": startup_cpu,
        "first_batch_audio_s": int(first["lengths"].sum()) / 16000,
    }


def crops_of(data, batches: int) -> list[tuple[str, int, int]]:
    """The (path, start frame, frames) the loader's first ``batches`` batches read, from the same rules,
    in frames of the file (at another rate than the model's: the crop's span, without the resampling
    margin)."""
    dataset, source = data.dataset, data.dataset.source
    target = dataset.target_rate
    crops = []
    for epoch in itertools.count():
        for batch in data.sampler.batches(epoch):
            if batches == 0:
                return crops
            batches -= 1
            for index in batch:
                record = source[index]
                samples = resampled_length(record.num_samples, record.sample_rate, target)
                length = min(samples, dataset.crop_samples)
                start = crop_offset(samples, length, seed=dataset.seed, epoch=epoch, index=index)
                scale = record.sample_rate / target
                crops.append((record.path, int(start * scale), round(length * scale)))
    return crops


def floor_run(crops) -> tuple[float, float]:
    """(audio seconds, CPU seconds) of reading exactly ``crops`` with ``soundfile.read``."""
    start = cpu_seconds()
    seconds = 0.0
    for path, first, frames in crops:
        samples, rate = sf.read(path, start=first, frames=frames, dtype="float32")
        seconds += samples.shape[0] / rate
    return seconds, cpu_seconds() - start


FORMATS = {"flac16k": ("flac", 16_000), "wav16k": ("wav", 16_000), "flac44k": ("flac", 44_100)}


def measure(folder: Path, fmt: str, rate: int, args) -> dict:
    ensure_audio(folder, args.files, args.file_seconds, fmt=fmt, rate=rate)
    recipe = dataclasses.replace(
        get_recipe("wav2vec2-base"), crop_samples=args.crop_samples, max_batch_samples=args.batch_samples
    )
    data = build_audio_data(
        str(folder), split=None, recipe=recipe, min_samples=400, seed=1, on_bad="raise",
        num_replicas=1, rank=0, training=True,
    )  # fmt: skip
    crops = crops_of(data, args.batches)[len(data.sampler.batches(0)[0]) :]  # the loader's steady batches
    best_loader = best_floor = 0.0
    startup = math.inf
    loader_run(data, 2, args.num_workers)  # warm-up: first-use imports and caches, not counted
    floor_run(crops[:4])
    for _ in range(args.repeats):
        run = loader_run(data, args.batches, args.num_workers)
        best_loader = max(best_loader, run["audio_s"] / run["cpu_s"])
        startup = min(startup, run["startup_cpu_s"])
        audio, cpu = floor_run(crops)
        best_floor = max(best_floor, audio / cpu)
    return {
        "loader_audio_s_per_cpu_s": best_loader,
        "floor_audio_s_per_cpu_s": best_floor,
        "ratio": best_loader / best_floor,
        "loader_startup_cpu_s": startup,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--file-seconds", type=float, default=20.0)
    parser.add_argument("--crop-samples", type=int, default=250_000)
    parser.add_argument("--batch-samples", type=int, default=1_400_000)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--startup-files", type=int, default=20_000)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--formats", nargs="+", choices=list(FORMATS), default=list(FORMATS))
    args = parser.parse_args(argv)
    root = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="loader-throughput-"))
    results = {name: measure(root / name, *FORMATS[name], args) for name in args.formats}
    startup_dir = root / "startup"
    startup_dir.mkdir(parents=True, exist_ok=True)
    manifest = build_manifest(startup_dir, args.startup_files)
    startup_run(manifest, str(startup_dir / "cache"))  # the first run fills the cache
    rerun = startup_run(manifest, str(startup_dir / "cache"))
    print(
        f"{args.files} files x {args.file_seconds:g} s, crops of {args.crop_samples}, {args.num_workers} workers"
    )
    print(
        "| format | floor audio-s / CPU-s | loader audio-s / CPU-s (steady) | loader / floor | loader start-up CPU s |"
    )
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['floor_audio_s_per_cpu_s']:,.0f} | {r['loader_audio_s_per_cpu_s']:,.0f} "
            f"| {r['ratio']:.2f} | {r['loader_startup_cpu_s']:.3f} |"
        )
    summary = {
        **{f"ratio_to_floor_{name}": r["ratio"] for name, r in results.items()},
        "startup_rerun_seconds_per_100k": rerun["wall_s"] * 100_000 / args.startup_files,
        "rss_bytes_per_utterance": rerun["rss_bytes"] / rerun["utterances"],
        "num_workers": args.num_workers,
        "details": results,
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
