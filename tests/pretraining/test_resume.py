"""Resume is exact: an interrupted and resumed run computes the very updates of an uninterrupted one.

The runs use dropout and LayerDrop (random every update), gradient accumulation over two
micro-batches, validation every few updates and a training set small enough that the interruption
and the resume fall in different epochs, so the update count, learning rate, temperature, optimizer
moments, every RNG state and the data position must all be restored for the trajectories to match.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import wav2vec_hf
from tests.pretraining.support import build_tiny_corpus, run
from wav2vec_hf.pretraining.checkpointing import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    read_trainer_state,
    remove_partial_checkpoints,
)

STEPS = 10
REPO = Path(__file__).resolve().parents[2]


def arguments(corpus: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        "--model_type", "wav2vec2",
        "--preset", "wav2vec2-tiny",
        # 30 s of audio in 2 s segments, 2 per micro-batch, 2 micro-batches per update: a new epoch
        # every 3.5 updates, sometimes between the two micro-batches of an update.
        "--train", str(corpus / "dev.tsv"),
        "--valid", str(corpus / "test.tsv"),
        "--output_dir", str(output_dir),
        "--max_steps", str(STEPS),
        "--max_batch_samples", "64000",
        "--update_freq", "2",
        "--config_overrides", "layerdrop=0.3,hidden_dropout=0.1,feat_proj_dropout=0.1",
        "--eval_steps", "4",
        "--keep_checkpoints", "2",
        "--cache_audio",
        "--progress_bar", "false",
        "--report_to", "none",
        "--plots", "false",
        "--seed", "7",
        *extra,
    ]  # fmt: skip


def trajectory(output_dir: Path) -> list[dict]:
    """Every logged record without the wall-clock throughput (the only field allowed to differ)."""
    records = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    for record in records:
        record.pop("audio_seconds_per_second", None)
    return records


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return build_tiny_corpus(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def uninterrupted(corpus, tmp_path_factory) -> Path:
    output_dir = tmp_path_factory.mktemp("uninterrupted")
    result = run(arguments(corpus, output_dir, "--save_steps", "3"))
    assert result.updates == STEPS and not result.interrupted
    return output_dir


def test_stopped_and_resumed_run_equals_uninterrupted_run(corpus, uninterrupted, tmp_path):
    output_dir = tmp_path / "run"
    stopped = run(arguments(corpus, output_dir, "--save_steps", "3", "--stop_after_steps", "7"))
    assert stopped.interrupted and stopped.updates == 7 and stopped.export_dir is None
    assert [p.name for p in list_checkpoints(output_dir / "checkpoints")] == [
        "update-00000003",
        "update-00000006",
    ]
    state = read_trainer_state(checkpoint_path(output_dir / "checkpoints", 6))
    assert state["update"] == 6 and state["data_positions"][0]["epoch"] >= 1  # mid-way through epoch 2

    resumed = run(arguments(corpus, output_dir, "--save_steps", "3", "--resume"))
    assert resumed.updates == STEPS and not resumed.interrupted

    expected, got = trajectory(uninterrupted), trajectory(output_dir)
    assert [(r["split"], r["update"]) for r in got] == [(r["split"], r["update"]) for r in expected]
    assert got == expected  # losses, accuracies, perplexities, LR, temperature, grad norms: bit for bit
    reference = load_file(uninterrupted / "model.safetensors")
    final = load_file(output_dir / "model.safetensors")
    assert reference.keys() == final.keys()
    assert all(torch.equal(reference[key], final[key]) for key in reference)


def test_resume_without_rng_states_is_not_exact(corpus, uninterrupted, tmp_path, caplog):
    """The comparison above can fail: lose the saved RNG states and the trajectory changes."""
    output_dir = tmp_path / "run"
    run(arguments(corpus, output_dir, "--save_steps", "3", "--stop_after_steps", "7"))
    checkpoint = latest_checkpoint(output_dir / "checkpoints")
    (checkpoint / "random_states_0.pkl").unlink()
    with caplog.at_level("WARNING"):
        run(arguments(corpus, output_dir, "--save_steps", "3", "--resume"))
    assert "will not be exact" in caplog.text and "no RNG state for process 0" in caplog.text
    expected = [r for r in trajectory(uninterrupted) if r["split"] == "train"]
    got = [r for r in trajectory(output_dir) if r["split"] == "train"]
    assert got[:6] == expected[:6]
    assert got[6]["loss"] != expected[6]["loss"]


def test_killed_process_resumes_exactly(corpus, uninterrupted, tmp_path):
    """A real kill (SIGKILL of `python scripts/pretrain.py`) after its 4th update's checkpoint."""
    output_dir = tmp_path / "run"
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(wav2vec_hf.__file__).resolve().parents[1]),
        "HF_HUB_OFFLINE": "1",
    }
    command = [
        sys.executable,
        str(REPO / "scripts" / "pretrain.py"),
        *arguments(corpus, output_dir, "--save_steps", "2"),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    target = checkpoint_path(output_dir / "checkpoints", 4)
    deadline = time.monotonic() + 240
    try:
        while not target.exists():
            assert process.poll() is None, process.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the run wrote no checkpoint in time"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    # Whatever the kill interrupted, only complete checkpoints count (a temporary folder is ignored).
    assert latest_checkpoint(output_dir / "checkpoints").name.startswith("update-")
    resumed = run(arguments(corpus, output_dir, "--save_steps", "2", "--resume"))
    assert resumed.updates == STEPS
    assert trajectory(output_dir) == trajectory(uninterrupted)


def test_checkpoints_are_atomic_and_pruned(tmp_path):
    root = tmp_path / "checkpoints"
    for update in (2, 4, 6):
        folder = checkpoint_path(root, update)
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text(json.dumps({"update": update}))
    half_written = root / ".tmp-update-00000008"
    half_written.mkdir()
    no_state = checkpoint_path(root, 10)  # renamed without its state file: never resumed from
    no_state.mkdir()
    assert [p.name for p in list_checkpoints(root)] == [
        "update-00000002",
        "update-00000004",
        "update-00000006",
    ]
    assert latest_checkpoint(root).name == "update-00000006"
    assert remove_partial_checkpoints(root) == [half_written] and not half_written.exists()
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        read_trainer_state(no_state)


def test_fresh_run_refuses_a_folder_with_checkpoints(corpus, uninterrupted):
    with pytest.raises(FileExistsError, match="--resume"):
        run(arguments(corpus, uninterrupted))
