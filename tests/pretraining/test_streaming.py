"""``--streaming``: pretraining batches from Parquet shards, split across ranks, resumable exactly.

The batch-level tests read the stream directly (every batch's ids); the loop test interrupts a
streamed run and checks that the resumed trajectory equals the uninterrupted one bit for bit.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from tests.pretraining.support import build_tiny_corpus, run
from tests.pretraining.test_resume import trajectory
from wav2vec_hf.data import AudioError, ManifestError, open_audio_source
from wav2vec_hf.data.huggingface import build_dataset
from wav2vec_hf.data.shards import open_shards, shard_files
from wav2vec_hf.pretraining.checkpointing import checkpoint_path, read_trainer_state
from wav2vec_hf.pretraining.data import build_audio_data
from wav2vec_hf.pretraining.streaming import ShardBatchStream

RATE = 16_000


def write_tar_shards(dataset, folder: Path, shards: int) -> Path:
    """The rows of ``dataset`` as WebDataset tars: ``KEY.flac`` and ``KEY.txt`` per example."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = list(dataset)
    per_shard = -(-len(rows) // shards)
    for k in range(shards):
        with tarfile.open(folder / f"part-{k:03d}.tar", "w") as tar:
            for row in rows[k * per_shard : (k + 1) * per_shard]:
                for suffix, data in (("flac", row["audio"]["bytes"]), ("txt", (row["text"] or "").encode())):
                    info = tarfile.TarInfo(f"{row['id']}.{suffix}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return folder


def write_shards(dataset, folder: Path, shards: int, kind: str = "arrow") -> Path:
    """A ``datasets.Dataset`` as ``shards`` Arrow files (``save_to_disk``) or Parquet files in ``folder``.

    Most tests use Arrow: datasets' Parquet reader sleeps 5 s whenever a stream stops (a workaround
    for apache/arrow#45214), which a real epoch does not notice but a test of many short streams does.
    """
    if kind == "arrow":
        dataset.save_to_disk(str(folder), num_shards=shards)
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(shards):
        dataset.shard(shards, k, contiguous=True).to_parquet(str(folder / f"part-{k:03d}.parquet"))
    return folder


def tones(count: int, *, seed: int = 0, bad: tuple[int, ...] = ()):
    """A dataset of ``count`` FLAC utterances of 0.3-1.2 s (rows in ``bad`` hold bytes that are not audio)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        samples = int(rng.integers(int(0.3 * RATE), int(1.2 * RATE)))
        buffer = io.BytesIO()
        sf.write(buffer, (0.1 * rng.standard_normal(samples)).astype(np.float32), RATE, format="FLAC")
        data = b"not audio at all" * 8 if i in bad else buffer.getvalue()
        rows.append(
            {
                "audio": {"path": f"u{i:04d}.flac", "bytes": data},
                "id": f"u{i:04d}",
                "text": "",
                "speaker": "s",
                "num_samples": samples,
                "sample_rate": RATE,
            }
        )
    return build_dataset(rows)


class Recipe:
    """The recipe fields the stream reads."""

    max_batch_samples = 4 * RATE
    max_batch_size = None
    crop_samples = RATE // 2
    min_samples = None
    normalize = True
    segment_seconds = None
    crop_to_shortest = True


def stream_of(
    folder: Path, *, rank: int = 0, world: int = 1, workers: int = 0, on_bad: str = "raise", **options
):
    data = build_audio_data(
        str(folder), split=None, recipe=Recipe, min_samples=400, seed=3, on_bad=on_bad, num_replicas=world,
        rank=rank, training=True, streaming=True, shuffle_buffer=options.pop("shuffle_buffer", 16),
    )  # fmt: skip
    return data.training_batches(num_workers=workers)


def take(stream: ShardBatchStream, count: int) -> list[dict]:
    batches = iter(stream)
    return [next(batches) for _ in range(count)]


def ids_of(batches: list[dict]) -> list[list[str]]:
    return [list(batch["ids"]) for batch in batches]


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return write_shards(tones(40), tmp_path_factory.mktemp("shards"), shards=4)


def test_an_epoch_holds_every_row_once_shuffled_per_epoch_and_the_same_on_every_run(shards):
    stream = stream_of(shards)
    batches = take(stream, 30)  # more than one epoch of 40 rows (<= 8 rows per batch)
    epochs: dict[int, list[str]] = {}
    replay = stream_of(shards)
    assert ids_of(take(replay, 30)) == ids_of(batches)  # a pure function of seed and shards
    # Rebuild the epoch boundaries: the stream counts its epochs.
    stream = stream_of(shards)
    for batch in iter(stream):
        epochs.setdefault(stream.epoch, []).extend(batch["ids"])
        if stream.epoch == 2:
            break
    assert sorted(epochs[0]) == [f"u{i:04d}" for i in range(40)]
    assert sorted(epochs[1]) == sorted(epochs[0]) and epochs[1] != epochs[0]  # reshuffled
    first = batches[0]
    assert first["input_values"].dtype == torch.float32 and first["input_values"].shape[1] <= RATE // 2
    assert first["input_values"].shape[0] * first["input_values"].shape[1] <= Recipe.max_batch_samples


@pytest.mark.parametrize("workers", [0, 2])
def test_a_stream_resumes_at_the_exact_batch(shards, workers):
    """Interrupt after 7 batches (mid-epoch for some workers), resume in a new stream object."""
    reference = take(stream_of(shards, workers=workers), 16)
    interrupted = stream_of(shards, workers=workers)
    batches = iter(interrupted)
    for _ in range(7):
        next(batches)
    state = json.loads(json.dumps(interrupted.state_dict()))  # what a checkpoint keeps
    resumed = stream_of(shards, workers=workers)
    resumed.load_state_dict(state)
    continued = take(resumed, 9)
    assert ids_of(continued) == ids_of(reference[7:])
    for got, expected in zip(continued, reference[7:], strict=True):
        assert torch.equal(got["input_values"], expected["input_values"])  # same crops, same audio


def test_resuming_with_another_worker_count_or_a_map_style_position_is_refused(shards):
    stream = stream_of(shards, workers=2)
    take(stream, 3)
    state = stream.state_dict()
    with pytest.raises(ValueError, match="--num_workers 2"):
        stream_of(shards, workers=0).load_state_dict(state)
    with pytest.raises(ValueError, match="without --streaming"):
        stream_of(shards).load_state_dict({"epoch": 0, "position": 3})


def test_ranks_read_disjoint_shards_that_cover_the_corpus(shards):
    seen = []
    for rank in range(2):
        stream = stream_of(shards, rank=rank, world=2)
        rows = []
        for batch in iter(stream):
            if stream.epoch > 0:
                break
            rows.extend(batch["ids"])
        seen.append(rows)
    assert set(seen[0]).isdisjoint(seen[1])
    assert sorted(seen[0] + seen[1]) == [f"u{i:04d}" for i in range(40)]


def test_bad_rows_are_counted_or_refused_never_silent(tmp_path):
    folder = write_shards(tones(12, bad=(2, 7)), tmp_path / "bad", shards=2)
    stream = stream_of(folder, on_bad="skip")
    kept, skipped = [], []
    for batch in iter(stream):
        if stream.epoch > 0:
            break
        kept.extend(batch["ids"])
        skipped.extend(batch["skipped"])
    assert len(kept) == 10 and len(skipped) == 2
    assert all((s["reason"] and "u0002" in s["path"]) or "u0007" in s["path"] for s in skipped)
    with pytest.raises(AudioError):
        take(stream_of(folder, on_bad="raise"), 3)


def test_shard_folders_are_checked_and_parquet_and_tar_shards_stream_too(tmp_path, shards):
    with pytest.raises(ManifestError, match=r"no \.parquet, \.arrow or \.tar shards"):
        shard_files(tmp_path)
    assert shard_files(shards)[0] == "arrow" and len(shard_files(shards)[1]) == 4
    parquet = write_shards(tones(40), tmp_path / "parquet", shards=3, kind="parquet")
    assert shard_files(parquet)[0] == "parquet" and len(shard_files(parquet)[1]) == 3
    tars = write_tar_shards(tones(40), tmp_path / "tar", shards=4)
    assert shard_files(tars)[0] == "webdataset"
    arrow_rows = {entry.id: payload for entry, payload in open_shards(shards)}
    parquet_rows = {entry.id: payload for entry, payload in open_shards(parquet)}
    tar_rows = {entry.id: payload for entry, payload in open_shards(tars)}
    assert len(parquet_rows) == 40 and parquet_rows == arrow_rows == tar_rows
    # A stream of tars batches and resumes like any other.
    reference = take(stream_of(tars), 10)
    interrupted = stream_of(tars)
    take(interrupted, 4)
    resumed = stream_of(tars)
    resumed.load_state_dict(interrupted.state_dict())
    assert ids_of(take(resumed, 6)) == ids_of(reference[4:])
    with pytest.raises(ManifestError, match="--valid as a manifest"):
        build_audio_data(
            str(shards), split=None, recipe=Recipe, min_samples=400, seed=0, on_bad="raise", num_replicas=1,
            rank=0, training=False, streaming=True,
        )  # fmt: skip


# --- the training loop -----------------------------------------------------------------------------

STEPS = 8


def loop_arguments(shards: Path, corpus: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        "--model_type", "wav2vec2",
        "--preset", "wav2vec2-tiny",
        "--train", str(shards),
        "--streaming", "true",
        "--shuffle_buffer", "8",
        "--valid", str(corpus / "test.tsv"),
        "--output_dir", str(output_dir),
        "--max_steps", str(STEPS),
        "--max_batch_samples", "64000",
        "--crop_samples", "32000",
        "--segment_seconds", "0",
        "--update_freq", "2",
        "--config_overrides", "layerdrop=0.3,hidden_dropout=0.1",
        "--eval_steps", "4",
        "--progress_bar", "false",
        "--report_to", "none",
        "--plots", "false",
        "--seed", "7",
        *extra,
    ]  # fmt: skip


def test_a_streamed_pretraining_run_resumes_exactly(tmp_path):
    corpus = build_tiny_corpus(tmp_path)
    source = open_audio_source(str(corpus / "dev.tsv"))
    folder = write_shards(source.to_hf_dataset(embed_audio=True), tmp_path / "shards", shards=3)

    whole = run(loop_arguments(folder, corpus, tmp_path / "whole", "--save_steps", "3"))
    assert whole.updates == STEPS
    output_dir = tmp_path / "run"
    stopped = run(loop_arguments(folder, corpus, output_dir, "--save_steps", "3", "--stop_after_steps", "5"))
    assert stopped.interrupted and stopped.updates == 5
    position = read_trainer_state(checkpoint_path(output_dir / "checkpoints", 3))["data_positions"][0]
    assert position["epoch"] >= 1 and sum(position["stream"]["taken"]) > 0  # resumed mid-way into epoch 2
    resumed = run(loop_arguments(folder, corpus, output_dir, "--save_steps", "3", "--resume"))
    assert resumed.updates == STEPS
    assert trajectory(output_dir) == trajectory(tmp_path / "whole")  # bit for bit
    reference, final = (
        load_file(tmp_path / "whole" / "model.safetensors"),
        load_file(output_dir / "model.safetensors"),
    )
    assert all(torch.equal(reference[key], final[key]) for key in reference)
