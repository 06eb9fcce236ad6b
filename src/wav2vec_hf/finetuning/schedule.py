"""Learning-rate schedules of CTC fine-tuning, as per-parameter-group multipliers of the peak rate.

Two ways to start (``--schedule``); both keep the pretrained network frozen for a while, then
train everything trainable:

* ``head_first`` (``TwoPhaseSchedule``, the default): phase 1 (``head_steps`` updates) trains only
  the randomly initialised part (the CTC layer, or the acoustic model of wav2vec / vq-wav2vec) at a
  constant ``head_learning_rate``; phase 2 runs the tri-stage schedule over the REMAINING updates.
  The high constant rate is what lets a small model leave the all-blank CTC plateau (on the built-in
  corpus a whole-model run at one rate stayed all-blank for 2000 updates; 200 head-only updates at
  1e-2 escaped).
* ``fairseq`` (``FrozenStartSchedule``, what the paper's configs do): ONE tri-stage schedule over
  the whole run for every parameter; the pretrained network gets no gradient for the first
  ``freeze_finetune_updates`` updates, while the head already follows the schedule.

``TriStage`` is fairseq's ``tri_stage`` scheduler: linear warm-up from ``init_scale * peak`` to
``peak`` (first ``ratios[0]`` of the updates), hold (``ratios[1]``), exponential decay to
``final_scale * peak`` (``ratios[2]``), then ``final_scale * peak``; stage lengths are
``int(ratio * total)``, as fairseq rounds them. Update ``k`` (counted from 0) runs at the rate for
``k``, as in fairseq (its scheduler is set for ``num_updates`` before each update).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar


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
        """Multiplier of the peak rate at update ``step`` (from 0) of ``total`` updates.

        fairseq's stages: warm-up ``init + (1 - init) / warmup * step`` while ``step < warmup``; 1
        while ``step < warmup + hold``; ``exp(-decay_factor * s)`` with ``decay_factor =
        -ln(final_scale) / decay`` while ``s = step - warmup - hold <= decay``; then ``final_scale``.
        """
        if total <= 0:
            return 1.0
        warmup = int(self.ratios[0] * total)
        hold = int(self.ratios[1] * total)
        decay = int(self.ratios[2] * total)
        if step < warmup:
            return self.init_scale + (1 - self.init_scale) / warmup * step
        step -= warmup
        if step < hold:
            return 1.0
        step -= hold
        if decay > 0 and step <= decay:
            return math.exp(math.log(self.final_scale) / decay * step)
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

    kind: ClassVar[str] = "head_first"

    @property
    def frozen_steps(self) -> int:
        """Updates during which the pretrained network is frozen (the head-only phase)."""
        return self.head_steps

    def describe(self) -> str:
        """One line: which schedule, with its numbers."""
        return (
            f"head_first: the new layer alone for {self.head_steps} updates at "
            f"{self.head_learning_rate:g} (pretrained network frozen), then tri-stage "
            f"{_ratios(self.tri_stage)} to peak {self.peak_learning_rate:g} over the remaining "
            f"{max(self.total_steps - self.head_steps, 0)} updates"
        )

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


@dataclass(frozen=True)
class FrozenStartSchedule:
    """fairseq's fine-tuning schedule: one tri-stage over all updates; the pretrained network frozen first.

    The head (and, once released, the pretrained network) runs at ``peak * tri_stage(step, total)``
    from update 0: fairseq's single learning rate. The pretrained network is frozen while ``step <
    freeze_steps`` (fairseq's ``freeze_finetune_updates <= num_updates`` test); its multiplier is 0
    there, which changes nothing in one process (it has no gradient) and keeps it fixed under DDP.

    Attributes:
        freeze_steps: fairseq's ``freeze_finetune_updates``.
        total_steps: all updates of the run (fairseq's ``max_update``).
        peak_learning_rate: fairseq's ``lr``.
        tri_stage: the schedule (phase ratios and scales).
    """

    freeze_steps: int
    total_steps: int
    peak_learning_rate: float
    tri_stage: TriStage = TriStage()

    kind: ClassVar[str] = "fairseq"

    @property
    def frozen_steps(self) -> int:
        """Updates during which the pretrained network is frozen."""
        return self.freeze_steps

    @property
    def head_learning_rate(self) -> float:
        """The head's highest rate (the peak: it follows the same schedule)."""
        return self.peak_learning_rate

    def head_factor(self, step: int) -> float:
        """Multiplier for the head's parameter groups at ``step``: the tri-stage of the whole run."""
        return self.tri_stage(step, self.total_steps)

    def body_factor(self, step: int) -> float:
        """Multiplier for the pretrained parameters: 0 while frozen, then the same tri-stage."""
        if step < self.freeze_steps:
            return 0.0
        return self.tri_stage(step, self.total_steps)

    def learning_rates(self, step: int) -> tuple[float, float]:
        """``(head rate, body rate)`` at ``step``."""
        return (
            self.peak_learning_rate * self.head_factor(step),
            self.peak_learning_rate * self.body_factor(step),
        )

    def describe(self) -> str:
        """One line: which schedule, with its numbers."""
        return (
            f"fairseq: one tri-stage {_ratios(self.tri_stage)} to peak {self.peak_learning_rate:g} over all "
            f"{self.total_steps} updates for every parameter; pretrained network frozen for the first "
            f"{self.freeze_steps} updates"
        )


def _ratios(tri_stage: TriStage) -> str:
    return "/".join(f"{ratio:g}" for ratio in tri_stage.ratios)


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


__all__ = ["FrozenStartSchedule", "TriStage", "TwoPhaseSchedule", "auto_learning_rate"]
