"""Converted fairseq checkpoints continue pretraining from their own weights (quantiser included)."""

import json

import pytest
import torch
from safetensors.torch import load_file

from tests.pretraining.support import build_tiny_corpus, run


@pytest.mark.parametrize(
    ("fixture", "model_type", "quantizer_key"),
    [
        ("wav2vec2_base", "wav2vec2", "quantizer.codevectors"),
        ("wav2vec2_large_lv60", "wav2vec2", "quantizer.codevectors"),
        ("vq_wav2vec_gumbel", "vq-wav2vec", "wav2vec.quantizer.codevectors"),
        ("vq_wav2vec_kmeans", "vq-wav2vec", "wav2vec.quantizer.codebook"),
        ("wav2vec", "wav2vec", None),
    ],
)
def test_converted_checkpoint_continues_pretraining(
    fixture, model_type, quantizer_key, fairseq_fixtures_dir, tmp_path_factory, tmp_path
):
    from wav2vec_hf.convert.fairseq import convert_fairseq_checkpoint

    corpus = build_tiny_corpus(tmp_path_factory.getbasetemp())
    converted = tmp_path / "converted"
    convert_fairseq_checkpoint(fairseq_fixtures_dir / fixture / "model.pt", converted)
    start = load_file(converted / "model.safetensors")
    output_dir = tmp_path / "out"
    result = run(
        [
            "--model_type", model_type,
            "--init_from", str(converted),
            "--reset_updates",  # a fresh 3-update schedule (test_continue.py continues the checkpoint's)
            "--train", str(corpus / "dev.tsv"),
            "--valid", str(corpus / "test.tsv"),
            "--output_dir", str(output_dir),
            "--max_steps", "3",
            "--crop_samples", "32000",
            "--min_samples", "0",
            "--max_batch_samples", "64000",
            "--warmup_steps", "1",
            "--learning_rate", "1e-4",
            "--progress_bar", "false",
            "--report_to", "none",
            "--plots", "false",
        ]
    )  # fmt: skip
    assert result.updates == 3 and not result.interrupted
    records = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    assert len(train) == 3 and all(torch.isfinite(torch.tensor(r["loss"])) for r in train)
    if quantizer_key is not None:
        assert all(r["code_perplexity"] > 1.0 for r in train)  # the quantiser came along and is used

    # It trained from the converted weights: 3 small updates away from them, not a fresh model.
    end = load_file(output_dir / "model.safetensors")
    assert set(start) <= set(end)
    moved = max((end[key].float() - start[key].float()).abs().max().item() for key in start)
    assert 0 < moved < 0.05
    if quantizer_key is not None:
        assert torch.allclose(end[quantizer_key], start[quantizer_key], atol=0.05)
