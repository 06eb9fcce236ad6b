"""Any fairseq wav2vec-family checkpoint -> a Hugging Face folder (``save_pretrained``).

``convert_fairseq_checkpoint`` reads the checkpoint safely (``convert.checkpoint``), tells its
generation (``convert.generations``), converts it with the generation's converter and writes:

* the model (``config.json`` + ``model.safetensors``),
* the feature extractor (``preprocessor_config.json``),
* ``conversion.json`` (``convert.run_record.ConversionRecord``): source file name and sha256,
  generation, ``num_updates``, the fairseq options that decide the architecture, and the fairseq
  options transformers has no field for.
* for wav2vec 2.0 pretraining checkpoints, ``pretraining_state.json``: the training recipe and the
  update count, from which ``wav2vec-hf pretrain --init_from`` continues (``pretraining.pretraining_state``).

wav2vec 2.0 folders load with stock ``Wav2Vec2ForPreTraining`` / ``Wav2Vec2Model`` /
``Wav2Vec2ForCTC`` and ``AutoFeatureExtractor``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, Wav2Vec2FeatureExtractor

import wav2vec_hf
from wav2vec_hf.convert import generations
from wav2vec_hf.convert.checkpoint import (
    PICKLE_WARNING,
    CheckpointError,
    FairseqCheckpoint,
    load_fairseq_checkpoint,
)
from wav2vec_hf.convert.run_record import RUN_FILE, ConversionRecord
from wav2vec_hf.json_files import write_json

logger = logging.getLogger(__name__)

CONVERSION_INFO_FILE = RUN_FILE

_pickle_warning_shown = False


@dataclass
class ConversionResult:
    """What ``convert_fairseq_checkpoint`` produced.

    Attributes:
        kind: the generation (``"wav2vec"``, ``"vq-wav2vec"``, ``"wav2vec2"``, ``"wav2vec2-ctc"``).
        output_dir: the folder written.
        model: the converted model (eval mode, float32).
        feature_extractor: the matching feature extractor.
        info: the content of ``conversion.json``.
    """

    kind: str
    output_dir: Path
    model: PreTrainedModel
    feature_extractor: Wav2Vec2FeatureExtractor
    info: dict[str, Any] = field(default_factory=dict)


def convert_fairseq_checkpoint(
    path: str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    trust_pickle: bool = False,
    safe_serialization: bool = True,
) -> ConversionResult:
    """Convert the fairseq checkpoint at ``path`` into a Hugging Face folder at ``output_dir``.

    Args:
        path: a fairseq ``.pt`` checkpoint of wav2vec, vq-wav2vec or wav2vec 2.0 (pretrained or CTC).
        output_dir: the folder to write (created if needed).
        trust_pickle: allow the full unpickler for files the restricted one refuses (only for
            files of trusted origin; ``--trust-pickle`` on the command line).
        safe_serialization: must stay True: transformers >= 5 writes safetensors only.

    Raises:
        CheckpointError: the file is missing, unreadable, of an unsupported model, or its keys
            do not match the converter's mapping.
    """
    if not safe_serialization:
        raise ValueError(
            "safe_serialization=False is not available: transformers >= 5 saves safetensors only, "
            "which is also the format that cannot run code when loaded."
        )
    _show_pickle_warning_once()
    checkpoint = load_fairseq_checkpoint(path, trust_pickle=trust_pickle)
    kind = generations.detect_generation(checkpoint)
    model, feature_extractor, extra_info = _convert(checkpoint, kind)

    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output)
    feature_extractor.save_pretrained(output)
    record = ConversionRecord(
        source_file=os.path.basename(checkpoint.path),
        source_sha256=_sha256(checkpoint.path),
        generation=kind,
        num_updates=checkpoint.num_updates,
        transformers_class=type(model).__name__,
        wav2vec_hf_version=wav2vec_hf.__version__,
        **extra_info,
    )
    if kind == generations.WAV2VEC2:
        record.pretraining_state = _write_pretraining_state(checkpoint, output, record.source_sha256)
    info = record.to_dict()
    write_json(output / CONVERSION_INFO_FILE, info, sort_keys=True)
    logger.info("converted %s (%s) -> %s", checkpoint.path, kind, output)
    return ConversionResult(
        kind=kind, output_dir=output, model=model, feature_extractor=feature_extractor, info=info
    )


def _convert(
    checkpoint: FairseqCheckpoint, kind: str
) -> tuple[PreTrainedModel, Wav2Vec2FeatureExtractor, dict[str, Any]]:
    """Run the generation's converter; returns the model, feature extractor and extra conversion.json fields."""
    if kind in (generations.WAV2VEC2, generations.WAV2VEC2_CTC):
        from wav2vec_hf.convert import wav2vec2

        options = wav2vec2.fairseq_model_options(checkpoint)
        criterion = wav2vec2.fairseq_criterion_options(checkpoint)
        if kind == generations.WAV2VEC2:
            model, feature_extractor = wav2vec2.convert_wav2vec2_checkpoint(checkpoint)
        else:
            model, feature_extractor = wav2vec2.convert_wav2vec2_ctc_checkpoint(checkpoint)
        extra = {
            "fairseq_config": {
                "model": {key: options.get(key) for key in wav2vec2.SUMMARY_KEYS},
                "task": _task_summary(checkpoint),
                "criterion": {
                    key: criterion.get(key)
                    for key in ("_name", "infonce", "loss_weights")
                    if key in criterion
                },
            },
            "not_in_transformers": wav2vec2.options_not_in_transformers(options, criterion),
        }
        return model, feature_extractor, extra
    if kind in (generations.WAV2VEC, generations.VQ_WAV2VEC):
        try:
            from wav2vec_hf.convert.wav2vec1 import convert_wav2vec1_checkpoint
        except ImportError as error:
            raise CheckpointError(
                f"{checkpoint.path}: a {kind} checkpoint, but this install has no wav2vec 1.0 converter "
                f"(wav2vec_hf.convert.wav2vec1: {error})."
            ) from error
        model = convert_wav2vec1_checkpoint(checkpoint)
        task = checkpoint.task_config
        # wav2vec 1.0 has no padding mask: its group norm spans the whole utterance.
        feature_extractor = Wav2Vec2FeatureExtractor(
            feature_size=1,
            sampling_rate=int(task.get("sample_rate") or 16000),
            padding_value=0.0,
            do_normalize=bool(task.get("normalize", False)),
            return_attention_mask=False,
        )
        extra = {"fairseq_config": {"args": dict(sorted((checkpoint.args or {}).items()))}}
        return model, feature_extractor, extra
    raise CheckpointError(f"{checkpoint.path}: no converter for generation {kind!r}.")


def _write_pretraining_state(checkpoint: FairseqCheckpoint, output: Path, sha256: str) -> str:
    """``pretraining_state.json`` of a wav2vec 2.0 pretraining checkpoint: its training settings and
    ``num_updates``, so ``wav2vec-hf pretrain --init_from`` continues its schedules."""
    from wav2vec_hf.convert import wav2vec2
    from wav2vec_hf.pretraining.pretraining_state import write_pretraining_state

    recipe, notes = wav2vec2.fairseq_training_recipe(checkpoint)
    path = write_pretraining_state(
        output,
        num_updates=checkpoint.num_updates,
        recipe=recipe,
        source=f"fairseq checkpoint {os.path.basename(checkpoint.path)} (sha256 {sha256[:12]})",
        notes=notes,
    )
    return path.name


def _task_summary(checkpoint: FairseqCheckpoint) -> dict[str, Any]:
    task = checkpoint.task_config
    return {key: task.get(key) for key in ("_name", "sample_rate", "normalize", "labels") if key in task}


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _show_pickle_warning_once() -> None:
    global _pickle_warning_shown
    if not _pickle_warning_shown:
        logger.warning(PICKLE_WARNING)
        _pickle_warning_shown = True
