"""With several processes the main one validates first (and saves the file facts); the others wait,
then validate from the facts. Every rank reaches the verdict: nobody waits forever on a failure."""

from __future__ import annotations

import pytest

from wav2vec_hf.data import DataValidationError, SkipReport
from wav2vec_hf.pretraining.loop import _build_data


class FakeAccelerator:
    def __init__(self, num_processes: int, is_main_process: bool, events: list[str]) -> None:
        self.num_processes, self.is_main_process, self.events = num_processes, is_main_process, events

    def wait_for_everyone(self) -> None:
        self.events.append("wait")


class FakeTask:
    def __init__(self, events: list[str], error: Exception | None = None) -> None:
        self.events, self.error = events, error

    def build_data(self):
        self.events.append("validate")
        if self.error is not None:
            raise self.error
        return "train", None


@pytest.mark.parametrize(
    ("num_processes", "is_main", "expected"),
    [(2, True, ["validate", "wait"]), (2, False, ["wait", "validate"]), (1, True, ["validate"])],
)
def test_the_main_process_validates_before_the_others(tmp_path, num_processes, is_main, expected):
    events: list[str] = []
    result = _build_data(FakeAccelerator(num_processes, is_main, events), FakeTask(events), tmp_path)
    assert result == ("train", None) and events == expected


def test_a_refused_set_releases_the_other_ranks_and_lists_the_files(tmp_path):
    report = SkipReport(source="train", seen=3)
    report.add("unreadable", "/data/a.wav", "/data/a.wav: not audio")
    events: list[str] = []
    task = FakeTask(events, DataValidationError(report))
    with pytest.raises(DataValidationError, match=r"bad_files\.tsv"):
        _build_data(FakeAccelerator(2, True, events), task, tmp_path)
    assert events == ["validate", "wait"]  # released after the failure, not before the table
    assert "/data/a.wav" in (tmp_path / "bad_files.tsv").read_text()
    events.clear()
    with pytest.raises(DataValidationError):
        _build_data(
            FakeAccelerator(2, False, events), FakeTask(events, DataValidationError(report)), tmp_path
        )
    assert events == ["wait", "validate"]
