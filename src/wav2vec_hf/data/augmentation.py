"""Waveform augmentation for training: speed perturbation, a random equaliser and additive noise.

Speed perturbation (Ko et al. 2015, Kaldi's ``sox speed``) plays an utterance ``factor`` times
faster: tempo and pitch both change, which imitates other vocal-tract lengths and speaking rates
and is the cheapest remedy when a training set has few speakers. It resamples the waveform from
``rate`` to ``rate / factor`` with soxr and keeps treating it as ``rate``, so a 1 s utterance at
``factor`` 1.1 lasts 0.91 s. The random equaliser imitates other microphones and rooms: the
spectrum is multiplied by a smooth random gain curve (three cosines over the frequency axis, at most
``eq_db`` dB either way). White noise is added at a signal-to-noise ratio drawn per utterance.

Random draws come from torch's random number generator (one 63-bit seed per utterance), which
``transformers.Trainer`` seeds, checkpoints and restores and which DataLoader workers derive
their own seeds from: runs are reproducible and a resumed run continues the same sequence.

Only training data is augmented; evaluation sees the audio as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import soxr
import torch


def parse_range(text: str | None, name: str, *, low: float, high: float) -> tuple[float, float] | None:
    """``"a,b"`` (or one number ``"a"``, meaning ``a,a``) -> ``(a, b)`` with ``low <= a <= b <= high``.

    Raises:
        ValueError: naming the option, the value and the allowed range.
    """
    if text is None or str(text).strip() == "":
        return None
    parts = [part.strip() for part in str(text).split(",")]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or not (low <= values[0] <= values[1] <= high):
        raise ValueError(f"{name} must be 'MIN,MAX' with {low} <= MIN <= MAX <= {high}, got {text!r}")
    return values[0], values[1]


@dataclass(frozen=True)
class WaveformAugmentation:
    """Per-utterance random speed change and additive white noise.

    Attributes:
        speed: ``(min, max)`` speed factor, drawn uniformly per utterance (``None``: off). ``(0.9, 1.1)``
            is the usual range.
        noise_snr_db: ``(min, max)`` signal-to-noise ratio in dB of added white noise, drawn uniformly per
            utterance (``None``: off).
    """

    speed: tuple[float, float] | None = None
    noise_snr_db: tuple[float, float] | None = None
    eq_db: float | None = None

    @classmethod
    def from_options(
        cls, speed: str | None, noise_snr_db: str | None, eq_db: float | None = None
    ) -> WaveformAugmentation | None:
        """From command-line strings ``"0.9,1.1"`` / ``"15,40"`` and a number of dB; ``None`` when all are off.

        Raises:
            ValueError: a malformed or out-of-range value.
        """
        if eq_db is not None and not 0.0 <= float(eq_db) <= 30.0:
            raise ValueError(f"--random_eq_db must be between 0 and 30 dB, got {eq_db!r}")
        augmentation = cls(
            speed=parse_range(speed, "--speed_perturbation", low=0.5, high=2.0),
            noise_snr_db=parse_range(noise_snr_db, "--noise_snr_db", low=-10.0, high=100.0),
            eq_db=float(eq_db) if eq_db else None,
        )
        return augmentation if augmentation.active else None

    @property
    def active(self) -> bool:
        """Whether anything is changed."""
        return self.speed is not None or self.noise_snr_db is not None or self.eq_db is not None

    def to_dict(self) -> dict:
        """JSON-ready settings (for run records)."""
        return {"speed": self.speed, "noise_snr_db": self.noise_snr_db, "eq_db": self.eq_db}

    def __call__(self, waveform: np.ndarray, rate: int) -> np.ndarray:
        """Augment one utterance.

        Args:
            waveform: float32 ``(samples,)`` at ``rate`` Hz.
            rate: its sample rate.

        Returns:
            float32 ``(round(samples / factor),)``; unchanged when inactive or empty.
        """
        if not self.active or waveform.size == 0:
            return waveform
        rng = np.random.default_rng(int(torch.randint(0, 2**63 - 1, ()).item()))
        out = waveform
        if self.speed is not None:
            factor = float(rng.uniform(*self.speed))
            if abs(factor - 1.0) > 1e-6:
                out = soxr.resample(out, rate, rate / factor, quality="HQ").astype(np.float32, copy=False)
        if self.eq_db is not None:
            out = random_equaliser(out, self.eq_db, rng)
        if self.noise_snr_db is not None:
            snr_db = float(rng.uniform(*self.noise_snr_db))
            power = float(np.mean(np.square(out, dtype=np.float64)))
            if power > 0:
                scale = np.sqrt(power / 10.0 ** (snr_db / 10.0))
                out = (out + rng.standard_normal(out.shape[0]) * scale).astype(np.float32)
        return out


def random_equaliser(waveform: np.ndarray, max_db: float, rng: np.random.Generator) -> np.ndarray:
    """``waveform`` (float32 ``(samples,)``) through a random smooth equaliser of at most ``max_db`` dB.

    The gain in dB over the normalised frequency ``f`` in [0, 1] is ``sum_k a_k cos(k pi f)`` for
    k = 1, 2, 3 with ``a_k`` uniform in ``[-max_db / k, max_db / k]``, scaled down so its largest
    magnitude is at most ``max_db``; applied in the frequency domain, same length out.
    """
    if waveform.size < 2 or max_db <= 0:
        return waveform
    spectrum = np.fft.rfft(waveform.astype(np.float64))
    frequency = np.linspace(0.0, 1.0, spectrum.shape[0])
    orders = np.arange(1, 4)
    weights = rng.uniform(-1.0, 1.0, size=3) * max_db / orders
    gain_db = (weights[:, None] * np.cos(np.pi * orders[:, None] * frequency[None, :])).sum(axis=0)
    peak = float(np.abs(gain_db).max())
    if peak > max_db:
        gain_db *= max_db / peak
    return np.fft.irfft(spectrum * 10.0 ** (gain_db / 20.0), n=waveform.shape[0]).astype(np.float32)


__all__ = ["WaveformAugmentation", "parse_range", "random_equaliser"]
