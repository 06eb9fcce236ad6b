"""PNG curves of a run from its ``metrics.jsonl`` (matplotlib, no display needed).

``plot_curves(records, path)`` draws one figure with a panel per quantity that the run logged:
losses, contrastive accuracy (with the chance level), code / prob perplexity (with the collapse
level), diversity / k-means loss, feature penalty, Gumbel temperature, learning rate, gradient norm,
throughput. Training curves are drawn raw
(faint) and smoothed; validation points on top.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

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
    import matplotlib

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
        for key in keys:
            points = [(r["update"], float(r[key])) for r in train if key in r and r[key] is not None]
            if points:
                updates, values = zip(*points)
                line = axis.plot(updates, values, alpha=0.25, linewidth=0.8)[0]
                axis.plot(
                    updates, _smooth(list(values), weight), color=line.get_color(), label=f"train {key}"
                )
            points = [(r["update"], float(r[key])) for r in valid if key in r and r[key] is not None]
            if points:
                updates, values = zip(*points)
                axis.plot(updates, values, "o--", markersize=4, label=f"valid {key}")
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
