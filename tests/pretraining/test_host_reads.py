"""The training loop reads the device once per update (the finite-gradient gate), not once per metric."""

import sys
from pathlib import Path

import pytest
import torch

import wav2vec_hf.pretraining.loop as loop_module
from tests.pretraining.support import build_tiny_corpus, run

# Every way a tensor's value reaches Python: each is a host synchronisation on an accelerator.
HOST_READS = ("tolist", "item", "__float__", "__bool__", "__int__", "__index__", "numpy", "cpu")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return build_tiny_corpus(tmp_path_factory.getbasetemp())


def count_loop_reads(monkeypatch) -> list[str]:
    """Record each host read of a tensor made by code in ``pretraining/loop.py`` itself."""
    reads: list[str] = []
    loop_file = loop_module.__file__

    def counting(name: str, original):
        def read(self, *args, **kwargs):
            caller = sys._getframe(1)
            if caller.f_code.co_filename == loop_file:
                reads.append(f"{name} at line {caller.f_lineno}")
            return original(self, *args, **kwargs)

        return read

    for name in HOST_READS:
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    return reads


@pytest.mark.parametrize("group_norms", ["false", "true"])
def test_one_host_read_per_update(corpus, tmp_path, monkeypatch, group_norms):
    reads = count_loop_reads(monkeypatch)
    result = run(
        [
            "--model_type", "wav2vec2",
            "--preset", "wav2vec2-tiny",
            "--train", str(corpus / "dev.tsv"),
            "--output_dir", str(tmp_path / "out"),
            "--max_steps", "4",
            "--max_batch_samples", "64000",
            "--progress_bar", "false",
            "--report_to", "none",
            "--plots", "false",
            "--log_module_grad_norms", group_norms,
        ]
    )  # fmt: skip
    assert result.updates == 4
    assert len(reads) == 4, reads
