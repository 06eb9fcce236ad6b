"""The commands end a multi-process run's process group themselves (``process_group``)."""

from __future__ import annotations

import torch.distributed as distributed

from wav2vec_hf.cli import main
from wav2vec_hf.process_group import release_process_group


def test_release_destroys_the_default_group(tmp_path):
    store = distributed.FileStore(str(tmp_path / "store"), 1)
    distributed.init_process_group("gloo", store=store, rank=0, world_size=1)
    assert distributed.is_initialized()
    release_process_group()
    assert not distributed.is_initialized()
    release_process_group()  # no group: nothing to do, no error


def test_finetune_reports_contradicting_options_without_a_traceback(tmp_path, capsys):
    code = main(["finetune", "--model", str(tmp_path), "--train", str(tmp_path / "t.tsv"),
                 "--output_dir", str(tmp_path / "out"), "--eval_steps", "6", "--save_steps", "4",
                 "--load_best_model_at_end", "true", "--eval_strategy", "steps"])  # fmt: skip
    assert code == 2
    assert "wav2vec-hf finetune: error:" in capsys.readouterr().err
