"""Two CPU processes (DDP over gloo, launched by torchrun) fine-tune with ``wav2vec-hf finetune``.

The head-only phase keeps the body's ``requires_grad`` under several processes (DDP needs a fixed set
of parameters), so the body must still train after it; the command ends the process group itself,
so neither process aborts at exit.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from safetensors.torch import load_file

import wav2vec_hf
from tests.finetuning import fixtures
from tests.helpers import torchrun_command

UPDATES, HEAD_UPDATES, BATCH = 6, 2, 8


def test_two_process_cpu_finetuning(session_dir, tmp_path):
    corpus = fixtures.tiny_corpus(session_dir)
    pretrained = fixtures.pretrained_folder(session_dir, "wav2vec2")
    output = tmp_path / "ft"
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(wav2vec_hf.__file__).resolve().parents[1]),
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    command = [
        *torchrun_command(2),
        "-m", "wav2vec_hf.cli", "finetune",
        "--model", str(pretrained), "--train", str(corpus / "labeled.tsv"), "--eval", str(corpus / "dev.tsv"),
        "--output_dir", str(output), "--use_cpu", "true", "--seed", "0",
        "--max_steps", str(UPDATES), "--head_steps", str(HEAD_UPDATES),
        "--per_device_train_batch_size", str(BATCH),
        "--eval_steps", "3", "--save_steps", "3", "--logging_steps", "1", "--disable_tqdm", "true",
    ]  # fmt: skip
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "terminate called" not in completed.stderr
    assert completed.stdout.count("fine-tuned model in") == 2  # both processes finished
    assert completed.stderr.count("peak learning rate") == 1  # only the first process logs its progress

    # Each update takes BATCH utterances from each process: one epoch of the labelled set is
    # ceil(utterances / (2 * BATCH)) updates, not ceil(utterances / BATCH) as in one process.
    utterances = len((corpus / "labeled.tsv").read_text().splitlines()) - 1  # the first line is the root
    per_epoch = -(-utterances // (2 * BATCH))
    state = json.loads((output / f"checkpoint-{UPDATES}" / "trainer_state.json").read_text())
    epochs = {entry["step"]: entry["epoch"] for entry in state["log_history"] if "loss" in entry}
    assert epochs[per_epoch] == 1.0
    assert state["global_step"] == UPDATES

    # After the head-only phase the pretrained body trained as well (its requires_grad stayed on).
    start, tuned = load_file(pretrained / "model.safetensors"), load_file(output / "model.safetensors")
    body = "wav2vec2.encoder.layers.0.attention.k_proj.weight"
    assert not (start[body] == tuned[body]).all()
