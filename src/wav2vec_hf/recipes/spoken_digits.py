"""Spoken digits ("ZERO" .. "NINE") in many synthetic voices, for training a digit recogniser on more
voices than a small real corpus has.

Each voice is an eSpeak NG accent and voice variant with its own rate and pitch (drawn from ``seed``);
it says every digit once. The audio is written at ``sample_rate`` (FSDD's 8 kHz by default, so the
synthetic speech has the real recordings' bandwidth) with a short random silence before and after,
as 16-bit WAV, and listed in ``digits.tsv`` (``path / transcript / speaker``). Same arguments, same
files. Needs the ``tts`` extra (``pip install 'wav2vec-hf[tts]'``).
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import numpy as np

DIGIT_WORDS = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")
TABLE_NAME = "digits.tsv"


def synthesize_digits(
    out_dir: str | os.PathLike, voices: int, *, seed: int = 0, sample_rate: int = 8000
) -> Path:
    """Write ``voices * 10`` recordings and their table under ``out_dir``; returns the table.

    Args:
        out_dir: created; an existing table made with the same arguments is reused.
        voices: how many synthetic speakers (each says the ten digits).
        seed: draws the voices, their rates, pitches and silences.
        sample_rate: Hz of the written files.

    Raises:
        ValueError: ``voices`` < 1.
        MissingExtraError: the ``tts`` extra is not installed.
    """
    import soundfile as sf
    import soxr

    from wav2vec_hf.recipes.tts import ENGLISH_ACCENTS, EspeakSynthesizer, VoiceSettings, available_variants

    if voices < 1:
        raise ValueError(f"synthetic voices must be at least 1, got {voices}")
    out = Path(out_dir)
    table = out / TABLE_NAME
    stamp = out / "arguments.txt"
    arguments = f"voices={voices} seed={seed} sample_rate={sample_rate}\n"
    if table.is_file() and stamp.is_file() and stamp.read_text() == arguments:
        return table
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    synthesizer = EspeakSynthesizer()
    accents, variants = sorted(ENGLISH_ACCENTS), available_variants()
    rows = []
    for voice in range(voices):
        accent, variant = rng.choice(accents), rng.choice(variants)
        rate, pitch = rng.randint(120, 220), rng.randint(15, 85)
        for digit, word in enumerate(DIGIT_WORDS):
            settings = VoiceSettings(
                accent,
                variant,
                rate=rate + rng.randint(-15, 15),
                pitch=min(100, max(0, pitch + rng.randint(-8, 8))),
                pitch_range=rng.randint(20, 80),
            )
            speech = synthesizer.synthesize(word.lower(), settings, seed=voice * 10 + digit)
            audio = soxr.resample(speech.astype(np.float32) / 32768, synthesizer.sample_rate, sample_rate)
            pad = sample_rate // 10
            audio = np.concatenate(
                [np.zeros(rng.randint(0, pad), np.float32), audio, np.zeros(rng.randint(0, pad), np.float32)]
            )
            path = out / f"{digit}_voice{voice}.wav"
            sf.write(path, audio, sample_rate, subtype="PCM_16")
            rows.append((str(path.resolve()), word, f"espeak_{voice}_{accent}_{variant}"))
    with table.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["path", "transcript", "speaker"])
        writer.writerows(rows)
    stamp.write_text(arguments)
    return table


__all__ = ["DIGIT_WORDS", "TABLE_NAME", "synthesize_digits"]
