"""Writers of small real audio files for the data-layer tests (every file is written with soundfile)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def sine(frequency: float, rate: int, num_samples: int, amplitude: float = 0.5) -> np.ndarray:
    """float32 ``(num_samples,)`` sine at ``frequency`` Hz sampled at ``rate`` Hz."""
    t = np.arange(num_samples) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def write_wav(path: Path, waveform: np.ndarray, rate: int = 16000, subtype: str = "PCM_16") -> Path:
    """Write ``waveform`` ((samples,) or (samples, channels)) to ``path``; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, waveform, rate, subtype=subtype)
    return path


def write_tone(path: Path, num_samples: int, rate: int = 16000, frequency: float = 440.0, **kwargs) -> Path:
    """A sine file of ``num_samples`` frames at ``rate``."""
    return write_wav(path, sine(frequency, rate, num_samples), rate, **kwargs)


def write_corrupt(path: Path, num_bytes: int = 2000, seed: int = 0) -> Path:
    """Random bytes under an audio extension: no valid header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, num_bytes, dtype=np.uint8).tobytes())
    return path


def write_nan(path: Path, num_samples: int = 1600, rate: int = 16000) -> Path:
    """A float WAV whose samples include NaN and inf (valid header, bad data)."""
    waveform = sine(300.0, rate, num_samples)
    waveform[10] = np.nan
    waveform[20] = np.inf
    return write_wav(path, waveform, rate, subtype="FLOAT")


def write_empty(path: Path, rate: int = 16000) -> Path:
    """A valid WAV with 0 frames."""
    return write_wav(path, np.zeros(0, dtype=np.float32), rate)
