"""What the curves show: schedules exactly as logged, one line for equal losses, validation as markers,
and the demo's error-rate bars with a legend and nothing cut off."""

from __future__ import annotations

import json
import math

import pytest

from wav2vec_hf.pretraining.plots import plot_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def figures(monkeypatch) -> list:
    """The figures the plotting functions draw (captured as they are closed)."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    captured: list = []
    close = plt.close

    def keep(figure=None):
        captured.append(figure)
        close(figure)

    monkeypatch.setattr(plt, "close", keep)
    return captured


def _run(updates: int = 30, valid_at=(0, 30), diversity: float = 0.0) -> list[dict]:
    """A vq-wav2vec-like run: LR warm-up to update 4 then cosine decay, a decaying Gumbel temperature."""
    records = []
    for update in range(1, updates + 1):
        lr = (
            2e-3 * update / 4
            if update <= 4
            else 1e-3 * (1 + math.cos(math.pi * (update - 4) / (updates - 4)))
        )
        contrastive = 1.8 - 0.01 * update + 0.05 * (-1) ** update  # noisy
        records.append(
            {
                "split": "train",
                "update": update,
                "contrastive_loss": contrastive,
                "loss": contrastive + diversity,
                "accuracy": 0.2 + 0.005 * update,
                "learning_rate": lr,
                "temperature": max(0.5 * 0.97**update, 0.25),
            }
        )
    for update in valid_at:
        records.append({"split": "valid", "update": update, "contrastive_loss": 1.7, "loss": 1.7 + diversity})
    return records


def _panel(figure, title: str):
    return next(axis for axis in figure.axes if axis.get_title() == title)


def _labelled(axis) -> dict:
    return {line.get_label(): line for line in axis.get_lines() if not line.get_label().startswith("_")}


def test_schedules_are_drawn_as_logged(tmp_path, figures):
    records = _run()
    assert plot_curves(records, tmp_path / "curves.png").read_bytes()[:8] == PNG_SIGNATURE
    (figure,) = figures
    for title, key in (("learning rate", "learning_rate"), ("Gumbel temperature", "temperature")):
        lines = _panel(figure, title).get_lines()
        assert len(lines) == 1  # no faint raw line under a smoothed one
        logged = [r[key] for r in records if r["split"] == "train"]
        assert list(lines[0].get_ydata()) == logged
    learning_rate = _panel(figure, "learning rate").get_lines()[0]
    peak = max(range(len(learning_rate.get_ydata())), key=lambda i: learning_rate.get_ydata()[i])
    assert learning_rate.get_xdata()[peak] == 4  # the warm-up's end, not a smoothed lag


def test_equal_losses_are_one_line_and_different_ones_are_labelled(tmp_path, figures):
    plot_curves(_run(), tmp_path / "same.png")
    plot_curves(_run(diversity=0.02), tmp_path / "different.png")
    same, different = (_labelled(_panel(figure, "loss")) for figure in figures)
    assert sorted(same) == ["train loss = contrastive_loss (smoothed)", "valid loss = contrastive_loss"]
    assert sorted(different) == [
        "train contrastive_loss (smoothed)",
        "train loss (total) (smoothed)",
        "valid contrastive_loss",
        "valid loss (total)",
    ]


def test_two_validation_points_are_markers_and_more_a_dashed_line(tmp_path, figures):
    plot_curves(_run(valid_at=(0, 30)), tmp_path / "two.png")
    plot_curves(_run(valid_at=(0, 10, 20, 30)), tmp_path / "four.png")
    two, four = (_labelled(_panel(figure, "loss"))["valid loss = contrastive_loss"] for figure in figures)
    assert two.get_linestyle() == "None" and two.get_marker() == "o"
    assert four.get_linestyle() == "--" and four.get_marker() == "o"
    train = _labelled(_panel(figures[0], "loss"))["train loss = contrastive_loss (smoothed)"]
    assert two.get_color() == train.get_color()  # the same quantity, the same colour


def test_demo_plots_mark_validation_and_name_the_bar_colours(tmp_path, figures, monkeypatch):
    from matplotlib.figure import Figure

    from wav2vec_hf.recipes.demo_steps.claims import build_table
    from wav2vec_hf.recipes.demo_steps.plots import plot_error_rates, plot_pretraining_curves

    saved: list[dict] = []
    savefig = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, *a, **kw: saved.append(kw) or savefig(self, *a, **kw))
    metrics = {}
    for name, valid_at in (("wav2vec2", (0, 10, 20, 30)), ("wav2vec", (0, 30))):
        metrics[name] = tmp_path / f"{name}.jsonl"
        metrics[name].write_text("".join(json.dumps(r) + "\n" for r in _run(valid_at=valid_at)))
    plot_pretraining_curves(metrics, tmp_path / "curves.png")
    dev = {axis.get_title(): _labelled(axis) for axis in figures[0].axes}
    assert dev["contrastive loss: wav2vec2"]["wav2vec2 (dev)"].get_linestyle() == "--"
    assert dev["contrastive loss: wav2vec"]["wav2vec (dev)"].get_linestyle() == "None"

    def scores(cer: float) -> dict:
        return {s: {d: {"cer": cer, "wer": 2 * cer} for d in ("greedy", "lm")} for s in ("dev", "test")}

    evaluation = {
        "scratch-seed0": scores(0.6),
        "pretrained-seed0": scores(0.4),
        "pretrained-seed1": scores(0.5),
    }
    path = plot_error_rates(build_table(evaluation, None), tmp_path / "error_rates.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    (legend,) = figures[1].legends
    assert [text.get_text() for text in legend.get_texts()] == [
        "from scratch, greedy",
        "pretrained, greedy",
        "from scratch, 4-gram LM",
        "pretrained, 4-gram LM",
        "one seed (when several)",
    ]
    assert saved[-1].get("bbox_inches") == "tight"  # the y-label and the rotated ticks are not cut
