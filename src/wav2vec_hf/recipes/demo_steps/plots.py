"""The demo's PNG figures (matplotlib, Agg backend: no display needed).

* ``pretraining_curves.png``: contrastive loss and accuracy per update of every pretraining run,
  read from the loop's ``metrics.jsonl`` (validation points on top, as markers: joined by a dashed
  line only when a run has more than ``JOIN_VALID_POINTS`` of them);
* ``error_rates.png``: dev / test CER and WER of every table row, with the per-seed values as dots;
  a legend names the bar colours. Saved with ``bbox_inches="tight"`` so no label is cut.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wav2vec_hf.extras import require_extra
from wav2vec_hf.pretraining.plots import JOIN_VALID_POINTS
from wav2vec_hf.recipes.demo_steps.environment import read_jsonl


def _pyplot():
    matplotlib = require_extra("matplotlib", "plots", "the demo's figures")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pretraining_curves(
    metrics_files: dict[str, Path], path: Path, chance: dict[str, float] | None = None
) -> Path:
    """Loss and accuracy curves of each run (``{label: metrics.jsonl}``) into ``path``.

    The first run (wav2vec 2.0) gets its own row; the others (wav2vec, vq-wav2vec: far fewer
    updates) share the second. ``chance``: the chance accuracy of each run, drawn dashed.
    """
    plt = _pyplot()
    labels = list(metrics_files)
    groups = [labels[:1], labels[1:]] if len(labels) > 1 else [labels]
    figure, axes = plt.subplots(len(groups), 2, figsize=(11, 3.8 * len(groups)), squeeze=False)
    for row, group in zip(axes, groups):
        for label in group:
            records = read_jsonl(Path(metrics_files[label]))
            for axis, key in zip(row, ("contrastive_loss", "accuracy")):
                train = [r for r in records if r.get("split") == "train" and key in r]
                valid = [r for r in records if r.get("split") == "valid" and key in r]
                (line,) = axis.plot(
                    [r["update"] for r in train],
                    [r[key] for r in train],
                    linewidth=1,
                    alpha=0.7,  # the dev points on top stay visible on a noisy curve
                    label=f"{label} (train)",
                )
                if valid:
                    axis.plot(
                        [r["update"] for r in valid],
                        [r[key] for r in valid],
                        "o--" if len(valid) > JOIN_VALID_POINTS else "o",
                        color=line.get_color(),
                        markeredgecolor="black",
                        zorder=3,
                        label=f"{label} (dev)",
                    )
                if key == "accuracy" and chance and label in chance and chance[label]:
                    axis.axhline(chance[label], color=line.get_color(), linestyle=":", linewidth=1)
        row[0].set_title(f"contrastive loss: {', '.join(group)}")
        row[1].set_title("contrastive accuracy (dotted: chance)")
        for axis in row:
            axis.set_xlabel("update")
            axis.grid(alpha=0.3)
        row[1].legend(fontsize=8)
    figure.suptitle("pretraining on the built-in corpus")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_error_rates(table: dict[str, Any], path: Path) -> Path:
    """Grouped bars of dev / test CER and WER for each row of the claims table into ``path``."""
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    columns = ("dev_cer", "dev_wer", "test_cer", "test_wer")
    rows = table["rows"]
    figure, axes = plt.subplots(1, len(columns), figsize=(4 * len(columns), 4.5), sharey=True)
    for axis, column in zip(axes, columns):
        labels = [f"{row['model']}\n{row['decoder']}" for row in rows]
        positions = list(range(len(rows)))
        axis.bar(positions, [row[column] for row in rows], color=[_colour(row) for row in rows])
        for x, row in zip(positions, rows):
            seeds = row[f"{column}_per_seed"]
            if len(seeds) > 1:
                axis.plot([x] * len(seeds), seeds, "k.", markersize=5)
        axis.set_xticks(positions, labels, rotation=60, ha="right", fontsize=7)
        axis.set_title(column.replace("_", " ").upper().replace("DEV", "dev").replace("TEST", "test"))
        axis.axhline(1.0, color="grey", linewidth=0.8, linestyle=":")
        axis.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("error rate (1.0: as many errors as reference units)")
    handles = [Patch(color=colour, label=label) for label, colour in _legend(rows)]
    handles.append(Line2D([], [], color="k", marker=".", linestyle="", label="one seed (when several)"))
    figure.tight_layout()
    figure.legend(  # above the panels; bbox_inches="tight" below makes room for it
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=4,
        fontsize=8,
        title="bars: mean over seeds",
        title_fontsize=9,
        frameon=False,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, bbox_inches="tight")  # the rotated tick labels and the y-label fit
    plt.close(figure)
    return path


_COLOURS = {  # (arm, decoder is greedy) -> colour
    ("from scratch", True): "#bbbbbb",
    ("from scratch", False): "#888888",
    ("self-training", True): "#8fd18f",
    ("self-training", False): "#2f9e44",
    ("pretrained", True): "#91b9e6",
    ("pretrained", False): "#1c6dc9",
}


def _arm(row: dict) -> str:
    if row["model"] == "from scratch":
        return "from scratch"
    return "self-training" if "self-training round" in row["model"] else "pretrained"


def _colour(row: dict) -> str:
    return _COLOURS[(_arm(row), row["decoder"] == "greedy")]


def _legend(rows: list[dict]) -> list[tuple[str, str]]:
    """``(label, colour)`` of each colour the bars use, in the order of the rows."""
    seen: dict[str, str] = {}
    for row in rows:
        label = f"{_arm(row)}, {'greedy' if row['decoder'] == 'greedy' else row['decoder']}"
        seen.setdefault(label, _colour(row))
    return list(seen.items())


__all__ = ["plot_error_rates", "plot_pretraining_curves"]
