"""The wav2vec 2.0 paper's central claim at toy scale: pretraining helps when labels are few.

``compare_pretrained_and_scratch`` fine-tunes the same architecture twice per seed with the same
recipe, data and budget: once from a pretrained folder (``scripts/pretrain.py`` output) and once
from random weights (``--from_scratch``), and returns the dev CER / WER of both. ``check_claim``
raises ``PretrainingClaimError`` (with the numbers) when the pretrained model is not better by a
margin on every seed, so a demo that relies on the claim fails loudly instead of printing a
table nobody reads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wav2vec_hf.errors import Wav2VecHFError
from wav2vec_hf.finetuning.arguments import parse_args
from wav2vec_hf.finetuning.ctc import finetune_ctc


class PretrainingClaimError(Wav2VecHFError, AssertionError):
    """The pretrained model did not beat random initialisation by the required margin."""


@dataclass
class InitialisationScores:
    """Dev scores of one initialisation: one entry per seed."""

    cer: list[float] = field(default_factory=list)
    wer: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def mean_cer(self) -> float:
        """Mean dev CER over seeds."""
        return sum(self.cer) / len(self.cer)

    @property
    def mean_wer(self) -> float:
        """Mean dev WER over seeds."""
        return sum(self.wer) / len(self.wer)


@dataclass
class ComparisonResult:
    """Pretrained vs random initialisation under one fine-tuning budget."""

    seeds: list[int]
    pretrained: InitialisationScores
    scratch: InitialisationScores
    arguments: list[str]

    def summary(self) -> str:
        """A small table of the dev scores."""
        lines = [f"{'initialisation':<15} {'dev CER':>8} {'dev WER':>8}  (seeds {self.seeds})"]
        for name, scores in (("pretrained", self.pretrained), ("random", self.scratch)):
            cers = ", ".join(f"{v:.3f}" for v in scores.cer)
            lines.append(f"{name:<15} {scores.mean_cer:8.3f} {scores.mean_wer:8.3f}  per seed CER: {cers}")
        return "\n".join(lines)


def compare_pretrained_and_scratch(
    pretrained: str | os.PathLike,
    train: str | os.PathLike,
    evaluation: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    seeds: Sequence[int] = (0,),
    extra_arguments: Sequence[str] = (),
) -> ComparisonResult:
    """Fine-tune from ``pretrained`` and from random weights of its architecture; same data, recipe, budget.

    Args:
        pretrained: a pretraining folder (``scripts/pretrain.py`` or ``convert-fairseq`` output).
        train, evaluation: labelled data (anything ``--train`` / ``--eval`` accept).
        output_dir: runs go to ``output_dir/{pretrained,scratch}-seed{N}``.
        seeds: one pair of runs per seed (the seed fixes the new layers, masks and batch order).
        extra_arguments: more fine-tuning options, identical for both runs (e.g. ``--max_steps 600``).
    """
    base = [
        "--model", str(pretrained), "--train", str(train), "--eval", str(evaluation),
        "--disable_tqdm", "true", *extra_arguments,
    ]  # fmt: skip
    scores = {"pretrained": InitialisationScores(), "scratch": InitialisationScores()}
    for seed in seeds:
        for name in ("pretrained", "scratch"):
            argv = [*base, "--seed", str(seed), "--output_dir", str(Path(output_dir) / f"{name}-seed{seed}")]
            if name == "scratch":
                argv.append("--from_scratch")
            result = finetune_ctc(*parse_args(argv))
            scores[name].cer.append(float(result.metrics["eval_cer"]))
            scores[name].wer.append(float(result.metrics["eval_wer"]))
            scores[name].seconds.append(result.seconds)
    return ComparisonResult(list(seeds), scores["pretrained"], scores["scratch"], base)


def check_claim(result: ComparisonResult, min_cer_gain: float = 0.02) -> None:
    """Raise ``PretrainingClaimError`` unless pretrained CER + ``min_cer_gain`` <= random CER on every seed."""
    failures = [
        f"seed {seed}: pretrained CER {p:.3f} vs random {s:.3f}"
        for seed, p, s in zip(result.seeds, result.pretrained.cer, result.scratch.cer)
        if p + min_cer_gain > s
    ]
    if failures:
        raise PretrainingClaimError(
            f"pretraining did not lower dev CER by at least {min_cer_gain} on every seed ({'; '.join(failures)}).\n"
            f"{result.summary()}\nCheck the pretraining run's health (code perplexity, accuracy) and that both runs "
            "fine-tuned for the same budget."
        )


__all__ = [
    "ComparisonResult",
    "InitialisationScores",
    "PretrainingClaimError",
    "check_claim",
    "compare_pretrained_and_scratch",
]
