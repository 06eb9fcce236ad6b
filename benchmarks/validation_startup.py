"""Start-up of a run on many files: validating a manifest the first time, and again from the file-facts cache.

Builds a fairseq manifest of ``--files`` small 16 kHz WAV files (one 0.1 s file's bytes under many
names, dated an hour back like a corpus on disk), then times ``open_audio_source`` (what pretraining
and fine-tuning call at start) in fresh processes, side by side in one run:

* ``first``: no cache yet: every header read and every file decoded (the set is under 10 h);
* ``rerun``: the cache the first run wrote (``data.file_facts``): stat every file, read no header;
* ``no_cache``: the cache turned off (what every run and every rank paid before it).

Reported per run: wall and CPU seconds (``resource.getrusage`` of the child), those per 100k files,
and the resident memory the opened set holds per utterance: RSS after minus before opening, in a
process that has opened a 200-file manifest once (so the per-process costs of a first open, such as
lazy imports, are not counted per utterance), in all and beyond the paths' own UTF-8 bytes; and what
each added utterance costs (the rerun against a rerun of the manifest's first half: a fixed few MiB
that the allocator keeps whatever the corpus size drops out). The last line is one JSON object with
``startup_rerun_seconds_per_100k`` (wall), ``rss_bytes_per_utterance``,
``rss_bytes_per_utterance_beyond_paths`` and ``rss_bytes_per_additional_utterance_beyond_paths``.

    python benchmarks/validation_startup.py                 # 20,000 files
    python benchmarks/validation_startup.py --files 100000 --workdir /tmp/startup
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

CHILD = r"""
import json, os, resource, sys, time
import wav2vec_hf.data as data

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

manifest, warm_up, cache = sys.argv[1], sys.argv[2], sys.argv[3]
cache = False if cache == "off" else cache
# A small manifest first: what any first open costs once per process (lazy imports, first-use caches,
# the allocator's own pools) is not a cost per utterance.
data.open_audio_source(warm_up, validation_cache=cache)
before_rss = rss()
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu0, wall0 = usage.ru_utime + usage.ru_stime, time.perf_counter()
audio = data.open_audio_source(manifest, validation_cache=cache)
wall = time.perf_counter() - wall0
usage = resource.getrusage(resource.RUSAGE_SELF)
cpu = usage.ru_utime + usage.ru_stime - cpu0
print(json.dumps({"utterances": len(audio), "wall_s": wall, "cpu_s": cpu, "rss_bytes": rss() - before_rss,
                  "path_bytes": sum(len(r.path.encode()) for r in audio.records)}))
"""


WARM_UP_FILES = 200
"""Each child first opens a manifest of this many of the files: per-process costs are not per utterance."""


def build_manifest(folder: Path, files: int) -> Path:
    """A manifest of ``files`` identical 0.1 s WAV files under distinct names, dated an hour back."""
    buffer = io.BytesIO()
    sf.write(
        buffer, (0.1 * np.sin(np.arange(1600) / 5)).astype(np.float32), 16000, format="WAV", subtype="PCM_16"
    )
    payload = buffer.getvalue()
    audio = folder / "audio"
    old = time.time() - 3600
    rows = []
    for i in range(files):
        sub = audio / f"{i // 1000:04d}"
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"u{i:07d}.wav"
        path.write_bytes(payload)
        os.utime(path, (old, old))
        rows.append(f"{path.relative_to(audio)}\t1600")
    manifest = folder / "train.tsv"
    manifest.write_text(f"{audio}\n" + "\n".join(rows) + "\n")
    warm_up = folder / "warm_up.tsv"
    warm_up.write_text(f"{audio}\n" + "\n".join(rows[:WARM_UP_FILES]) + "\n")
    half = folder / "half.tsv"
    half.write_text(f"{audio}\n" + "\n".join(rows[: files // 2]) + "\n")
    return manifest


def run(manifest: Path, cache: str) -> dict:
    warm_up = manifest.with_name("warm_up.tsv")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(manifest), str(warm_up), cache],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--workdir", default=None, help="where the files go (default: a temporary folder)")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="validation-startup-"))
    try:
        manifest = build_manifest(workdir, args.files)
        cache = workdir / "cache"
        results = {
            "first": run(manifest, str(cache)),
            "rerun": run(manifest, str(cache)),
            "no_cache": run(manifest, "off"),
        }
        run(manifest.with_name("half.tsv"), str(cache))  # its cache, so the next one is a rerun too
        half = run(manifest.with_name("half.tsv"), str(cache))
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    per_100k = 100_000 / args.files
    print(f"{args.files} files ({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs)")
    print(
        "| run | wall s | CPU s | wall s / 100k files | CPU s / 100k files | RSS bytes / utterance "
        "| beyond the paths |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(
            f"| {name} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['wall_s'] * per_100k:.1f} | "
            f"{r['cpu_s'] * per_100k:.1f} | {r['rss_bytes'] / r['utterances']:.0f} | "
            f"{(r['rss_bytes'] - r['path_bytes']) / r['utterances']:.0f} |"
        )
    rerun = results["rerun"]
    summary = {
        "files": args.files,
        "startup_first_seconds_per_100k": results["first"]["wall_s"] * per_100k,
        "startup_rerun_seconds_per_100k": rerun["wall_s"] * per_100k,
        "startup_no_cache_seconds_per_100k": results["no_cache"]["wall_s"] * per_100k,
        "rerun_cpu_seconds_per_100k": rerun["cpu_s"] * per_100k,
        "rerun_speedup_vs_no_cache_cpu": results["no_cache"]["cpu_s"] / max(rerun["cpu_s"], 1e-9),
        "rss_bytes_per_utterance": rerun["rss_bytes"] / rerun["utterances"],
        "rss_bytes_per_utterance_beyond_paths": (rerun["rss_bytes"] - rerun["path_bytes"])
        / rerun["utterances"],
    }
    # What one more utterance costs: the rerun's RSS against a rerun of the first half of the manifest.
    added = rerun["utterances"] - half["utterances"]
    summary["rss_bytes_per_additional_utterance"] = (rerun["rss_bytes"] - half["rss_bytes"]) / added
    summary["rss_bytes_per_additional_utterance_beyond_paths"] = (
        rerun["rss_bytes"] - rerun["path_bytes"] - half["rss_bytes"] + half["path_bytes"]
    ) / added
    print(
        f"rerun of the first half ({half['utterances']} files): RSS {half['rss_bytes'] / 2**20:.1f} MiB; "
        f"each added utterance: {summary['rss_bytes_per_additional_utterance']:.0f} bytes, "
        f"{summary['rss_bytes_per_additional_utterance_beyond_paths']:.0f} beyond its path"
    )
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
