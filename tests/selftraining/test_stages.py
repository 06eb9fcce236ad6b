"""Resumable stages: markers written atomically, finished stages skipped, unfinished output discarded."""

from __future__ import annotations

import json

import pytest

from wav2vec_hf.json_files import write_json
from wav2vec_hf.selftraining.stages import MARKER_FILE, StageRunner, StopAfterStage


def test_finished_stage_is_skipped_and_returns_its_stored_summary(tmp_path):
    calls = []

    def stage(folder):
        calls.append(folder)
        (folder / "out.txt").write_text("x")
        return {"value": len(calls)}

    first = StageRunner(tmp_path)
    assert first.run("round-1/a", stage) == {"value": 1}
    marker = tmp_path / "round-1" / "a" / MARKER_FILE
    assert json.loads(marker.read_text())["summary"] == {"value": 1}
    second = StageRunner(tmp_path)
    assert second.run("round-1/a", stage) == {"value": 1}
    assert len(calls) == 1 and second.skipped == ["round-1/a"] and second.ran == []
    assert second.seconds("round-1/a") >= 0.0 and second.seconds("never") is None


def test_unfinished_stage_output_is_removed_before_rerunning(tmp_path):
    def crash(folder):
        (folder / "partial.bin").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        StageRunner(tmp_path).run("s", crash)
    assert (tmp_path / "s" / "partial.bin").exists() and not (tmp_path / "s" / MARKER_FILE).exists()

    def finish(folder):
        assert list(folder.iterdir()) == []  # starts empty: nothing left from the killed run
        return {}

    runner = StageRunner(tmp_path)
    runner.run("s", finish)
    assert runner.ran == ["s"] and not (tmp_path / "s" / "partial.bin").exists()


def test_a_resumable_stage_gets_its_unfinished_output_back(tmp_path):
    def crash(folder):
        (folder / "checkpoint-6").mkdir()
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        StageRunner(tmp_path).run("finetune", crash, resumable=True)

    def resume(folder):
        assert [p.name for p in folder.iterdir()] == ["checkpoint-6"]  # fine-tuning continues from it
        return {"resumed": True}

    runner = StageRunner(tmp_path)
    assert runner.run("finetune", resume, resumable=True) == {"resumed": True}
    assert (tmp_path / "finetune" / MARKER_FILE).is_file()


def test_stop_after_raises_once_the_stage_is_recorded(tmp_path):
    runner = StageRunner(tmp_path, stop_after="b")
    runner.run("a", lambda folder: {})
    with pytest.raises(StopAfterStage):
        runner.run("b", lambda folder: {"done": True})
    assert (tmp_path / "b" / MARKER_FILE).is_file()


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    path = write_json(tmp_path / "x" / "m.json", {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in path.parent.iterdir()] == ["m.json"]
    circular: dict = {}
    circular["self"] = circular
    with pytest.raises(ValueError, match="Circular"):
        write_json(path, circular)
    assert json.loads(path.read_text()) == {"a": 1}  # the old file survives a failed write
    assert [p.name for p in path.parent.iterdir()] == ["m.json"]


def test_json_files_get_the_usual_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        path = write_json(tmp_path / "r.json", {"a": [1, 2]}, indent=None)
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
    assert path.read_text() == '{"a": [1, 2]}\n'
