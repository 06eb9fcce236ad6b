"""Speech-like audio files on local disk, for loader benchmarks (FLAC, or WAV without soundfile).

Each file is a voiced signal (harmonics of a wandering pitch through a few moving formant-like
resonances) under a syllable-rate envelope, with noise bursts and pauses, 16-bit mono at 16 kHz (or
made at 16 kHz and resampled to ``rate``, e.g. 44.1 kHz audiobooks).
It is not speech; it only makes FLAC compress (and so decode) about as real speech does, unlike
white noise. Files are a pure function of ``(seed, index)``; a folder already holding the requested
files (same count, length and format, recorded in ``synthetic_audio.json``) is reused.

    python benchmarks/synthetic_audio.py --out /tmp/audio --count 1024 --seconds 20 --workers 16

Prints one JSON object: folder, format, files, seconds per file, bytes on disk, wall seconds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
INFO_FILE = "synthetic_audio.json"


def soundfile_available() -> bool:
    try:
        import soundfile  # noqa: F401
    except (ImportError, OSError):  # OSError: the wheel's libsndfile failed to load
        return False
    return True


def synthesize(index: int, seconds: float, seed: int = 0) -> np.ndarray:
    """int16 samples of one file."""
    rng = np.random.default_rng([seed, index])
    n = round(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    # Pitch wanders between ~90 and ~250 Hz (a random walk, smoothed by a cumulative sum).
    f0 = 150 + 60 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 6.3))
    f0 += np.cumsum(rng.normal(0, 0.05, n)).clip(-40, 40)
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = np.zeros(n)
    formants = rng.uniform([400, 1100, 2300], [800, 1800, 3000])
    drift = rng.uniform(0.2, 1.0, 3)
    # Harmonic gains change slowly: computed on a 100 Hz grid, held for 10 ms.
    hop = SAMPLE_RATE // 100
    t_grid, f0_grid = t[::hop], f0[::hop]
    for k in range(1, 16):
        gain = np.zeros(len(t_grid))
        for j, (centre, rate) in enumerate(zip(formants, drift)):
            moving = centre * (1 + 0.15 * np.sin(2 * np.pi * rate * t_grid + j))
            gain += np.exp(-(((k * f0_grid - moving) / 180.0) ** 2))
        voiced += np.repeat(gain, hop)[:n] * np.sin(k * phase) / k**0.5
    # Syllable-rate envelope (~4 Hz), pauses, and fricative-like noise bursts.
    syllables = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 6.3)))
    pauses = np.repeat(rng.random(int(np.ceil(seconds * 2))) > 0.15, SAMPLE_RATE // 2)[:n]
    noise = rng.normal(0, 1, n) * (rng.random(n // 800 + 1).repeat(800)[:n] > 0.8)
    signal = (voiced * syllables + 0.3 * noise) * pauses + rng.normal(0, 0.003, n)
    signal *= 0.3 / (np.abs(signal).max() + 1e-9)
    return np.round(signal * 32767).astype(np.int16)


def _write_one(task: tuple[str, int, float, int, str, int]) -> int:
    folder, index, seconds, seed, fmt, rate = task
    samples = synthesize(index, seconds, seed)
    if rate != SAMPLE_RATE:
        import soxr

        resampled = soxr.resample(samples.astype(np.float32) / 32768, SAMPLE_RATE, rate, quality="HQ")
        samples = np.round(np.clip(resampled, -1, 32767 / 32768) * 32768).astype(np.int16)
    path = Path(folder) / f"utt{index:06d}.{fmt}"
    if fmt == "flac":
        import soundfile

        soundfile.write(str(path), samples, rate, subtype="PCM_16", format="FLAC")
    else:  # the stdlib fallback: 16-bit PCM WAV
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(rate)
            out.writeframes(samples.tobytes())
    return path.stat().st_size


def ensure_audio(
    folder: str | os.PathLike[str],
    count: int,
    seconds: float,
    *,
    workers: int | None = None,
    seed: int = 0,
    fmt: str | None = None,
    rate: int = SAMPLE_RATE,
) -> dict:
    """Write (or reuse) ``count`` files of ``seconds`` each at ``rate`` Hz in ``folder``; returns what is there."""
    folder = Path(folder)
    fmt = fmt or ("flac" if soundfile_available() else "wav")
    wanted = {"files": count, "seconds_per_file": seconds, "format": fmt, "seed": seed, "sample_rate": rate}
    info_path = folder / INFO_FILE
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        if all(info.get(k, SAMPLE_RATE if k == "sample_rate" else None) == v for k, v in wanted.items()):
            return {**info, "reused": True, "wall_seconds": 0.0}
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("utt*.*"):
        old.unlink()
    started = time.perf_counter()
    workers = workers or len(os.sched_getaffinity(0))
    tasks = [(str(folder), i, seconds, seed, fmt, rate) for i in range(count)]
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            sizes = pool.map(_write_one, tasks, chunksize=max(1, count // (4 * workers)))
    else:
        sizes = [_write_one(task) for task in tasks]
    info = {
        **wanted,
        "folder": str(folder),
        "bytes": int(sum(sizes)),
        "audio_seconds": count * seconds,
        "fallback": None
        if fmt == "flac"
        else "WAV written with the stdlib wave module"
        + ("" if soundfile_available() else " (soundfile missing)"),
    }
    info_path.write_text(json.dumps(info))
    return {**info, "reused": False, "wall_seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--count", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=["flac", "wav"], default=None)
    args = parser.parse_args()
    info = ensure_audio(
        args.out, args.count, args.seconds, workers=args.workers, seed=args.seed, fmt=args.format
    )
    print(json.dumps(info))


if __name__ == "__main__":
    main()
