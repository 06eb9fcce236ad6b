"""Generation detection and the checkpoint reader's errors."""

import argparse

import pytest
import torch

from wav2vec_hf.convert.checkpoint import CheckpointError, FairseqCheckpoint, load_fairseq_checkpoint
from wav2vec_hf.convert.generations import detect_generation


def checkpoint(args=None, cfg=None) -> FairseqCheckpoint:
    return FairseqCheckpoint(path="x.pt", args=args, cfg=cfg, model={}, num_updates=0)


@pytest.mark.parametrize(
    "args, expected",
    [
        ({"arch": "wav2vec"}, "wav2vec"),
        ({"arch": "wav2vec", "vq_type": "none"}, "wav2vec"),
        ({"arch": "wav2vec", "vq_type": "gumbel"}, "vq-wav2vec"),
        ({"arch": "wav2vec2"}, "wav2vec2"),  # wav2vec_small.pt (2020) carries args, not cfg
        ({"arch": "wav2vec_ctc", "w2v_args": {}}, "wav2vec2-ctc"),
    ],
)
def test_generation_from_args(args, expected):
    assert detect_generation(checkpoint(args=args)) == expected


def test_generation_from_cfg_and_refusals():
    assert detect_generation(checkpoint(cfg={"model": {"_name": "wav2vec2"}})) == "wav2vec2"
    assert detect_generation(checkpoint(cfg={"model": {"_name": "wav2vec_ctc"}})) == "wav2vec2-ctc"
    with pytest.raises(CheckpointError, match="hubert"):
        detect_generation(checkpoint(cfg={"model": {"_name": "hubert"}}))
    with pytest.raises(CheckpointError, match="transformer_lm"):
        detect_generation(checkpoint(args={"arch": "transformer_lm"}))


def test_text_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello\n")
    with pytest.raises(CheckpointError, match="not a torch checkpoint") as error:
        load_fairseq_checkpoint(path)
    assert "--trust-pickle" not in str(error.value)


def test_namespace_args_load_with_the_restricted_unpickler(tmp_path):
    path = tmp_path / "old.pt"
    torch.save({"args": argparse.Namespace(arch="wav2vec"), "model": {"w": torch.zeros(2)}}, path)
    loaded = load_fairseq_checkpoint(path)
    assert loaded.args == {"arch": "wav2vec"} and loaded.num_updates == 0
