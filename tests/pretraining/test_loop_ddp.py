"""Two CPU processes (DDP over gloo, launched by torchrun) train with LayerDrop on.

The objective's LayerDrop is a gate (a dropped layer is computed, its output discarded), so every
parameter gets a gradient every step and DDP runs without ``find_unused_parameters``; a skipped
layer would make the second update fail ("Expected to have finished reduction..."). Each process
reads its own half of the batches and checkpoints hold both processes' RNG states and positions.

``accelerate launch --cpu --num_processes 2`` needs MPI for several CPU processes; torchrun with
``ACCELERATE_USE_CPU=1`` gives the same gloo process group without it.
"""

import json
import os
import subprocess
from pathlib import Path

from safetensors.torch import load_file

import wav2vec_hf
from tests.helpers import torchrun_command
from tests.pretraining.support import build_tiny_corpus

REPO = Path(__file__).resolve().parents[2]


def test_two_process_cpu_ddp_with_layerdrop(tmp_path_factory, tmp_path):
    corpus = build_tiny_corpus(tmp_path_factory.getbasetemp())
    output_dir = tmp_path / "out"
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(wav2vec_hf.__file__).resolve().parents[1]),
        "ACCELERATE_USE_CPU": "1",
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    command = [
        *torchrun_command(2),
        str(REPO / "scripts" / "pretrain.py"),
        "--model_type", "wav2vec2",
        "--preset", "wav2vec2-tiny",
        "--train", str(corpus / "dev.tsv"),
        "--valid", str(corpus / "test.tsv"),
        "--output_dir", str(output_dir),
        "--max_steps", "4",
        "--save_steps", "2",
        "--max_batch_samples", "64000",
        "--config_overrides", "layerdrop=0.5",
        "--progress_bar", "false",
        "--report_to", "none",
        "--plots", "false",
    ]  # fmt: skip
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert completed.stdout.count("done: 4 updates") == 2  # both processes finished
    # Only rank 0 took the output folder's run lock (rank 1 was not refused by it), and released it.
    assert "in use by another run" not in completed.stderr
    assert not (output_dir / ".wav2vec-hf.lock").exists()

    checkpoint = output_dir / "checkpoints" / "update-00000004"
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state["num_processes"] == 2
    assert (checkpoint / "random_states_0.pkl").is_file() and (checkpoint / "random_states_1.pkl").is_file()
    # 7 batches of 2 (or 1) segments split over 2 processes: each read 4 (the list is padded to 8).
    assert state["data_positions"] == [{"epoch": 0, "position": 4}, {"epoch": 0, "position": 4}]

    records = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    assert [r["update"] for r in train] == [1, 2, 3, 4]  # written once, by the main process
    # Tokens are summed over both processes: 2 processes x (1 or 2) segments x 32000 samples.
    assert all(r["tokens_per_update"] in (96_000, 128_000) for r in train)
    assert all(r["loss"] == r["loss"] for r in train)  # finite (not NaN)
    # The export is the stock model's state: the checkpoint's objective keys without "model.".
    exported = load_file(output_dir / "model.safetensors")
    saved = load_file(checkpoint / "model.safetensors")
    assert {key.removeprefix("model.") for key in saved} == set(exported)
    assert all((saved[key] == exported[key.removeprefix("model.")]).all() for key in saved)
