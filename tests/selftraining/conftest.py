"""One self-training run on the built-in corpus, interrupted after stage 2 and resumed (shared by the tests)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from wav2vec_hf.recipes.corpus import build_corpus
from wav2vec_hf.selftraining import SelfTrainingConfig, SelfTrainingResult, rounds, run_self_training
from wav2vec_hf.selftraining.stages import MARKER_FILE

# CI scale: checks the plumbing and resumability; the models are far too small and short-trained for the
# accuracy claim, which tests/selftraining/test_claim.py checks at a larger (opt-in) scale.
CORPUS_MINUTES = {"unlabeled_minutes": 2.0, "labeled_minutes": 1.0, "dev_minutes": 0.3, "test_minutes": 0.2}
FINETUNE_ARGS = [
    "--from_scratch", "--max_steps", "20", "--head_steps", "5", "--learning_rate", "3e-3",
    "--freeze_feature_encoder", "false", "--eval_steps", "20", "--save_steps", "20", "--logging_steps", "10",
]  # fmt: skip
FIRST_STAGES = ["round-1/finetune", "lm/ngram", "lm/neural", "round-1/decode"]
LATER_STAGES = ["round-1/rescore", "round-1/filter", "round-1/train", "round-1/evaluate"]


@dataclass
class ResumedRun:
    """The interrupted run, its resumption, and what the test needs to check that nothing was redone."""

    config: SelfTrainingConfig
    corpus: Path
    interrupted: SelfTrainingResult
    resumed: SelfTrainingResult
    finetune_calls: list[int]
    marker_mtimes_before: dict[str, float]
    marker_mtimes_after: dict[str, float]
    seconds: dict[str, float]


def _marker_mtimes(root: Path, names: list[str]) -> dict[str, float]:
    return {name: (root / name / MARKER_FILE).stat().st_mtime_ns for name in names}


@pytest.fixture(scope="session")
def resumed_run(tmp_path_factory) -> ResumedRun:
    base = tmp_path_factory.mktemp("selftraining")
    started = time.perf_counter()
    corpus = build_corpus(
        base / "corpus", lm_sentences=2000, num_workers=2, progress=False, **CORPUS_MINUTES
    ).root
    corpus_seconds = time.perf_counter() - started
    config = SelfTrainingConfig(
        pretrained="wav2vec2-tiny",
        labeled=str(corpus / "labeled.tsv"),
        unlabeled=str(corpus / "unlabeled.tsv"),
        dev=str(corpus / "dev.tsv"),
        test=str(corpus / "test.tsv"),
        lm_text=[str(corpus / "lm_text.txt")],
        output_dir=str(base / "run"),
        seed=0,
        finetune_args=FINETUNE_ARGS,
        beam_width=8,
        n_best=4,
        lm_alphas=(0.5, 1.0, 2.0),
        lm_betas=(0.0, 1.0, 2.0),
        neural_lm_steps=20,
    )
    # Count fine-tuning calls (stage 1 and stage 5) across both runs.
    calls = [0, 0]
    original = rounds._finetune
    phase = {"run": 0}

    def counting_finetune(*args, **kwargs):
        calls[phase["run"]] += 1
        return original(*args, **kwargs)

    rounds._finetune = counting_finetune
    try:
        started = time.perf_counter()
        interrupted = run_self_training(replace(config, stop_after="round-1/decode"))
        first_seconds = time.perf_counter() - started
        before = _marker_mtimes(Path(config.output_dir), FIRST_STAGES)
        phase["run"] = 1
        started = time.perf_counter()
        resumed = run_self_training(config)
        second_seconds = time.perf_counter() - started
    finally:
        rounds._finetune = original
    after = _marker_mtimes(Path(config.output_dir), FIRST_STAGES)
    seconds = {"corpus": corpus_seconds, "interrupted_run": first_seconds, "resumed_run": second_seconds}
    print(f"\nself-training test run: {seconds}")
    return ResumedRun(config, corpus, interrupted, resumed, calls, before, after, seconds)
