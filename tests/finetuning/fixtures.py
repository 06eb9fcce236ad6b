"""Expensive shared test inputs, built once per test session and reused by tests/finetuning and tests/inference.

Everything is cached in this process under pytest's session temp folder:

* ``tiny_corpus``: the built-in corpus with 2 min labelled / 0.5 min dev speech (a few seconds to build);
* ``pretrained_folder(kind)``: a randomly initialised pretraining model folder of one generation
  (``"wav2vec2"``: 0.67M-parameter BASE-style group-norm model; ``"wav2vec"``, ``"vq-wav2vec"``: tiny presets);
* ``escape_run``: the default recipe, CI-sized, on the wav2vec 2.0 model (from scratch);
* ``quick_finetune(kind)``: a few updates of wav2vec / vq-wav2vec, enough to get a CTC folder for the pipeline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from wav2vec_hf.finetuning.arguments import parse_args
from wav2vec_hf.finetuning.ctc import FinetuneResult, finetune_ctc
from wav2vec_hf.recipes.corpus import build_corpus

_CACHE: dict = {}

# Escape test budget: 100 head-only updates at the default 1e-2, then 20 updates of everything.
ESCAPE_STEPS = {"max_steps": 120, "head_steps": 100, "eval_steps": 60}


def tiny_wav2vec2_config():
    """A 0.67M-parameter wav2vec 2.0 with BASE's structure (group-norm encoder, post-LN Transformer)."""
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        conv_dim=(64,) * 7,
        hidden_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=256,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
        codevector_dim=64,
        proj_codevector_dim=64,
        num_codevectors_per_group=32,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        feat_proj_dropout=0.0,
        feat_extract_norm="group",
    )


def tiny_corpus(base: Path) -> Path:
    """The built-in corpus (labeled 2 min, dev 0.5 min) under ``base``."""
    key = ("corpus", base)
    if key not in _CACHE:
        built = build_corpus(
            base / "corpus",
            unlabeled_minutes=0.2,
            labeled_minutes=2.0,
            dev_minutes=0.5,
            test_minutes=0.2,
            lm_sentences=100,
            num_workers=2,
            progress=False,
        )
        _CACHE[key] = built.root
    return _CACHE[key]


def pretrained_folder(base: Path, kind: str) -> Path:
    """A randomly initialised pretraining-model folder of ``kind`` (wav2vec2, wav2vec, vq-wav2vec)."""
    key = ("pretrained", base, kind)
    if key not in _CACHE:
        from transformers import Wav2Vec2ForPreTraining

        from wav2vec_hf.models.wav2vec import VQWav2VecForPreTraining, Wav2VecForPreTraining
        from wav2vec_hf.presets import get_preset

        torch.manual_seed(0)
        if kind == "wav2vec2":
            model = Wav2Vec2ForPreTraining(tiny_wav2vec2_config())
        elif kind == "wav2vec":
            model = Wav2VecForPreTraining(get_preset("wav2vec-tiny"))
        else:
            model = VQWav2VecForPreTraining(get_preset("vq-wav2vec-kmeans-tiny"))
        folder = base / f"pretrained-{kind}"
        model.save_pretrained(folder)
        _CACHE[key] = folder
    return _CACHE[key]


@dataclass
class Run:
    """A fine-tuning run: its result and wall time."""

    result: FinetuneResult
    seconds: float
    corpus: Path


def _finetune(argv: list[str]) -> FinetuneResult:
    return finetune_ctc(*parse_args(argv))


def escape_run(base: Path) -> Run:
    """The default recipe (CI-sized step counts) on the tiny wav2vec 2.0 from scratch."""
    key = ("escape", base)
    if key not in _CACHE:
        corpus = tiny_corpus(base)
        started = time.perf_counter()
        result = _finetune(
            [
                "--model", str(pretrained_folder(base, "wav2vec2")), "--from_scratch",
                "--train", str(corpus / "labeled.tsv"), "--eval", str(corpus / "dev.tsv"),
                "--output_dir", str(base / "escape"),
                "--max_steps", str(ESCAPE_STEPS["max_steps"]), "--head_steps", str(ESCAPE_STEPS["head_steps"]),
                "--eval_steps", str(ESCAPE_STEPS["eval_steps"]), "--save_steps", str(ESCAPE_STEPS["eval_steps"]),
                "--logging_steps", "20", "--disable_tqdm", "true", "--seed", "0",
            ]
        )  # fmt: skip
        _CACHE[key] = Run(result, time.perf_counter() - started, corpus)
    return _CACHE[key]


def quick_finetune(base: Path, kind: str) -> Path:
    """A wav2vec / vq-wav2vec CTC folder after a few updates (for inference plumbing, not accuracy)."""
    key = ("quick", base, kind)
    if key not in _CACHE:
        corpus = tiny_corpus(base)
        output = base / f"quick-{kind}"
        _finetune(
            [
                "--model", str(pretrained_folder(base, kind)),
                "--train", str(corpus / "labeled.tsv"), "--output_dir", str(output),
                "--max_steps", "4", "--head_steps", "2", "--head_layers", "[(32, 5)] * 2", "--head_dropout", "0.1",
                "--save_strategy", "no", "--disable_tqdm", "true", "--logging_steps", "2",
            ]
        )  # fmt: skip
        _CACHE[key] = output
    return _CACHE[key]
