"""The demo's result: one table of the papers' claims at toy scale, and the guard on the main one.

Rows: from scratch vs pretrained (mean over seeds, each seed shown), each decoded greedy and with the
4-gram LM, then the self-training round(s). Columns: dev and test CER and WER. ``claims`` states
each comparison with its numbers; ``check_pretraining_beats_scratch`` raises when the pretrained
model is not better than scratch on mean dev CER (greedy), the claim the demo must show.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wav2vec_hf.errors import Wav2VecHFError

COLUMNS = (("dev", "cer"), ("dev", "wer"), ("test", "cer"), ("test", "wer"))
DECODERS = (("greedy", "greedy"), ("lm", "4-gram LM"))
ARM_LABELS = {"scratch": "from scratch", "pretrained": "pretrained"}
BEFORE_SELF_TRAINING = "pretrained, before self-training"


class PretrainingClaimNotShown(Wav2VecHFError, AssertionError):
    """Pretrained was not better than scratch on mean dev CER; the message holds the numbers."""


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def check_pretraining_beats_scratch(
    pretrained_dev_cer: Sequence[float], scratch_dev_cer: Sequence[float]
) -> float:
    """Raise unless the mean dev CER of the pretrained runs is below that of the scratch runs.

    Args:
        pretrained_dev_cer, scratch_dev_cer: dev CER (fractions) of each seed's run.

    Returns:
        The relative CER reduction, ``1 - pretrained / scratch``.

    Raises:
        ValueError: no runs, or NaN values.
        PretrainingClaimNotShown: pretrained mean >= scratch mean (message: both means and every seed).
    """
    if not pretrained_dev_cer or not scratch_dev_cer:
        raise ValueError("the pretraining check needs at least one pretrained and one scratch dev CER.")
    values = [*pretrained_dev_cer, *scratch_dev_cer]
    if any(value != value for value in values):
        raise ValueError(f"dev CER values must be numbers, got {values}.")
    pretrained, scratch = _mean(pretrained_dev_cer), _mean(scratch_dev_cer)
    if pretrained >= scratch:
        raise PretrainingClaimNotShown(
            f"pretraining did not lower the dev CER: pretrained {pretrained:.3f} (seeds: "
            f"{', '.join(f'{v:.3f}' for v in pretrained_dev_cer)}) vs from scratch {scratch:.3f} (seeds: "
            f"{', '.join(f'{v:.3f}' for v in scratch_dev_cer)}), mean over seeds, greedy decoding. Check the "
            "pretraining curves (accuracy above chance, code perplexity far from collapse) and give "
            "pretraining or fine-tuning more updates."
        )
    return 1.0 - pretrained / scratch if scratch > 0 else 0.0


def _row(
    model: str, decoder: str, per_seed: dict[int, dict[str, dict[str, float]]], key: str
) -> dict[str, Any]:
    """One table row from ``per_seed[seed][split][key] -> {"cer", "wer"}``."""
    row: dict[str, Any] = {"model": model, "decoder": decoder, "seeds": sorted(per_seed)}
    for split, metric in COLUMNS:
        values = [per_seed[seed][split][key][metric] for seed in row["seeds"]]
        row[f"{split}_{metric}"] = _mean(values)
        row[f"{split}_{metric}_per_seed"] = values
    return row


def build_table(
    evaluation: dict[str, dict[str, Any]],
    self_training: dict[str, Any] | None,
    self_training_note: str | None = None,
) -> dict[str, Any]:
    """The claims table.

    Args:
        evaluation: ``{"<arm>-seed<N>": {split: {"greedy"|"lm": {"cer", "wer"}}}}`` (the decode step's).
        self_training: ``{"seed": N, "rows": [...]}`` (the self-training step's) or None.
        self_training_note: why there are no self-training rows (e.g. "skipped").

    Returns:
        ``{"rows": [...], "claims": [...], "notes": [...]}``; every row has the mean of each column and
        the per-seed values (``dev_cer_per_seed``, ...).
    """
    by_arm: dict[str, dict[int, dict]] = {}
    for name, scores in evaluation.items():
        arm, seed = name.rsplit("-seed", 1)
        by_arm.setdefault(arm, {})[int(seed)] = scores
    rows = []
    for key, decoder in DECODERS:
        for arm in ("scratch", "pretrained"):
            if arm in by_arm:
                rows.append(_row(ARM_LABELS[arm], decoder, by_arm[arm], key))
    notes = []
    if self_training:
        seed = self_training["seed"]
        st_rows = sorted(self_training["rows"], key=lambda r: int(r["round"]))
        if int(st_rows[0]["round"]) != 0 and seed in by_arm.get("pretrained", {}):
            # The round's starting point is the demo's own pretrained model of that seed.
            for key, decoder in DECODERS:
                rows.append(_row(BEFORE_SELF_TRAINING, decoder, {seed: by_arm["pretrained"][seed]}, key))
        for st_row in st_rows:
            round_number = int(st_row["round"])
            label = (
                BEFORE_SELF_TRAINING
                if round_number == 0
                else f"pretrained + self-training round {round_number}"
            )
            for key, decoder in DECODERS:
                scores = {
                    split: {key: {m: float(st_row[f"{split}_{m}_{key}"]) for m in ("cer", "wer")}}
                    for split in ("dev", "test")
                }
                rows.append(_row(label, decoder, {seed: scores}, key))
    else:
        notes.append(f"self-training: {self_training_note or 'not run'}")
    return {"rows": rows, "claims": _claims(rows), "notes": notes}


def _find(rows: list[dict], model: str, decoder: str) -> dict | None:
    return next((r for r in rows if r["model"] == model and r["decoder"] == decoder), None)


def _compare(
    claim: str, metric: str, better: dict | None, worse: dict | None, labels: tuple[str, str]
) -> dict:
    if better is None or worse is None:
        return {"claim": claim, "metric": metric, "shown": None, "note": "not measured"}
    new, old = better[metric], worse[metric]
    return {
        "claim": claim,
        "metric": metric,
        labels[0]: new,
        labels[1]: old,
        "relative_reduction": (1 - new / old) if old else 0.0,
        "shown": new < old,
    }


def _claims(rows: list[dict]) -> list[dict]:
    """Each claim as a comparison of two rows (lower is better)."""
    claims = []
    for metric in ("dev_cer", "dev_wer"):
        claims.append(
            _compare(
                "pretraining helps (greedy)",
                metric,
                _find(rows, "pretrained", "greedy"),
                _find(rows, "from scratch", "greedy"),
                ("pretrained", "scratch"),
            )
        )
    for metric in ("dev_wer", "dev_cer"):
        claims.append(
            _compare(
                "a 4-gram LM helps (pretrained)",
                metric,
                _find(rows, "pretrained", "4-gram LM"),
                _find(rows, "pretrained", "greedy"),
                ("lm", "greedy"),
            )
        )
    before = _find(rows, BEFORE_SELF_TRAINING, "4-gram LM")
    after = next(
        (
            r
            for r in rows
            if r["model"].startswith("pretrained + self-training") and r["decoder"] == "4-gram LM"
        ),
        None,
    )
    if after is not None:
        for metric in ("dev_wer", "dev_cer"):
            claims.append(
                _compare("self-training helps (with LM)", metric, after, before, ("self_trained", "before"))
            )
    return claims


def _cell(row: dict, column: str) -> str:
    per_seed = row[f"{column}_per_seed"]
    text = f"{row[column]:.3f}"
    if len(per_seed) > 1:
        text += " (" + ", ".join(f"{v:.3f}" for v in per_seed) + ")"
    return text


def table_markdown(table: dict[str, Any]) -> str:
    """The table as GitHub markdown, then one line per claim and the notes."""
    header = "| model | decoder | seeds | dev CER | dev WER | test CER | test WER |"
    lines = [header, "|" + "---|" * 7]
    for row in table["rows"]:
        cells = [_cell(row, f"{split}_{metric}") for split, metric in COLUMNS]
        seeds = ", ".join(str(s) for s in row["seeds"])
        lines.append(f"| {row['model']} | {row['decoder']} | {seeds} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Means over seeds; each seed's value in brackets. Error rates are fractions (1.0 = 100%).")
    lines.append("")
    for claim in table["claims"]:
        if claim["shown"] is None:
            lines.append(f"- {claim['claim']}, {claim['metric']}: {claim['note']}")
            continue
        values = [
            (k, v) for k, v in claim.items() if k not in ("claim", "metric", "relative_reduction", "shown")
        ]
        compared = " vs ".join(f"{k} {v:.3f}" for k, v in values)
        verdict = "shown" if claim["shown"] else "NOT shown"
        lines.append(
            f"- {claim['claim']}, {claim['metric']}: {compared} "
            f"({100 * claim['relative_reduction']:+.1f}% relative reduction): {verdict}"
        )
    for note in table["notes"]:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


__all__ = [
    "PretrainingClaimNotShown",
    "build_table",
    "check_pretraining_beats_scratch",
    "table_markdown",
]
