"""Learning-rate schedule of the fine-tuning recipe: a head-only phase, then tri-stage.

Phase 1 (``head_steps`` updates): only the randomly initialised part (the CTC layer, or the
acoustic model of wav2vec / vq-wav2vec) trains, at a constant ``head_learning_rate``; the pretrained
network is frozen. This is wav2vec 2.0's "Transformer frozen for the first updates"; the high
constant rate is what lets a small model leave the all-blank CTC plateau (on the built-in corpus a
whole-model run at one rate stayed all-blank for 2000 updates; 200 head-only updates at 1e-2 escaped).

Phase 2 (the remaining updates): everything trainable, with fairseq's tri-stage schedule over the
phase's updates: linear warm-up from ``init_scale * peak`` to ``peak`` (first ``ratios[0]``), hold
(``ratios[1]``), exponential decay to ``final_scale * peak`` (``ratios[2]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class TriStage:
    """fairseq's tri-stage schedule as a multiplier of the peak rate.

    Attributes:
        ratios: fractions of the updates for warm-up, hold and decay (summing to at most 1; any rest
            stays at the final rate). The paper: (0.1, 0.4, 0.5).
        init_scale: rate at the start of warm-up, relative to the peak.
        final_scale: rate at the end of the decay, relative to the peak.
    """

    ratios: tuple[float, float, float] = (0.1, 0.4, 0.5)
    init_scale: float = 0.01
    final_scale: float = 0.05

    def __post_init__(self) -> None:
        if len(self.ratios) != 3 or any(r < 0 for r in self.ratios) or sum(self.ratios) > 1 + 1e-9:
            raise ValueError(
                f"tri-stage ratios {self.ratios}: give three non-negative fractions (warm-up, hold, decay) "
                "that sum to at most 1."
            )
        if not (0 < self.init_scale <= 1 and 0 < self.final_scale <= 1):
            raise ValueError("tri-stage init_scale and final_scale must be in (0, 1].")

    def __call__(self, step: int, total: int) -> float:
        """Multiplier of the peak rate at ``step`` of ``total`` updates."""
        if total <= 0:
            return 1.0
        warmup = int(self.ratios[0] * total)
        hold = int(self.ratios[1] * total)
        decay = int(self.ratios[2] * total)
        if step < warmup:
            return self.init_scale + (1 - self.init_scale) * step / warmup
        step -= warmup
        if step < hold:
            return 1.0
        step -= hold
        if step < decay:
            return math.exp(math.log(self.final_scale) * step / decay)
        return self.final_scale


@dataclass(frozen=True)
class TwoPhaseSchedule:
    """Per-parameter-group multipliers of ``peak_learning_rate`` for the whole run.

    Attributes:
        head_steps: updates of the head-only phase.
        total_steps: all updates of the run.
        peak_learning_rate: phase 2 peak rate.
        head_learning_rate: phase 1 rate of the head.
        tri_stage: the phase 2 schedule.
    """

    head_steps: int
    total_steps: int
    peak_learning_rate: float
    head_learning_rate: float
    tri_stage: TriStage = TriStage()

    def head_factor(self, step: int) -> float:
        """Multiplier for the head's parameter groups at ``step``."""
        if step < self.head_steps:
            return self.head_learning_rate / self.peak_learning_rate
        return self.tri_stage(step - self.head_steps, self.total_steps - self.head_steps)

    def body_factor(self, step: int) -> float:
        """Multiplier for the pretrained parameters: 0 in phase 1, tri-stage in phase 2."""
        if step < self.head_steps:
            return 0.0
        return self.tri_stage(step - self.head_steps, self.total_steps - self.head_steps)

    def learning_rates(self, step: int) -> tuple[float, float]:
        """``(head rate, body rate)`` at ``step``."""
        return (
            self.peak_learning_rate * self.head_factor(step),
            self.peak_learning_rate * self.body_factor(step),
        )


def auto_learning_rate(num_parameters: int) -> float:
    """Phase 2 peak rate for a model of ``num_parameters`` when none is given.

    5e-5 (the paper's rate for BASE on 10 min - 100 h of labels) from 90M parameters up, 1e-3 (what
    escaped the all-blank plateau for a 1.8M-parameter model) up to 2M, log-linear in between.
    """
    small, large = 2e6, 9e7
    if num_parameters <= small:
        return 1e-3
    if num_parameters >= large:
        return 5e-5
    position = math.log(num_parameters / small) / math.log(large / small)
    return math.exp(math.log(1e-3) + position * (math.log(5e-5) - math.log(1e-3)))


__all__ = ["TriStage", "TwoPhaseSchedule", "auto_learning_rate"]
