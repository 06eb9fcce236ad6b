"""Is the run healthy? Collapse and divergence signs, with the known remedies.

What a healthy contrastive run looks like (our reference curves: docs/pretraining.md): the
contrastive loss falls from about ``log(K + 1)`` (chance over K distractors), the accuracy climbs
from ``1 / (K + 1)``, the code perplexity stays far above the number of groups G (a collapsed
codebook uses one entry per group: perplexity G) and the diversity loss stays well below 1.

``HealthMonitor.observe(update, metrics)`` checks each update's (process-averaged) metrics against
those signs. A sign must last ``patience`` consecutive updates to count; each becomes one
``HealthEvent`` whose message names the problem and the remedies, and it can fire again only after
it has cleared. Signs:

* ``codebook_collapse``: code perplexity <= 2 G;
* ``trivial_task``: contrastive loss < 0.01 with accuracy > 0.99 (every distractor shares the
  positive's code, or the targets leak);
* ``diversity_saturated``: diversity loss > 0.9 (the averaged code distribution uses < 10% of G V);
* ``stalled``: from 15% of the run on (and at least 3 windows), over the last ``window`` updates
  (5% of the run, at least 10) the accuracy is below 1.5 x chance, and against the run's first
  ``window`` updates the contrastive loss is flat (< 2% lower), the code perplexity has not fallen
  (by 10%) and the diversity loss is flat (within 0.05), each where the model has one. Healthy small
  runs sit near chance at first while their codes sharpen (perplexity falling, diversity moving), which
  this tells apart. Checked on window means, so a stalled run is named at the first check (update 90
  of 600), with the measured numbers (and the context similarity: near 1 when the Transformer gives
  every frame the same output); once per episode.
* ``nonfinite``: a NaN/inf loss or gradient (the update is skipped and counted by the loop; too
  many in a row stop the run with ``TrainingDivergedError``).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import asdict, dataclass, field

from wav2vec_hf.errors import Wav2VecHFError
from wav2vec_hf.json_files import record_field, record_from_dict
from wav2vec_hf.pretraining.tasks import HealthSpec

logger = logging.getLogger(__name__)

REMEDIES = {
    "codebook_collapse": (
        "lower the learning rate (halve it), use larger batches (--max_batch_samples, --update_freq), check "
        "the diversity loss weight (0.1 in the paper; --config_overrides diversity_loss_weight=...), keep the "
        "Gumbel temperature high for longer (--gumbel_floor_fraction), and on tiny data concatenate "
        "utterances into ~4 s segments (--segment_seconds 4)"
    ),
    "trivial_task": (
        "this is usually codebook collapse (all distractors share the positive's code): see the code "
        "perplexity; lower the learning rate, raise the diversity weight, use larger batches; also check that "
        "masking is on (mask_time_prob) and that the inputs are not all identical (silence)"
    ),
    "diversity_saturated": (
        "raise the diversity loss weight, lower the learning rate, check that the audio is not mostly "
        "silence or padding"
    ),
    "stalled": (
        "look at grad_norm/transformer (--log_module_grad_norms): a gradient spike followed by a 100x "
        "smaller Transformer gradient means the Transformer died at the peak learning rate: lower the "
        "learning rate, lengthen warm-up, or use a pre-LN encoder (do_stable_layer_norm=true); a run that "
        "never left chance needs a higher learning rate or longer inputs (--segment_seconds 4 on short "
        "utterances), fewer distractors or a shorter mask span for small models; check that the audio is "
        "speech at 16 kHz (not silence, not normalised twice)"
    ),
    "nonfinite": (
        "lower the learning rate, clip gradients (--max_grad_norm 10), prefer bf16 to fp16, and validate the "
        "audio for NaN/inf (ValidationRules(decode=True))"
    ),
}

DESCRIPTIONS = {
    "codebook_collapse": "code perplexity {value:.2f} sank to the collapse level (G = {groups} groups)",
    "trivial_task": "contrastive loss {value:.4f} near 0 with accuracy near 1",
    "diversity_saturated": "diversity loss {value:.3f}: the codebook usage collapsed",
    "nonfinite": "a NaN/inf loss or gradient",
}


class TrainingDivergedError(Wav2VecHFError, RuntimeError):
    """Too many consecutive updates with NaN/inf loss or gradients."""


@dataclass
class HealthEvent:
    """One detected sign: when, what, and what to do."""

    update: int
    kind: str
    value: float
    message: str


HEALTH_FILE = "health.json"


@dataclass
class HealthSummary:
    """``health.json`` (and the ``health`` of ``pretraining_summary.json``): the verdict and its evidence.

    Written by the loop (``HealthMonitor.summary``) and read by the model card through this type, so a
    renamed field breaks a test, not a card row.

    Attributes:
        healthy: no sign but skipped non-finite updates.
        events: ``HealthEvent`` fields, one object per sign seen.
        nonfinite_updates_skipped: updates skipped for a NaN/inf gradient.
        chance_accuracy, collapse_code_perplexity, max_code_perplexity: the reference levels.
    """

    healthy: bool
    events: list[dict] = field(default_factory=list)
    nonfinite_updates_skipped: int = 0
    chance_accuracy: float | None = None
    collapse_code_perplexity: int | None = None
    max_code_perplexity: int | None = None

    @classmethod
    def from_dict(cls, content: dict | None) -> HealthSummary | None:
        """The summary of a JSON object (unknown keys ignored), or ``None`` when it holds no verdict."""
        if not isinstance(content, dict) or "healthy" not in content:
            return None
        return record_from_dict(cls, content)

    def event_kinds(self) -> list[str]:
        """The kinds of sign seen, sorted, each once."""
        kind = record_field(HealthEvent, "kind", file=HEALTH_FILE)
        return sorted({str(event.get(kind)) for event in self.events if isinstance(event, dict)})


class HealthMonitor:
    """Watches per-update metrics for collapse and divergence.

    Args:
        spec: chance accuracy and codebook size of the model.
        max_steps: updates of the run (``stalled`` is checked from ``STALL_CHECK_FRACTION`` of it).
        patience: updates a collapse sign must last.
        max_nonfinite: consecutive NaN/inf updates after which ``record_nonfinite`` raises.
    """

    STALL_CHECK_FRACTION = 0.15
    WINDOW_FRACTION = 0.05
    TRACKED = ("accuracy", "code_perplexity", "diversity_loss", "loss", "context_similarity")

    def __init__(
        self, spec: HealthSpec, *, max_steps: int, patience: int = 50, max_nonfinite: int = 20
    ) -> None:
        self.spec = spec
        self.max_steps = max_steps
        self.patience = max(1, int(patience))
        self.max_nonfinite = max(1, int(max_nonfinite))
        self.streaks: dict[str, int] = {kind: 0 for kind in REMEDIES}
        self.active: dict[str, bool] = {kind: False for kind in REMEDIES}
        self.events: list[HealthEvent] = []
        self.nonfinite_total = 0
        self.nonfinite_streak = 0
        # Means over fewer than 10 updates are noise, and a run needs a few windows to leave its start:
        # short runs (smoke tests) are checked from update 30.
        self.window = max(10, math.ceil(self.WINDOW_FRACTION * max_steps))
        self.stall_from = max(3 * self.window, math.ceil(self.STALL_CHECK_FRACTION * max_steps))
        # Means of the run's first `window` updates, and the last `window` values, per tracked metric.
        self.first: dict[str, list[float]] = {key: [] for key in self.TRACKED}
        self.recent: dict[str, deque[float]] = {key: deque(maxlen=self.window) for key in self.TRACKED}
        self.observed = 0

    # --- per-update checks -------------------------------------------------------------------

    def observe(self, update: int, metrics: dict[str, float]) -> list[HealthEvent]:
        """Check one update's metrics; returns the events that fired now (also logged as warnings)."""
        spec = self.spec
        fired = []
        accuracy = metrics.get("accuracy")
        tracked = {**metrics, "loss": metrics.get("contrastive_loss", metrics.get("loss"))}
        for key in self.TRACKED:
            value = tracked.get(key)
            if value is not None and math.isfinite(value):
                if len(self.first[key]) < self.window:
                    self.first[key].append(value)
                self.recent[key].append(value)

        perplexity = metrics.get("code_perplexity")
        if spec.num_groups is not None and perplexity is not None:
            fired += self._check("codebook_collapse", perplexity <= 2 * spec.num_groups, update, perplexity)
        if accuracy is not None and "contrastive_loss" in metrics:
            trivial = metrics["contrastive_loss"] < 0.01 and accuracy > 0.99
            fired += self._check("trivial_task", trivial, update, metrics["contrastive_loss"])
        if spec.has_diversity and "diversity_loss" in metrics:
            fired += self._check(
                "diversity_saturated", metrics["diversity_loss"] > 0.9, update, metrics["diversity_loss"]
            )
        self.observed += 1
        # Counted in updates this monitor has seen: a run continued from update N (--init_from) gets
        # the same 15% grace as a new one.
        if accuracy is not None and self.observed >= self.stall_from:
            stalled, description = self._stalled(update)
            if not stalled:
                self.active["stalled"] = False
            elif not self.active["stalled"]:
                self.active["stalled"] = True
                fired.append(self._event("stalled", update, self._mean(self.recent["accuracy"]), description))
        return fired

    def _stalled(self, update: int) -> tuple[bool, str]:
        """Whether the last window looks like the start of the run, and the numbers that say so."""
        chance = self.spec.chance_accuracy
        accuracy = self._mean(self.recent["accuracy"])
        checks = [accuracy < 1.5 * chance]
        parts = [
            f"over updates {update - len(self.recent['accuracy']) + 1}-{update} the accuracy is "
            f"{accuracy:.3f} ({accuracy / chance:.1f} x chance {chance:.3f})"
        ]
        for key, label, same, verdict in (
            ("loss", "loss", lambda first, now: now > 0.98 * first, "flat"),
            ("code_perplexity", "code perplexity", lambda first, now: now > 0.9 * first, "not falling"),
            ("diversity_loss", "diversity loss", lambda first, now: abs(now - first) < 0.05, "flat"),
        ):
            if self.first[key] and self.recent[key]:
                first, now = self._mean(self.first[key]), self._mean(self.recent[key])
                checks.append(same(first, now))
                parts.append(f"{label} {first:.3g} -> {now:.3g} ({verdict if checks[-1] else 'moving'})")
        parts[-1] += f", against the run's first {len(self.first['accuracy'])} updates"
        if self.recent["context_similarity"]:
            similarity = self._mean(self.recent["context_similarity"])
            parts.append(
                f"context similarity {similarity:.3f}"
                + (" (every frame gets nearly the same prediction)" if similarity > 0.98 else "")
            )
        return all(checks), f"the run is stalled at {100 * update / self.max_steps:.0f}% of its budget: " + (
            "; ".join(parts)
        )

    @staticmethod
    def _mean(values) -> float:
        values = list(values)
        return sum(values) / len(values) if values else float("nan")

    def _check(self, kind: str, condition: bool, update: int, value: float) -> list[HealthEvent]:
        if not condition:
            self.streaks[kind] = 0
            self.active[kind] = False
            return []
        self.streaks[kind] += 1
        if self.active[kind] or self.streaks[kind] < self.patience:
            return []
        self.active[kind] = True
        return [self._event(kind, update, value)]

    def _event(self, kind: str, update: int, value: float, description: str | None = None) -> HealthEvent:
        if description is None:
            description = DESCRIPTIONS[kind].format(
                value=value, groups=self.spec.num_groups, chance=self.spec.chance_accuracy
            )
        message = f"update {update}: {description}. Remedies: {REMEDIES[kind]}."
        event = HealthEvent(update=update, kind=kind, value=float(value), message=message)
        self.events.append(event)
        logger.warning("pretraining health: %s", message)
        return event

    # --- NaN / inf -----------------------------------------------------------------------------

    def record_nonfinite(self, update: int) -> HealthEvent | None:
        """Count a skipped NaN/inf update; raises ``TrainingDivergedError`` when too many come in a row."""
        self.nonfinite_total += 1
        self.nonfinite_streak += 1
        event = None
        if self.nonfinite_streak == 1 and self.nonfinite_total == 1:
            event = self._event("nonfinite", update, float("nan"))
        if self.nonfinite_streak >= self.max_nonfinite:
            raise TrainingDivergedError(
                f"stopped at update {update}: {self.nonfinite_streak} consecutive updates had a NaN/inf loss or "
                f"gradient (each was skipped; {self.nonfinite_total} in all). Remedies: {REMEDIES['nonfinite']}. "
                "Resume from the last checkpoint with --resume after changing them."
            )
        return event

    def record_finite(self) -> None:
        """An update went through: the NaN/inf streak is over."""
        self.nonfinite_streak = 0

    # --- persistence -------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "streaks": dict(self.streaks),
            "active": dict(self.active),
            "events": [asdict(event) for event in self.events],
            "nonfinite_total": self.nonfinite_total,
            "nonfinite_streak": self.nonfinite_streak,
            "observed": self.observed,
            "first": {key: list(values) for key, values in self.first.items()},
            "recent": {key: list(values) for key, values in self.recent.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.streaks.update(state["streaks"])
        self.active.update(state["active"])
        self.events = [HealthEvent(**event) for event in state["events"]]
        self.nonfinite_total = int(state["nonfinite_total"])
        self.nonfinite_streak = int(state["nonfinite_streak"])
        self.observed = int(state.get("observed", 0))
        for key in self.TRACKED:
            self.first[key] = list(state.get("first", {}).get(key, []))
            self.recent[key].clear()
            self.recent[key].extend(state.get("recent", {}).get(key, []))

    def summary(self) -> dict:
        """JSON-ready ``HealthSummary``: the events, the NaN/inf count, the reference levels."""
        return asdict(
            HealthSummary(
                healthy=not self.events or all(event.kind == "nonfinite" for event in self.events),
                events=[asdict(event) for event in self.events],
                nonfinite_updates_skipped=self.nonfinite_total,
                chance_accuracy=self.spec.chance_accuracy,
                collapse_code_perplexity=2 * self.spec.num_groups if self.spec.num_groups else None,
                max_code_perplexity=(
                    self.spec.num_groups * self.spec.num_vars
                    if self.spec.num_groups and self.spec.num_vars
                    else None
                ),
            )
        )


__all__ = [
    "HEALTH_FILE",
    "REMEDIES",
    "HealthEvent",
    "HealthMonitor",
    "HealthSummary",
    "TrainingDivergedError",
]
