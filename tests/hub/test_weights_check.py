"""Weights checked before publishing and at load: ``model_folders.check_model_weights`` (headers only)."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from tests.hub.folders import build_ctc_lm, build_ctc_remote, write_speech
from wav2vec_hf import cli
from wav2vec_hf.model_folders import WeightsError, check_model_weights, read_safetensors_header


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build_ctc_lm(tmp_path_factory.mktemp("weights") / "ctc-lm")


@pytest.fixture
def folder(built, tmp_path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "model"))


def truncate(folder: Path, cut: int = 1000) -> Path:
    """Cut the end off ``model.safetensors`` (a copy or download that stopped early)."""
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) - cut])
    return weights


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and "Loading weights" not in line]
    assert len(lines) == 1, err
    return lines[0]


def test_an_intact_folder_passes(folder):
    assert check_model_weights(folder) == [folder / "model.safetensors"]
    header = read_safetensors_header(folder / "model.safetensors")
    assert "lm_head.weight" in header and "__metadata__" not in header


def test_push_to_hub_dry_run_refuses_truncated_weights(folder, capsys):
    weights = truncate(folder)
    output = folder.parent / "dry-run"
    rc = cli.main(["push-to-hub", str(folder), "--repo-id", "org/x", "--dry-run", "--output", str(output)])
    assert rc == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"wav2vec-hf push-to-hub: error: {weights}: truncated")
    assert "save the model again" in line
    assert not output.exists()  # nothing written


@pytest.mark.parametrize("command", ["transcribe", "evaluate", "tune-lm", "finetune"])
def test_loading_truncated_weights_names_the_file(folder, tmp_path, capsys, command):
    weights = truncate(folder)
    wav = write_speech(tmp_path / "a.wav", seconds=1.0)
    table = tmp_path / "data.tsv"
    table.write_text(f"path\ttranscript\n{wav}\tAB CAB\n", encoding="utf-8")
    argv = {
        "transcribe": ["transcribe", str(folder), str(wav), "--no-progress"],
        "evaluate": ["evaluate", "--model", str(folder), "--data", str(table)],
        "tune-lm": ["tune-lm", "--model", str(folder), "--eval", str(table)],
        "finetune": [
            "finetune",
            "--model",
            str(folder),
            "--train",
            str(table),
            "--output_dir",
            str(tmp_path / "o"),
        ],
    }[command]
    assert cli.main(argv) == 2  # was: a SafetensorError traceback without the file name
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"wav2vec-hf {command}: error: {weights}: truncated"), line


def test_damaged_header_padded_file_and_empty_file(folder):
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    weights.write_bytes(bytes(data) + b"\0" * 16)
    with pytest.raises(WeightsError, match="longer than its header says"):
        check_model_weights(folder)
    (length,) = struct.unpack("<Q", bytes(data[:8]))
    data[8 + length // 2] = ord("\x01")  # a control character inside the JSON header
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match=r"model\.safetensors: damaged safetensors header"):
        check_model_weights(folder)
    weights.write_bytes(b"")
    with pytest.raises(WeightsError, match="not a safetensors file"):
        check_model_weights(folder)
    header = json.dumps({"__metadata__": {"format": "pt"}}).encode()
    weights.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(WeightsError, match="holds no tensors"):
        check_model_weights(folder)


def test_tensor_ranges_must_tile_the_data(tmp_path):
    header = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},  # overlaps a
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 12)
    with pytest.raises(WeightsError, match="tensor 'b' starts at byte 4 of the data, expected 8"):
        read_safetensors_header(path)
    header["b"] = {"dtype": "F32", "shape": [3], "data_offsets": [8, 16]}  # 3 floats in 8 bytes
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 16)
    with pytest.raises(WeightsError, match=r"tensor 'b' \(F32 \[3\]\) spans 8 bytes, expected 12"):
        read_safetensors_header(path)


@pytest.mark.parametrize("build", [build_ctc_lm, build_ctc_remote], ids=["wav2vec2", "wav2vec"])
def test_ctc_head_must_match_the_config_vocabulary(build, tmp_path):
    folder = build(tmp_path / "model")
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    check_model_weights(folder)
    config["vocab_size"] += 3
    config_path.write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=r"CTC output layer .* rows but .*config\.json says vocab_size="):
        check_model_weights(folder)


def test_a_sharded_index_must_name_existing_shards(folder):
    header = read_safetensors_header(folder / "model.safetensors")
    weight_map = dict.fromkeys(header, "model.safetensors")
    weight_map["lm_head.bias"] = "model-00002-of-00002.safetensors"
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    with pytest.raises(
        WeightsError, match=r"names model-00002-of-00002\.safetensors .*copy the missing shard"
    ):
        check_model_weights(folder)
