"""WER / CER per evaluation set and decoder, for the card's table and its ``model-index``.

The schema of ``evaluation.json`` (and of ``push-to-hub --results FILE``); rates are fractions::

    {"results": [
      {"dataset": {"name": "LibriSpeech dev-clean",                    # shown in the card
                   "type": "openslr/librispeech_asr",                   # Hub dataset id (optional)
                   "split": "validation", "config": "clean"},           # optional
       "decoder": "greedy",                                             # "greedy" or "lm"
       "wer": 0.58, "cer": 0.23},
      {"dataset": {...}, "decoder": "lm",
       "lm": {"order": 4, "alpha": 0.5, "beta": 1.5, "beam_width": 32},  # optional details
       "wer": 0.41, "cer": 0.19}
    ]}

Where no such file is given or present, the greedy ``eval_wer`` / ``eval_cer`` of ``finetuning.json``
(on its ``--eval`` data), else of the Trainer's ``eval_results.json`` / ``all_results.json``, are used.
One source is used whole, never mixed: explicit results, ``evaluation.json``, ``finetuning.json``, Trainer.

The Hub's ``model-index`` requires a Hub dataset id (``dataset.type``), so only results with one go
into it: a ``type`` given in the results, or the Hub id ``finetuning.json`` recorded for data loaded
from the Hub (``data.references``). Results on local data (a manifest, a folder, an in-memory
``datasets`` object) stay in the card's table and are left out of ``model-index``; no id is made up.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult

from wav2vec_hf.data.references import DatasetReference
from wav2vec_hf.errors import Wav2VecHFError
from wav2vec_hf.hub.records import RunRecords, finetuning_dataset

GREEDY = "greedy"
LM = "lm"
DECODERS = (GREEDY, LM)
TASK_TYPE = "automatic-speech-recognition"
TASK_NAME = "Speech Recognition"


class ScoresError(Wav2VecHFError, ValueError):
    """Evaluation results that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class EvalScore:
    """WER and CER (fractions) of one decoder on one evaluation set.

    Attributes:
        dataset_name: human-readable name of the set.
        dataset_type: its Hub dataset id, or None for data that is not on the Hub (such a result is
            shown in the card's table, not in ``model-index``).
        dataset_split: the split, if any.
        dataset_config: the dataset configuration, if any.
        decoder: "greedy" (argmax CTC) or "lm" (beam search with the n-gram LM).
        wer: word error rate, a fraction (1.0 = as many errors as reference words).
        cer: character error rate, a fraction.
        lm: LM decoding details (order, alpha, beta, beam width), shown in the card.
    """

    dataset_name: str
    dataset_type: str | None
    decoder: str
    wer: float | None = None
    cer: float | None = None
    dataset_split: str | None = None
    dataset_config: str | None = None
    lm: dict[str, Any] | None = None

    @property
    def decoder_label(self) -> str:
        """The decoder's name: "greedy" or e.g. "4-gram LM"."""
        if self.decoder == GREEDY:
            return "greedy"
        order = (self.lm or {}).get("order")
        return f"{order}-gram LM" if order else "n-gram LM"


def parse_results(content: Any, source: str) -> list[EvalScore]:
    """Validate ``{"results": [...]}`` (schema in the module docstring) into ``EvalScore`` objects.

    Raises:
        ScoresError: naming ``source`` and the offending entry / field.
    """
    if not isinstance(content, dict) or not isinstance(content.get("results"), list):
        raise ScoresError(f'{source}: expected an object {{"results": [...]}} (see wav2vec_hf.hub.scores).')
    scores = []
    for index, entry in enumerate(content["results"]):
        where = f"{source}: results[{index}]"
        if not isinstance(entry, dict):
            raise ScoresError(f"{where}: expected an object, got {type(entry).__name__}.")
        dataset = entry.get("dataset")
        if not isinstance(dataset, dict) or not dataset.get("name"):
            raise ScoresError(f'{where}.dataset: give an object with at least a "name".')
        decoder = entry.get("decoder", GREEDY)
        if decoder not in DECODERS:
            raise ScoresError(f'{where}.decoder: {decoder!r}; use "greedy" or "lm".')
        rates = {key: _rate(entry.get(key), f"{where}.{key}") for key in ("wer", "cer")}
        if rates["wer"] is None and rates["cer"] is None:
            raise ScoresError(f'{where}: neither "wer" nor "cer" is given.')
        lm = entry.get("lm")
        if lm is not None and not isinstance(lm, dict):
            raise ScoresError(f"{where}.lm: expected an object (order, alpha, beta, beam_width).")
        name = str(dataset["name"])
        scores.append(
            EvalScore(
                dataset_name=name,
                dataset_type=_optional_str(dataset.get("type")),
                dataset_split=_optional_str(dataset.get("split")),
                dataset_config=_optional_str(dataset.get("config")),
                decoder=decoder,
                lm=lm,
                **rates,
            )
        )
    return scores


def read_results_file(path: str | Path) -> list[EvalScore]:
    """Read and validate a results file (``evaluation.json`` schema)."""
    path = Path(path)
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ScoresError(f"{path}: cannot read the results ({error}).") from error
    return parse_results(content, str(path))


def scores_from_records(records: RunRecords) -> tuple[list[EvalScore], str | None]:
    """The scores of the first source that has any, and that source's file name (None if none)."""
    evaluation = records.get("evaluation")
    if evaluation is not None:
        return parse_results(evaluation, records.paths["evaluation"]), records.paths["evaluation"]
    finetuning = records.finetuning
    if finetuning is not None:
        scores = _trainer_metrics(finetuning.metrics, finetuning_dataset(finetuning, "eval"))
        if scores:
            return scores, records.paths["finetuning"]
    for name in ("eval_results", "all_results"):
        content = records.get(name)
        if content and (scores := _trainer_metrics(content, None)):
            return scores, records.paths[name]
    return [], None


def to_eval_results(scores: list[EvalScore]) -> list[EvalResult]:
    """``huggingface_hub.EvalResult`` objects (WER / CER in percent, named by decoder) of the scores
    on Hub datasets (``dataset_type`` set); the others have no place in ``model-index``."""
    results = []
    for score in scores:
        if score.dataset_type is None:
            continue
        for metric, value in (("wer", score.wer), ("cer", score.cer)):
            if value is None:
                continue
            results.append(
                EvalResult(
                    task_type=TASK_TYPE,
                    task_name=TASK_NAME,
                    dataset_type=score.dataset_type,
                    dataset_name=score.dataset_name,
                    dataset_split=score.dataset_split,
                    dataset_config=score.dataset_config,
                    metric_type=metric,
                    metric_name=f"{metric.upper()} ({score.decoder_label})",
                    metric_value=round(100 * value, 2),
                )
            )
    return results


def _trainer_metrics(metrics: dict[str, Any], dataset: DatasetReference | None) -> list[EvalScore]:
    wer, cer = metrics.get("eval_wer"), metrics.get("eval_cer")
    if not isinstance(wer, (int, float)) and not isinstance(cer, (int, float)):
        return []
    name = dataset.name if dataset is not None else "evaluation set"
    split = dataset.split if dataset is not None else None
    if split and dataset.hub_id is None:
        name = f"{name} ({split})"
    return [
        EvalScore(
            dataset_name=name,
            dataset_type=dataset.hub_id if dataset is not None else None,
            dataset_split=_optional_str(split),
            dataset_config=dataset.config if dataset is not None else None,
            decoder=GREEDY,
            wer=float(wer) if isinstance(wer, (int, float)) else None,
            cer=float(cer) if isinstance(cer, (int, float)) else None,
        )
    ]


def _rate(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ScoresError(f"{where}: {value!r}; give the error rate as a non-negative fraction (0.25 = 25%).")
    return float(value)


def _optional_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


__all__ = [
    "DECODERS",
    "GREEDY",
    "LM",
    "EvalScore",
    "ScoresError",
    "parse_results",
    "read_results_file",
    "scores_from_records",
    "to_eval_results",
]
