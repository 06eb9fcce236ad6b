"""Tune the LM weight alpha and word bonus beta on a dev set: a grid, or a grid refined around its best.

The logits are computed once; each (alpha, beta) is one batch decode of the whole dev set, which the
lockstep decoder (and its pool) makes cheap. ``search="refine"`` evaluates a coarse grid, then
repeatedly a 3 x 3 grid of half the spacing around the best point so far: a few dozen decodes instead
of a fine full grid. Ties go to the smaller alpha and beta (the weaker LM).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from wav2vec_hf.error_rates import word_errors
from wav2vec_hf.progress import progress_bar

DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
DEFAULT_BETAS = (-1.0, 0.0, 1.0, 2.0, 3.0)


@dataclass
class TuningResult:
    """Every evaluated (alpha, beta) and its WER; the best point.

    Attributes:
        wer: {(alpha, beta): WER}.
        best_alpha, best_beta, best_wer: the lowest WER (ties: smaller alpha, then beta).
        words: reference words of the dev set.
    """

    wer: dict[tuple[float, float], float] = field(default_factory=dict)
    words: int = 0

    @property
    def best(self) -> tuple[float, float, float]:
        (alpha, beta), wer = min(self.wer.items(), key=lambda item: (item[1], item[0][0], item[0][1]))
        return alpha, beta, wer

    @property
    def best_alpha(self) -> float:
        return self.best[0]

    @property
    def best_beta(self) -> float:
        return self.best[1]

    @property
    def best_wer(self) -> float:
        return self.best[2]

    def surface(self) -> str:
        """The WER table: one row per alpha, one column per beta ('-' where not evaluated)."""
        alphas = sorted({a for a, _ in self.wer})
        betas = sorted({b for _, b in self.wer})
        best = self.best[:2]
        header = "alpha \\ beta " + "".join(f"{b:>9.3g}" for b in betas)
        lines = [header]
        for a in alphas:
            cells = []
            for b in betas:
                value = self.wer.get((a, b))
                mark = "*" if (a, b) == best else " "
                cells.append(f"{100 * value:>8.2f}{mark}" if value is not None else f"{'-':>8} ")
            lines.append(f"{a:>12.3g} " + "".join(cells))
        lines.append(f"(WER %, {self.words} reference words; * best)")
        return "\n".join(lines)


def tune_weights(
    decode: Callable[[float, float], Sequence[str]],
    references: Sequence[str],
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    betas: Sequence[float] = DEFAULT_BETAS,
    search: str = "grid",
    refine_rounds: int = 2,
    progress: bool | Callable[[float, float, float], None] | None = None,
) -> TuningResult:
    """Search alpha and beta for the lowest WER of ``decode(alpha, beta)`` against ``references``.

    Args:
        decode: transcribes the dev set with the given weights (one text per reference).
        references: the dev transcripts, normalised like the decoder's output.
        alphas, betas: the grid (the starting grid with ``search="refine"``).
        search: ``"grid"`` or ``"refine"``.
        refine_rounds: zoom steps of ``"refine"``.
        progress: ``True``: a progress bar over the evaluated points on stderr, with the best so far
            (only when stderr is a terminal); a function: called with (alpha, beta, WER) after each
            evaluation.
    """
    if search not in ("grid", "refine"):
        raise ValueError(f"search={search!r}: use 'grid' or 'refine'")
    if not alphas or not betas:
        raise ValueError("give at least one alpha and one beta")
    result = TuningResult()
    callback = progress if callable(progress) else None
    bar = progress_bar(total=None, desc="LM weights", unit="point", enabled=progress is True)

    def evaluate(points: list[tuple[float, float]]) -> None:
        keys = [(round(float(a), 6), round(float(b), 6)) for a, b in points]
        keys = [key for key in dict.fromkeys(keys) if key not in result.wer and key[0] >= 0]
        bar.total = (bar.total or 0) + len(keys)  # the refine rounds add points as they go
        bar.refresh()
        for alpha, beta in keys:
            errors, words = word_errors(references, list(decode(alpha, beta)))
            result.wer[(alpha, beta)] = errors / max(words, 1)
            result.words = words
            if callback is not None:
                callback(alpha, beta, result.wer[(alpha, beta)])
            best_alpha, best_beta, best_wer = result.best
            bar.set_postfix_str(f"best alpha={best_alpha:g} beta={best_beta:g} WER {100 * best_wer:.2f}%")
            bar.update()

    with bar:
        evaluate([(alpha, beta) for alpha in alphas for beta in betas])
        if search == "refine":
            alpha_step = float(np.min(np.diff(sorted(set(alphas))))) if len(set(alphas)) > 1 else 0.5
            beta_step = float(np.min(np.diff(sorted(set(betas))))) if len(set(betas)) > 1 else 1.0
            for _ in range(refine_rounds):
                alpha_step /= 2
                beta_step /= 2
                best_alpha, best_beta, _ = result.best
                evaluate(
                    [
                        (best_alpha + da, best_beta + db)
                        for da in (-alpha_step, 0.0, alpha_step)
                        for db in (-beta_step, 0.0, beta_step)
                    ]
                )
    return result
