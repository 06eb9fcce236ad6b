"""A killed fine-tuning run continues from its newest complete checkpoint exactly (``--resume_from_checkpoint last``)."""

from __future__ import annotations

import json
import shutil

import pytest
from safetensors.torch import load_file

from tests.finetuning.fixtures import pretrained_folder, tiny_corpus
from wav2vec_hf.finetuning.arguments import parse_args
from wav2vec_hf.finetuning.ctc import finetune_ctc


def _losses(folder) -> dict[int, float]:
    state = json.loads((folder / "trainer_state.json").read_text())
    return {entry["step"]: entry["loss"] for entry in state["log_history"] if "loss" in entry}


def test_a_killed_run_resumes_exactly_from_its_last_complete_checkpoint(session_dir, tmp_path):
    corpus = tiny_corpus(session_dir)
    output = tmp_path / "run"
    argv = [
        "--model", str(pretrained_folder(session_dir, "wav2vec2")),
        "--train", str(corpus / "labeled.tsv"), "--output_dir", str(output),
        # the checkpoint (update 6) falls inside the head-only phase (8 updates): resuming must re-freeze
        # the body and release it at update 8, as the uninterrupted run did
        "--max_steps", "12", "--head_steps", "8", "--save_steps", "6", "--eval_strategy", "no",
        "--logging_steps", "1", "--seed", "0", "--disable_tqdm", "true", "--per_device_train_batch_size", "4",
    ]  # fmt: skip
    finetune_ctc(*parse_args(argv))
    uninterrupted_losses = _losses(output / "checkpoint-12")
    uninterrupted_weights = load_file(output / "checkpoint-12" / "model.safetensors")

    # What a kill during the second save leaves: checkpoint-6 complete, checkpoint-12 without its state.
    (output / "checkpoint-12" / "trainer_state.json").unlink()
    (output / "model.safetensors").unlink()
    kept = (output / "checkpoint-6" / "optimizer.pt").stat().st_mtime_ns
    result = finetune_ctc(*parse_args([*argv, "--resume_from_checkpoint", "last"]))
    # continued, not redone: a run from the start would have rewritten checkpoint-6 (same seed, same losses)
    assert (output / "checkpoint-6" / "optimizer.pt").stat().st_mtime_ns == kept

    resumed_losses = _losses(output / "checkpoint-12")
    assert sorted(resumed_losses) == list(range(1, 13))
    for step in range(7, 13):  # computed again after the resumption
        assert resumed_losses[step] == pytest.approx(uninterrupted_losses[step], rel=1e-5), step
    resumed_weights = load_file(result.output_dir / "model.safetensors")
    for name, tensor in uninterrupted_weights.items():
        assert resumed_weights[name].allclose(tensor, atol=1e-6), name


def test_resuming_names_a_missing_checkpoint(session_dir, tmp_path):
    corpus = tiny_corpus(session_dir)
    argv = [
        "--model", str(pretrained_folder(session_dir, "wav2vec2")), "--train", str(corpus / "labeled.tsv"),
        "--output_dir", str(tmp_path / "run"), "--max_steps", "2", "--eval_strategy", "no",
        "--resume_from_checkpoint", str(tmp_path / "checkpoint-99"),
    ]  # fmt: skip
    with pytest.raises(FileNotFoundError, match="checkpoint-99"):
        finetune_ctc(*parse_args(argv))
    shutil.rmtree(tmp_path / "run", ignore_errors=True)
