"""Which numbered checkpoint folders count as complete (shared by fine-tuning and pretraining resumption)."""

from __future__ import annotations

import logging

import pytest

from wav2vec_hf.checkpoint_folders import complete_checkpoints
from wav2vec_hf.finetuning.checkpoints import resolve_resume_checkpoint
from wav2vec_hf.pretraining.checkpointing import checkpoint_path, list_checkpoints, read_trainer_state


def _checkpoint(folder, state='{"global_step": 1}'):
    folder.mkdir(parents=True)
    if state is not None:
        (folder / "trainer_state.json").write_text(state, encoding="utf-8")
    return folder


def test_numbered_folders_with_a_readable_state_oldest_first(tmp_path, caplog):
    two, ten = _checkpoint(tmp_path / "checkpoint-2"), _checkpoint(tmp_path / "checkpoint-10")
    _checkpoint(tmp_path / "checkpoint-12", state='{"global_st')  # cut off while saving
    _checkpoint(tmp_path / "checkpoint-14", state=None)  # killed before the state was written
    _checkpoint(tmp_path / "checkpoint-last")  # not numbered
    (tmp_path / "checkpoint-3").write_text("a file, not a folder")
    _checkpoint(tmp_path / "update-00000020")  # another trainer's naming
    with caplog.at_level(logging.WARNING):
        assert complete_checkpoints(tmp_path, "checkpoint-") == [two, ten]  # 10 after 2: by number
    assert "checkpoint-12" in caplog.text and "checkpoint-14" in caplog.text
    assert complete_checkpoints(tmp_path / "missing", "checkpoint-") == []


def test_fine_tuning_resumes_from_the_newest_complete_trainer_checkpoint(tmp_path):
    _checkpoint(tmp_path / "checkpoint-6")
    newest = _checkpoint(tmp_path / "checkpoint-18")
    _checkpoint(tmp_path / "checkpoint-24", state=None)
    assert (
        resolve_resume_checkpoint(tmp_path, "last")
        == resolve_resume_checkpoint(tmp_path, True)
        == str(newest)
    )
    assert (
        resolve_resume_checkpoint(tmp_path, None) is None
        and resolve_resume_checkpoint(tmp_path, "none") is None
    )
    assert resolve_resume_checkpoint(tmp_path / "empty", "last") is None
    # A folder named by the user obeys the same rule: a state file cut off while saving is refused.
    assert resolve_resume_checkpoint(tmp_path, str(newest)) == str(newest)
    truncated = _checkpoint(tmp_path / "checkpoint-30", state='{"global_st')
    with pytest.raises(FileNotFoundError, match="checkpoint-30: not a complete checkpoint"):
        resolve_resume_checkpoint(tmp_path, str(truncated))


def test_pretraining_lists_its_own_update_folders_only(tmp_path):
    first = _checkpoint(checkpoint_path(tmp_path, 100))
    second = _checkpoint(checkpoint_path(tmp_path, 2000))
    _checkpoint(tmp_path / ".tmp-update-00003000")  # being written
    _checkpoint(tmp_path / "checkpoint-5000")
    assert list_checkpoints(tmp_path) == [first, second]
    assert read_trainer_state(second) == {"global_step": 1}
    truncated = _checkpoint(checkpoint_path(tmp_path, 4000), state='{"upd')
    with pytest.raises(FileNotFoundError, match="update-00004000: not a complete checkpoint"):
        read_trainer_state(truncated)
