"""PNG curves of a run from its ``metrics.jsonl`` (matplotlib, no display needed).

``plot_curves(records, path)`` draws one figure with a panel per quantity that the run logged:
losses, contrastive accuracy (with the chance level), code / prob perplexity (with the collapse
level), diversity / k-means loss, feature penalty, Gumbel temperature, learning rate, gradient norm,
throughput.

* Noisy training curves are drawn raw (faint) and smoothed; schedules (learning rate, Gumbel
  temperature) are drawn exactly as logged, since smoothing would move their peak to a later update.
* ``loss`` and ``contrastive_loss`` are one line when they are equal (wav2vec, wav2vec 2.0 without a
  diversity term), labelled "loss = contrastive_loss"; otherwise ``loss`` is labelled as the total.
* Validation values are markers in the colour of their training curve; only more than
  ``JOIN_VALID_POINTS`` of them are joined, by a dashed line (two points joined by a straight line
  look like a measured trend).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

from wav2vec_hf.extras import require_extra

PANELS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("loss", ("loss", "contrastive_loss"), "linear"),
    ("accuracy", ("accuracy",), "linear"),
    ("perplexity", ("code_perplexity", "prob_perplexity"), "linear"),
    ("diversity / k-means loss", ("diversity_loss", "kmeans_loss"), "linear"),
    ("feature penalty (unweighted)", ("feature_penalty",), "log"),
    ("Gumbel temperature", ("temperature",), "linear"),
    ("learning rate", ("learning_rate",), "linear"),
    ("gradient norm", ("grad_norm",), "log"),
    ("audio seconds / second", ("audio_seconds_per_second",), "linear"),
)
SCHEDULES = frozenset({"learning_rate", "temperature"})
"""Metrics set by a schedule, not measured: never smoothed."""
JOIN_VALID_POINTS = 2
"""Validation points are joined by a dashed line only when there are more than this many."""


def read_metrics(path: str | Path) -> list[dict]:
    """The records of a ``metrics.jsonl`` file (one JSON object a line)."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line:
                records.append(json.loads(line))
    return records


def _smooth(values: list[float], weight: float) -> list[float]:
    smoothed, last = [], None
    for value in values:
        if not math.isfinite(value):
            smoothed.append(value)
            continue
        last = value if last is None else weight * last + (1 - weight) * value
        smoothed.append(last)
    return smoothed


def _points(records: list[dict], key: str) -> list[tuple[int, float]]:
    return [(r["update"], float(r[key])) for r in records if r.get(key) is not None]


def _same_values(records: list[dict], key: str, other: str) -> bool:
    """``key`` equals ``other`` wherever either is logged (floats compared to 1e-9, relative)."""
    pairs = [(r.get(key), r.get(other)) for r in records if key in r or other in r]
    return bool(pairs) and all(
        a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
        for a, b in pairs
    )


def _loss_labels(train: list[dict], valid: list[dict], keys: list[str]) -> dict[str, str]:
    """The loss panel's curves: ``{key: label}``; ``contrastive_loss`` is dropped when it equals ``loss``."""
    if "loss" not in keys or "contrastive_loss" not in keys:
        return {key: key for key in keys}
    if _same_values(train, "loss", "contrastive_loss") and _same_values(valid, "loss", "contrastive_loss"):
        return {"loss": "loss = contrastive_loss"}
    return {"loss": "loss (total)", "contrastive_loss": "contrastive_loss"}


def plot_curves(
    records: Iterable[dict],
    path: str | Path,
    *,
    title: str = "",
    chance_accuracy: float | None = None,
    collapse_perplexity: float | None = None,
) -> Path | None:
    """Draw the run's curves into ``path`` (PNG). Returns the path, or None when nothing was logged.

    Args:
        records: ``{"split": "train" | "valid", "update": int, <metric>: float, ...}`` dicts.
        title: figure title.
        chance_accuracy: drawn as a dashed line in the accuracy panel.
        collapse_perplexity: drawn as a dashed line in the perplexity panel.
    """
    matplotlib = require_extra("matplotlib", "plots", "pretraining curves")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = list(records)
    train = [r for r in records if r.get("split", "train") == "train"]
    valid = [r for r in records if r.get("split") == "valid"]
    panels = [
        (name, [key for key in keys if any(key in r for r in records)], scale) for name, keys, scale in PANELS
    ]
    panels = [panel for panel in panels if panel[1]]
    if not panels or not train:
        return None
    columns = 2
    rows = math.ceil(len(panels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(12, 3.2 * rows), squeeze=False)
    weight = 0.9 if len(train) > 50 else 0.6
    for axis, (name, keys, scale) in zip(axes.flat, panels):
        labels = _loss_labels(train, valid, keys) if name == "loss" else {key: key for key in keys}
        for key, label in labels.items():
            colour = None
            points = _points(train, key)
            if points:
                updates, values = zip(*points)
                if key in SCHEDULES:
                    (line,) = axis.plot(updates, values, label=label)
                else:
                    (line,) = axis.plot(updates, values, alpha=0.25, linewidth=0.8)
                    smoothed = _smooth(list(values), weight)
                    axis.plot(updates, smoothed, color=line.get_color(), label=f"train {label} (smoothed)")
                colour = line.get_color()
            points = _points(valid, key)
            if points:
                updates, values = zip(*points)
                style = "o--" if len(points) > JOIN_VALID_POINTS else "o"
                axis.plot(
                    updates,
                    values,
                    style,
                    color=colour,
                    markersize=5,
                    markeredgecolor="black",
                    zorder=3,
                    label=f"valid {label}",
                )
        if name == "accuracy" and chance_accuracy is not None:
            axis.axhline(chance_accuracy, color="grey", linestyle=":", label="chance")
        if name == "perplexity" and collapse_perplexity is not None:
            axis.axhline(collapse_perplexity, color="red", linestyle=":", label="collapse level")
        axis.set_title(name)
        axis.set_xlabel("update")
        if scale == "log":
            axis.set_yscale("log")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(panels) :]:
        axis.set_visible(False)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


__all__ = ["plot_curves", "read_metrics"]
