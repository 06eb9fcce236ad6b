"""Pick the pseudo-labels worth training on, and write them (and the labelled data) as transcript tables.

Each unlabelled utterance gets its rescored best hypothesis and a confidence: the combined score
(``rescoring``) divided by the hypothesis length in characters + 1 (the CTC output tokens and the end
of the sentence), so long and short utterances compare on one scale (Kahn et al. 2020 filter the same
way with a length-normalised log-likelihood). The filter then drops, in this order and counted:

1. empty hypotheses;
2. with ``require_agreement``: utterances whose rescored best differs from the beam search's best;
3. with ``min_score``: confidences below the threshold;
4. with ``keep_fraction < 1``: all but the most confident share of what is left; with
   ``balance_transcripts``, that share of each group of identical transcripts instead (at least one
   per group), so that words the model is less sure of still get examples. This is class-balanced
   selection (Zou et al. 2018) for isolated-word data such as spoken digits, where a global cut keeps
   only the words the model already knows best; on sentences, where nearly every transcript is
   unique, it keeps nearly everything. Labels chosen by distribution alignment (``prior_alignment``)
   rank by their aligned posterior instead.

Tables are TSV with a header (``path transcript speaker score source``), absolute audio paths, and
open with ``open_audio_source`` like any transcript table.
"""

from __future__ import annotations

import csv
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wav2vec_hf.selftraining.rescoring import NBest, RescoreWeights

TABLE_COLUMNS = ("path", "transcript", "speaker", "score", "source")


@dataclass
class PseudoLabel:
    """The chosen transcript of one unlabelled utterance.

    Attributes:
        id, path, speaker: the utterance.
        text: the rescored best hypothesis.
        combined: its combined score (natural log).
        normalized: ``combined / (len(text) + 1)``, the confidence the filter uses.
        agrees_with_beam: the rescored best is the beam search's best.
        posterior: the label's probability after distribution alignment (``prior_alignment``), or
            ``None`` without it; where set, it ranks the labels of a group instead of ``normalized``.
    """

    id: str
    path: str
    text: str
    combined: float
    normalized: float
    agrees_with_beam: bool
    speaker: str | None = None
    posterior: float | None = None

    @classmethod
    def of(cls, nbest: NBest, text: str, combined: float, posterior: float | None = None) -> PseudoLabel:
        """The label ``text`` (combined score ``combined``) of ``nbest``'s utterance."""
        return cls(
            id=nbest.id,
            path=nbest.path,
            text=text,
            combined=combined,
            normalized=length_normalized(combined, text),
            agrees_with_beam=text == nbest.hypotheses[0].text,
            speaker=nbest.speaker,
            posterior=posterior,
        )


@dataclass
class FilterSettings:
    """What ``filter_pseudo_labels`` keeps (see the module docstring)."""

    min_score: float | None = None
    keep_fraction: float = 1.0
    require_agreement: bool = False
    balance_transcripts: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.keep_fraction <= 1.0:
            raise ValueError(f"keep_fraction={self.keep_fraction}: give a share in (0, 1]")


@dataclass
class FilterReport:
    """Kept labels and why the others were dropped."""

    kept: list[PseudoLabel]
    total: int
    dropped: Counter = field(default_factory=Counter)


def length_normalized(score: float, text: str) -> float:
    """``score / (characters of text + 1)``: one end-of-sentence token besides the characters."""
    return score / (len(text) + 1)


def choose_pseudo_labels(nbests: Sequence[NBest], weights: RescoreWeights) -> list[PseudoLabel]:
    """The rescored best hypothesis of each utterance, with its scores."""
    labels = []
    for nbest in nbests:
        best, combined = weights.best(nbest)
        labels.append(PseudoLabel.of(nbest, best.text, combined))
    return labels


def filter_pseudo_labels(labels: Sequence[PseudoLabel], settings: FilterSettings) -> FilterReport:
    """Apply the filter steps in order; ``kept`` keeps the input order."""
    report = FilterReport(kept=[], total=len(labels))
    candidates = []
    for label in labels:
        if not label.text.strip():
            report.dropped["empty"] += 1
        elif settings.require_agreement and not label.agrees_with_beam:
            report.dropped["disagrees_with_beam"] += 1
        elif settings.min_score is not None and label.normalized < settings.min_score:
            report.dropped["below_min_score"] += 1
        else:
            candidates.append(label)
    if settings.keep_fraction < 1.0 and candidates:
        groups: dict[str, list[int]] = {}
        for i, label in enumerate(candidates):
            groups.setdefault(label.text if settings.balance_transcripts else "", []).append(i)
        chosen: set[int] = set()
        for members in groups.values():
            keep = max(1, math.ceil(settings.keep_fraction * len(members)))
            chosen.update(sorted(members, key=lambda i: _rank_key(candidates[i], i))[:keep])
        report.dropped["outside_keep_fraction"] += len(candidates) - len(chosen)
        candidates = [c for i, c in enumerate(candidates) if i in chosen]
    report.kept = candidates
    return report


def _rank_key(label: PseudoLabel, index: int) -> tuple:
    """Most confident first: aligned labels by posterior, before unaligned ones by ``normalized``."""
    if label.posterior is not None:
        return (0, -label.posterior, index)
    return (1, -label.normalized, index)


def write_table(rows: Sequence[dict], path: str | os.PathLike[str]) -> Path:
    """Write a transcript table (``TABLE_COLUMNS``, tab-separated, header line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(TABLE_COLUMNS)
        for row in rows:
            for column in ("path", "transcript"):
                if "\t" in str(row.get(column, "")) or "\n" in str(row.get(column, "")):
                    raise ValueError(f"{path}: {column} {row.get(column)!r} holds a tab or newline")
            writer.writerow(
                [row.get(column, "") if row.get(column) is not None else "" for column in TABLE_COLUMNS]
            )
    return path


def pseudo_label_rows(labels: Sequence[PseudoLabel]) -> list[dict]:
    """Table rows of pseudo-labels (``source`` = ``pseudo``, ``score`` = the normalised confidence)."""
    return [
        {
            "path": str(Path(label.path).resolve()),
            "transcript": label.text,
            "speaker": label.speaker,
            "score": f"{label.normalized:.6f}",
            "source": "pseudo",
        }
        for label in labels
    ]


def labelled_rows(audio_set) -> list[dict]:
    """Table rows of a labelled ``AudioSet`` (``source`` = ``labelled``, no score)."""
    rows = []
    for record in audio_set.records:
        if record.row is not None:
            raise ValueError(
                f"{audio_set.name}: audio held inside a datasets table; self-training needs audio files on disk"
            )
        if not record.transcript:
            continue
        rows.append(
            {
                "path": str(Path(record.path).resolve()),
                "transcript": record.transcript,
                "speaker": record.speaker,
                "score": "",
                "source": "labelled",
            }
        )
    return rows


__all__ = [
    "FilterReport",
    "FilterSettings",
    "PseudoLabel",
    "choose_pseudo_labels",
    "filter_pseudo_labels",
    "labelled_rows",
    "length_normalized",
    "pseudo_label_rows",
    "write_table",
]
