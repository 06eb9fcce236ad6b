"""Diagnostics for the classic CTC fine-tuning failure: all-blank output, WER stuck at 1.0.

A CTC model first learns that "blank" is the most frequent label and writes nothing; it leaves that
plateau only when the letters' gradients win. ``PlateauCallback`` watches every evaluation after
the warm-up (the head-only phase plus a grace period). When the predictions are (almost) all empty,
or WER stays at or above 1.0 for two evaluations in a row, it logs a warning naming the likely
causes, each with the run's own evidence:

* learning rate: too low to move (loss flat) or so high that training diverged (loss rose / NaN);
* frozen too long: the pretrained network still frozen, or frozen for most of the run;
* vocabulary / label mismatch: many ``<unk>`` labels, references holding unknown characters,
  a CTC layer whose size differs from the tokenizer's;
* audio too short for the labels: utterances dropped as infeasible, or many with almost no frames
  to spare (CTC needs one frame per letter plus a blank between repeated letters).

``diagnose`` holds the rules (a pure function, tested directly); findings are also written to
``diagnostics.json`` in the output folder.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from transformers import TrainerCallback

from wav2vec_hf.json_files import write_json

logger = logging.getLogger(__name__)

EMPTY_RATE_LIMIT = 0.9  # share of empty transcripts that counts as "all blank"
WER_PLATEAU = 0.999  # WER at or above this counts as "stuck at 1.0"


@dataclass(frozen=True)
class Finding:
    """One likely cause of a plateau, with the evidence from this run and what to try."""

    cause: str
    evidence: str
    advice: str

    def __str__(self) -> str:
        return f"- {self.cause}: {self.evidence}. Try: {self.advice}."


@dataclass
class RunFacts:
    """What the diagnostics know about the run (filled by the fine-tuning wiring).

    Attributes:
        peak_learning_rate, head_learning_rate: the recipe's rates.
        head_steps, total_steps: head-only updates and all updates.
        body_trainable: whether any pretrained parameter is trained after the head-only phase.
        vocab_size, model_vocab_size: tokenizer size and the CTC layer's output size.
        train_unknown_label_rate: share of training labels that are ``<unk>``.
        eval_unknown_characters: unknown character occurrences in the evaluation references.
        dropped_too_short: training utterances dropped because their audio is too short for their labels.
        tight_alignment_rate: share of kept training utterances needing > 80% of their frames.
    """

    peak_learning_rate: float = 0.0
    head_learning_rate: float = 0.0
    head_steps: int = 0
    total_steps: int = 0
    body_trainable: bool = True
    vocab_size: int = 0
    model_vocab_size: int = 0
    train_unknown_label_rate: float = 0.0
    eval_unknown_characters: int = 0
    dropped_too_short: int = 0
    tight_alignment_rate: float = 0.0


def _loss_trend(losses: list[float]) -> str:
    """``"nan"``, ``"rising"``, ``"flat"`` or ``"falling"`` for a list of training losses."""
    if any(not math.isfinite(loss) for loss in losses):
        return "nan"
    if len(losses) < 4:
        return "unknown"
    quarter = max(len(losses) // 4, 1)
    first, last = float(np.mean(losses[:quarter])), float(np.mean(losses[-quarter:]))
    if last > first * 1.05:
        return "rising"
    if last > first * 0.9:
        return "flat"
    return "falling"


def is_plateau(metrics: dict[str, float], previous_wer: float | None) -> bool:
    """All (or almost all) transcripts empty, or WER >= 1.0 now and at the previous evaluation."""
    empty = metrics.get("eval_empty_rate", metrics.get("empty_rate", 0.0))
    wer = metrics.get("eval_wer", metrics.get("wer", 0.0))
    stuck = wer >= WER_PLATEAU and previous_wer is not None and previous_wer >= WER_PLATEAU
    return empty >= EMPTY_RATE_LIMIT or stuck


def diagnose(step: int, metrics: dict[str, float], losses: list[float], facts: RunFacts) -> list[Finding]:
    """The likely causes of a plateau observed at ``step`` (most specific first).

    Args:
        step: the update at which the plateau was seen.
        metrics: the evaluation's metrics (``eval_wer``, ``eval_empty_rate``, ...).
        losses: training losses logged so far, in order.
        facts: the run's settings and data checks.
    """
    findings: list[Finding] = []
    if facts.model_vocab_size and facts.vocab_size and facts.model_vocab_size != facts.vocab_size:
        findings.append(
            Finding(
                "vocabulary/label mismatch",
                f"the CTC layer has {facts.model_vocab_size} outputs but the tokenizer {facts.vocab_size} tokens",
                "build the model with vocab_size=len(tokenizer) and pad_token_id=tokenizer.pad_token_id",
            )
        )
    if facts.train_unknown_label_rate > 0.01 or facts.eval_unknown_characters > 0:
        findings.append(
            Finding(
                "vocabulary/label mismatch",
                f"{facts.train_unknown_label_rate:.1%} of training labels are <unk> and the evaluation "
                f"references hold {facts.eval_unknown_characters} characters outside the vocabulary",
                "normalise training and evaluation text the same way (case, punctuation) and build the "
                "vocabulary from the training transcripts",
            )
        )
    if facts.dropped_too_short or facts.tight_alignment_rate > 0.2:
        findings.append(
            Finding(
                "audio too short for the labels",
                f"{facts.dropped_too_short} training utterances had fewer output frames than their transcript "
                f"needs, and {facts.tight_alignment_rate:.0%} of the rest need more than 80% of their frames",
                "check that audio and transcripts belong together, that the sample rate is right, and use a "
                "model with more output frames per second for fast speech",
            )
        )
    if step < facts.head_steps:
        findings.append(
            Finding(
                "frozen too long",
                f"update {step} is still inside the {facts.head_steps}-update head-only phase",
                "train longer, or unfreeze earlier (fewer --head_steps)",
            )
        )
    elif not facts.body_trainable:
        findings.append(
            Finding(
                "frozen too long",
                "the pretrained network stays frozen for the whole run (the papers' setting for wav2vec / "
                "vq-wav2vec), so only the acoustic model learns",
                "if the network was pretrained briefly or on other audio, fine-tune it too (--no_freeze_pretrained), "
                "or give the acoustic model more updates",
            )
        )
    elif facts.total_steps and facts.head_steps > 0.5 * facts.total_steps:
        findings.append(
            Finding(
                "frozen too long",
                f"the pretrained network is frozen for {facts.head_steps} of {facts.total_steps} updates",
                "let the pretrained network train for most of the run (fewer --head_steps or more --max_steps)",
            )
        )
    trend = _loss_trend(losses)
    if trend in ("nan", "rising"):
        findings.append(
            Finding(
                "learning rate too high",
                f"the training loss is {'not finite' if trend == 'nan' else 'rising'} at peak rate "
                f"{facts.peak_learning_rate:g} (head phase {facts.head_learning_rate:g})",
                "lower --learning_rate (and --head_learning_rate) by 3-10x; keep ctc_zero_infinity on",
            )
        )
    else:
        findings.append(
            Finding(
                "learning rate",
                f"the training loss is {trend} at peak rate {facts.peak_learning_rate:g} "
                f"(head phase {facts.head_learning_rate:g} for {facts.head_steps} updates)",
                "a head-only phase at a high rate (--head_learning_rate 1e-2) lets the CTC layer start "
                "writing letters; if the loss is flat, raise the rates, if it jumps, lower them",
            )
        )
    return findings


def format_warning(step: int, metrics: dict[str, float], findings: list[Finding]) -> str:
    """The warning text for a plateau at ``step``."""
    empty = metrics.get("eval_empty_rate", 0.0)
    wer = metrics.get("eval_wer", float("nan"))
    head = (
        f"CTC plateau at update {step}: {empty:.0%} of evaluation transcripts are empty, WER {wer:.3f}. "
        "Likely causes:"
    )
    return "\n".join([head, *(str(finding) for finding in findings)])


class PlateauCallback(TrainerCallback):
    """Warns (once per plateau episode) when evaluation shows an all-blank / WER 1.0 plateau after warm-up.

    Args:
        facts: the run's settings and data checks.
        warmup_steps: evaluations before this update are not judged (the head-only phase and a grace period).
        output_dir: where ``diagnostics.json`` is written (``None``: nowhere).

    Under several processes every process judges (they see the same metrics); only the first warns
    and writes the file.
    """

    def __init__(self, facts: RunFacts, warmup_steps: int, output_dir: str | None = None) -> None:
        self.facts = facts
        self.warmup_steps = int(warmup_steps)
        self.output_dir = output_dir
        self.previous_wer: float | None = None
        self.last_step: int | None = None
        self.warned = False
        self.history: list[dict] = []

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not metrics or "eval_wer" not in metrics:
            return
        step = int(state.global_step)
        if step == self.last_step:
            return  # the same weights evaluated again (e.g. the final evaluation): nothing new
        self.last_step = step
        if step < self.warmup_steps:
            self.previous_wer = None
            return
        plateau = is_plateau(metrics, self.previous_wer)
        self.previous_wer = float(metrics["eval_wer"])
        if not plateau:
            self.warned = False
            return
        losses = [float(entry["loss"]) for entry in state.log_history if "loss" in entry]
        findings = diagnose(step, metrics, losses, self.facts)
        entry = {
            "step": step,
            "metrics": {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))},
            "findings": [asdict(f) for f in findings],
        }
        self.history.append(entry)
        if not state.is_world_process_zero:
            return
        if not self.warned:
            logger.warning(format_warning(step, metrics, findings))
            self.warned = True
        if self.output_dir:
            path = Path(self.output_dir) / "diagnostics.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, {"plateaus": self.history})


__all__ = [
    "EMPTY_RATE_LIMIT",
    "Finding",
    "PlateauCallback",
    "RunFacts",
    "diagnose",
    "format_warning",
    "is_plateau",
]
