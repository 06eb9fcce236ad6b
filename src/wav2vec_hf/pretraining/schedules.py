"""Per-update schedules: learning rate (warm-up then polynomial / cosine decay) and Gumbel temperature.

Both are pure functions of the update count, so a resumed run needs nothing but that count to
continue them exactly. ``LearningRateSchedule`` is a callable returning the multiplier of the peak
learning rate, the form ``torch.optim.lr_scheduler.LambdaLR`` takes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LearningRateSchedule:
    """Linear warm-up from ``warmup_init_lr`` to ``peak_lr``, then decay to ``end_lr`` at ``total_steps``.

    Attributes:
        peak_lr: learning rate at the end of warm-up.
        total_steps: updates of the run (the decay ends there; later updates keep ``end_lr``).
        warmup_steps: warm-up updates.
        kind: ``"polynomial"`` (fairseq ``polynomial_decay``, power 1: linear), ``"cosine"`` (half a cosine
            wave from ``peak_lr`` to ``end_lr``, fairseq's cosine without restarts) or ``"constant"``.
        warmup_init_lr: learning rate at update 0.
        end_lr: learning rate at ``total_steps``.
        power: exponent of the polynomial decay.
    """

    peak_lr: float
    total_steps: int
    warmup_steps: int = 0
    kind: str = "polynomial"
    warmup_init_lr: float = 0.0
    end_lr: float = 0.0
    power: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("polynomial", "cosine", "constant"):
            raise ValueError(f"learning-rate schedule {self.kind!r}: choose polynomial, cosine or constant.")
        if self.peak_lr <= 0 or self.total_steps < 1 or self.warmup_steps < 0:
            raise ValueError("peak_lr must be > 0, total_steps >= 1 and warmup_steps >= 0.")

    def learning_rate(self, update: int) -> float:
        """The learning rate used by update ``update`` (0-based: the first update is 0)."""
        if update < self.warmup_steps:
            progress = update / self.warmup_steps
            return self.warmup_init_lr + (self.peak_lr - self.warmup_init_lr) * progress
        if self.kind == "constant":
            return self.peak_lr
        decay_steps = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (update - self.warmup_steps) / decay_steps)
        if self.kind == "cosine":
            return self.end_lr + 0.5 * (self.peak_lr - self.end_lr) * (1.0 + math.cos(math.pi * progress))
        return self.end_lr + (self.peak_lr - self.end_lr) * (1.0 - progress) ** self.power

    def __call__(self, update: int) -> float:
        """Multiplier of ``peak_lr`` (``LambdaLR``'s convention, the optimizer's lr being ``peak_lr``)."""
        return self.learning_rate(update) / self.peak_lr


@dataclass(frozen=True)
class GumbelSchedule:
    """fairseq's temperature annealing: ``max(end, start * decay ** update)``.

    ``scaled_to(start, end, floor_update)`` picks the decay that reaches ``end`` at ``floor_update``
    (short runs: the papers' 0.999995 needs ~277k updates to go from 2 to 0.5).
    """

    start: float = 2.0
    end: float = 0.5
    decay: float = 0.999995

    def __post_init__(self) -> None:
        if not (self.start > 0 and self.end > 0 and 0 < self.decay <= 1):
            raise ValueError(f"Gumbel schedule {self}: start and end must be > 0 and decay in (0, 1].")

    @classmethod
    def scaled_to(cls, start: float, end: float, floor_update: float) -> GumbelSchedule:
        """The schedule from ``start`` that reaches ``end`` after ``floor_update`` updates."""
        return cls(start, end, (end / start) ** (1.0 / max(1.0, floor_update)))

    def temperature(self, update: int) -> float:
        """Temperature used by update ``update`` (0-based)."""
        return max(self.end, self.start * self.decay**update)

    @property
    def floor_update(self) -> float:
        """The update at which the temperature reaches ``end`` (inf when it never does)."""
        if self.start <= self.end:
            return 0.0
        if self.decay >= 1.0:
            return math.inf
        return math.log(self.end / self.start) / math.log(self.decay)


__all__ = ["GumbelSchedule", "LearningRateSchedule"]
