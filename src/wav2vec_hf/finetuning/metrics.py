"""Word and character error rates as offline ``evaluate`` metrics (no Hub download).

``evaluate.load("wer")`` fetches its script from the Hub, which is not available offline, so the
metrics are thin ``evaluate.Metric`` subclasses here (``load_metric("wer")`` / ``load_metric("cer")``),
which work with ``add_batch`` / ``compute`` like any other ``evaluate`` metric.

The error counting itself (jiwer's alignment, summed over the set) lives in ``wav2vec_hf.error_rates``
(re-exported here).

``CTCMetrics`` is the ``compute_metrics`` callable for the ``Trainer``: it decodes greedy CTC
predictions with the one greedy decoder (``decoding.greedy``) and label ids with the tokenizer and reports ``wer``, ``cer`` and two health numbers
(``empty_rate``: share of utterances with an empty transcript; ``blank_rate``: share of frames
predicted as blank) that ``diagnostics`` reads.
"""

from __future__ import annotations

import numpy as np

from wav2vec_hf.error_rates import (
    HYPOTHESIS_UNKNOWN,
    REFERENCE_UNKNOWN,
    ErrorCounts,
    align,
    character_error_rate,
    error_counts,
    word_error_rate,
)


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
        from wav2vec_hf.decoding.greedy import tokenizer_labels

        self.tokenizer = tokenizer
        self.labels = tokenizer_labels(tokenizer)
        self.blank_id = int(tokenizer.pad_token_id)
        self.unknown_id = tokenizer.unk_token_id
        self.wer = load_metric("wer")
        self.cer = load_metric("cer")
        self.last_predictions: list[str] = []
        self.last_references: list[str] = []

    def decode_predictions(self, ids: np.ndarray) -> list[str]:
        """Greedy CTC transcripts of ``(N, T)`` ids by the one greedy decoder (``decoding.greedy``);
        ``<unk>`` writes ``HYPOTHESIS_UNKNOWN``, so it never matches a reference character."""
        from wav2vec_hf.decoding.greedy import greedy_decode_ids

        return [greedy_decode_ids(row, self.labels, unknown=HYPOTHESIS_UNKNOWN) for row in np.asarray(ids)]

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
