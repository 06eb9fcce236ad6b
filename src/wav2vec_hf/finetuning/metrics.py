"""Word and character error rates, computed here (no Hub download), also as ``evaluate`` metrics.

``evaluate.load("wer")`` fetches its script from the Hub and needs ``jiwer``; neither is available
offline, so the metrics are implemented here and wrapped as ``evaluate.Metric`` subclasses
(``load_metric("wer")`` / ``load_metric("cer")``), which work with ``add_batch`` / ``compute``
like any other ``evaluate`` metric.

Definitions (those of jiwer and of the papers): over a whole set,
``error rate = (substitutions + deletions + insertions) / reference tokens``, where the counts come
from the Levenshtein alignment of each hypothesis with its reference. Words are split on
whitespace; characters are the characters of the text with single spaces between words (spaces
count, as in jiwer's CER). An empty hypothesis has an error rate of exactly 1 (all deletions): the
"all-blank" level of a CTC model that has not started to write.

``CTCMetrics`` is the ``compute_metrics`` callable for the ``Trainer``: it decodes greedy CTC
predictions and label ids with the tokenizer and reports ``wer``, ``cer`` and two health numbers
(``empty_rate``: share of utterances with an empty transcript; ``blank_rate``: share of frames
predicted as blank) that ``diagnostics`` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Stand-ins for <unk> when decoding ids: never equal to each other or to real text, so an unknown
# reference character always counts as one error (the model cannot write it).
REFERENCE_UNKNOWN = "\ufffd"
HYPOTHESIS_UNKNOWN = "\ufffc"


@dataclass(frozen=True)
class ErrorCounts:
    """Edit operations between hypotheses and references, summed over utterances."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_length: int = 0

    @property
    def errors(self) -> int:
        """Substitutions + deletions + insertions."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """errors / reference tokens (0 for an empty reference set with no insertions, inf with some)."""
        if self.reference_length == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.reference_length

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.reference_length + other.reference_length,
        )


def _as_codes(tokens: Sequence, vocabulary: dict) -> np.ndarray:
    return np.fromiter((vocabulary.setdefault(t, len(vocabulary)) for t in tokens), dtype=np.int64)


def align(reference: Sequence, hypothesis: Sequence) -> ErrorCounts:
    """Levenshtein alignment of two token sequences: substitution, deletion, insertion counts.

    Rows of the dynamic programme are computed with numpy: within a row, the insertion chain is a
    running minimum of ``cost[k] - k``, so each row is O(len(hypothesis)) vectorised work.
    """
    vocabulary: dict = {}
    ref, hyp = _as_codes(reference, vocabulary), _as_codes(hypothesis, vocabulary)
    n, m = len(ref), len(hyp)
    if n == 0 or m == 0:
        return ErrorCounts(deletions=n, insertions=m, reference_length=n)
    table = np.empty((n + 1, m + 1), dtype=np.int64)
    table[0] = np.arange(m + 1)
    columns = np.arange(m + 1)
    for i in range(1, n + 1):
        previous = table[i - 1]
        best = np.empty(m + 1, dtype=np.int64)
        best[0] = i
        best[1:] = np.minimum(previous[1:] + 1, previous[:-1] + (hyp != ref[i - 1]))
        # Insertions: table[i, j] = min_k (best[k] + j - k) for k <= j.
        table[i] = np.minimum.accumulate(best - columns) + columns
    substitutions = deletions = insertions = 0
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and table[i, j] == table[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            substitutions += int(ref[i - 1] != hyp[j - 1])
            i, j = i - 1, j - 1
        elif i > 0 and table[i, j] == table[i - 1, j] + 1:
            deletions += 1
            i -= 1
        else:
            insertions += 1
            j -= 1
    return ErrorCounts(substitutions, deletions, insertions, n)


def _characters(text: str) -> list[str]:
    return list(" ".join(text.split()))


def error_counts(references: Sequence[str], hypotheses: Sequence[str], unit: str = "word") -> ErrorCounts:
    """Summed ``ErrorCounts`` of ``hypotheses`` against ``references`` at ``unit`` ``"word"`` or ``"char"``."""
    if len(references) != len(hypotheses):
        raise ValueError(
            f"{len(references)} references but {len(hypotheses)} hypotheses; give one per utterance."
        )
    if unit not in ("word", "char"):
        raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")
    split = str.split if unit == "word" else _characters
    total = ErrorCounts()
    for reference, hypothesis in zip(references, hypotheses):
        total = total + align(split(reference), split(hypothesis))
    return total


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """WER over a set: word edit operations / reference words."""
    return error_counts(references, hypotheses, "word").rate


def character_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """CER over a set: character edit operations / reference characters (spaces included)."""
    return error_counts(references, hypotheses, "char").rate


def _metric_classes():
    """The ``evaluate.Metric`` subclasses (built lazily: ``evaluate`` imports ``datasets``)."""
    import datasets
    import evaluate

    features = datasets.Features(
        {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
    )

    class WordErrorRate(evaluate.Metric):
        """Word error rate, computed locally (see ``wav2vec_hf.finetuning.metrics``)."""

        def _info(self):
            return evaluate.MetricInfo(
                description="Word error rate: (S + D + I) / reference words over the whole set.",
                citation="",
                inputs_description="predictions, references: lists of transcripts (str)",
                features=features,
            )

        def _compute(self, predictions, references):
            return {"wer": word_error_rate(references, predictions)}

    class CharacterErrorRate(evaluate.Metric):
        """Character error rate (spaces count), computed locally."""

        def _info(self):
            return evaluate.MetricInfo(
                description="Character error rate: (S + D + I) / reference characters over the whole set.",
                citation="",
                inputs_description="predictions, references: lists of transcripts (str)",
                features=features,
            )

        def _compute(self, predictions, references):
            return {"cer": character_error_rate(references, predictions)}

    return {"wer": WordErrorRate, "cer": CharacterErrorRate}


def load_metric(name: str):
    """An offline ``evaluate.Metric`` for ``"wer"`` or ``"cer"`` (``compute`` returns ``{name: rate}``)."""
    classes = _metric_classes()
    if name not in classes:
        raise ValueError(f"unknown metric {name!r}; choose one of {sorted(classes)}.")
    return classes[name]()


class CTCMetrics:
    """``compute_metrics`` for CTC evaluation in the ``Trainer``.

    Args:
        tokenizer: the ``Wav2Vec2CTCTokenizer`` of the model.

    Calling it on an ``EvalPrediction`` whose ``predictions`` are greedy ids ``(N, T)`` (-100 marks
    frames past an utterance's end and padding added when batches are concatenated) and whose ``label_ids``
    are ``(N, U)`` (-100 padded) returns ``wer``, ``cer``, ``empty_rate``, ``blank_rate``. The last
    transcripts decoded are kept in ``last_predictions`` / ``last_references`` for diagnostics.
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.blank_id = int(tokenizer.pad_token_id)
        self.unknown_id = tokenizer.unk_token_id
        self.wer = load_metric("wer")
        self.cer = load_metric("cer")
        self.last_predictions: list[str] = []
        self.last_references: list[str] = []

    def decode_predictions(self, ids: np.ndarray) -> list[str]:
        """Greedy CTC decoding of ``(N, T)`` ids: merge repeats, drop blanks and padding."""
        ids = np.where(np.asarray(ids) < 0, self.blank_id, np.asarray(ids))
        texts = self.tokenizer.batch_decode(ids.tolist())
        return [" ".join(t.replace(self.tokenizer.unk_token, HYPOTHESIS_UNKNOWN).split()) for t in texts]

    def decode_labels(self, ids: np.ndarray) -> list[str]:
        """Reference text of ``(N, U)`` label ids (no repeat merging; -100 is padding)."""
        texts = []
        for row in np.asarray(ids):
            kept = [int(i) for i in row if i >= 0 and i != self.blank_id]
            text = self.tokenizer.decode(kept, group_tokens=False)
            texts.append(" ".join(text.replace(self.tokenizer.unk_token, REFERENCE_UNKNOWN).split()))
        return texts

    def __call__(self, prediction) -> dict[str, float]:
        ids = np.asarray(prediction.predictions)
        if ids.ndim == 3:  # logits were passed through: greedy decode here
            ids = ids.argmax(-1)
        predictions = self.decode_predictions(ids)
        references = self.decode_labels(prediction.label_ids)
        self.last_predictions, self.last_references = predictions, references
        valid = ids >= 0
        blank_rate = float(((ids == self.blank_id) & valid).sum() / max(int(valid.sum()), 1))
        return {
            "wer": self.wer.compute(predictions=predictions, references=references)["wer"],
            "cer": self.cer.compute(predictions=predictions, references=references)["cer"],
            "empty_rate": float(np.mean([p == "" for p in predictions])) if predictions else 0.0,
            "blank_rate": blank_rate,
        }


__all__ = [
    "CTCMetrics",
    "ErrorCounts",
    "align",
    "character_error_rate",
    "error_counts",
    "load_metric",
    "word_error_rate",
]
