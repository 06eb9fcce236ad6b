"""Random crops of files at another rate than the model's: decoded and resampled alone, or whole.

Pretraining crops long utterances (250k samples at 16 kHz for BASE). A file at 16 kHz has its crop
read from disk alone; a file at another rate (44.1 kHz audiobooks, 8 kHz telephone speech) used to be
decoded and resampled whole before the crop was cut. Now only the crop and a margin are read and
resampled (``data.audio.resampled_window``). This compares the two on the same examples, in one run:

* ``whole``: the behaviour before: the source's ``load_window`` disabled, so ``AudioDataset`` loads
  the whole file at 16 kHz and crops it;
* ``window``: the default path.

Per rate: audio-s delivered per CPU-s (``time.process_time``; one process, no workers), best of
``--repeats`` alternating, and the largest sample difference between the two (float rounding).
The last line is one JSON object with ``speedup_<rate>`` for each rate.

    python benchmarks/resampled_crops.py                     # 12 files x 30 s at 8, 22.05, 44.1, 48 kHz
    python benchmarks/resampled_crops.py --rates 44100 --files 24 --file-seconds 60
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from wav2vec_hf.data import AudioDataset, AudioSet, open_audio_source


class WholeFiles(AudioSet):
    """The same set with window reads disabled: every example decodes and resamples its whole file."""

    def __init__(self, source: AudioSet) -> None:
        super().__init__(
            source.records, name=source.name, skip_report=source.skip_report, reader=source._reader
        )

    def load_window(self, index: int, start: int, frames: int, **options) -> None:
        return None


def write_files(folder: Path, rate: int, count: int, seconds: float) -> AudioSet:
    """``count`` FLAC files of ``seconds`` of band-limited noise with a slow envelope, at ``rate``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(rate)
    frames = int(seconds * rate)
    for i in range(count):
        noise = rng.standard_normal(frames).astype(np.float32)
        envelope = 0.2 + 0.15 * np.sin(np.arange(frames) / rate * 2 * np.pi * rng.uniform(1, 4))
        sf.write(folder / f"u{i:03d}.flac", (0.1 * noise * envelope).astype(np.float32), rate)
    return open_audio_source(folder, validation_cache=False)


def read_all(dataset: AudioDataset, epoch: int) -> tuple[float, float, list[np.ndarray]]:
    """(audio seconds, CPU seconds, waveforms) of every example of ``epoch``."""
    start = time.process_time()
    waveforms = [dataset[(epoch, i)]["input_values"].numpy() for i in range(len(dataset))]
    used = time.process_time() - start
    return sum(len(w) for w in waveforms) / 16000, used, waveforms


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="8000,22050,44100,48000")
    parser.add_argument("--files", type=int, default=12)
    parser.add_argument("--file-seconds", type=float, default=30.0)
    parser.add_argument("--crop-samples", type=int, default=250_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    root = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="resampled-crops-"))
    summary: dict = {
        "crop_samples": args.crop_samples,
        "file_seconds": args.file_seconds,
        "files": args.files,
    }
    print(
        f"{args.files} FLAC files x {args.file_seconds:g} s, crops of {args.crop_samples} samples at 16 kHz"
    )
    print("| rate | whole file, audio-s / CPU-s | crop window, audio-s / CPU-s | speed-up | max difference |")
    print("|---|---|---|---|---|")
    for rate in (int(r) for r in args.rates.split(",")):
        source = write_files(root / str(rate), rate, args.files, args.file_seconds)
        options = {"crop_samples": args.crop_samples, "seed": 3}
        window, whole = AudioDataset(source, **options), AudioDataset(WholeFiles(source), **options)
        read_all(window, 0), read_all(whole, 0)  # warm-up
        best = {"window": 0.0, "whole": 0.0}
        difference = 0.0
        for repeat in range(args.repeats):
            audio, cpu, got = read_all(window, repeat)
            best["window"] = max(best["window"], audio / cpu)
            audio, cpu, expected = read_all(whole, repeat)
            best["whole"] = max(best["whole"], audio / cpu)
            difference = max(difference, max(float(np.abs(a - b).max()) for a, b in zip(got, expected)))
        speedup = best["window"] / best["whole"]
        print(
            f"| {rate} Hz | {best['whole']:,.0f} | {best['window']:,.0f} | {speedup:.2f}x | {difference:.1e} |"
        )
        summary[f"speedup_{rate}"] = speedup
        summary[f"max_difference_{rate}"] = difference
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
