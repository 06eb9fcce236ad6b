"""Every fairseq fixture folder must belong to a generation that has a parity test.

A folder whose checkpoint cannot be read, whose model kind is not supported (``detect_generation``
raises), or whose generation has no parity module in tests/convert makes the test FAIL: a fixture
nobody checks is a gap, not something to skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import skip_or_fail_in_ci
from tests.helpers import fairseq_fixture_folders
from wav2vec_hf.convert import generations
from wav2vec_hf.convert.checkpoint import load_fairseq_checkpoint

PARITY_MODULES = {
    generations.WAV2VEC: "test_wav2vec1_parity.py",
    generations.VQ_WAV2VEC: "test_wav2vec1_parity.py",
    generations.WAV2VEC2: "test_wav2vec2_parity.py",
}
TESTS_DIR = Path(__file__).resolve().parent


def uncovered_fixture_folders(folders: list[Path], tests_dir: Path = TESTS_DIR) -> list[str]:
    """One line per fixture folder no parity test covers (empty = all covered)."""
    problems = []
    for folder in folders:
        try:
            kind = generations.detect_generation(load_fairseq_checkpoint(folder / "model.pt"))
        except Exception as error:
            problems.append(f"{folder.name}: unsupported or unreadable checkpoint ({error})")
            continue
        module = PARITY_MODULES.get(kind)
        if module is None:
            problems.append(f"{folder.name}: generation {kind!r} has no parity test module")
        elif not (tests_dir / module).is_file():
            problems.append(f"{folder.name}: generation {kind!r} needs {module}, which does not exist")
    return problems


def _folders_under(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("*/model.pt"))


def test_every_fixture_folder_has_a_parity_test(fairseq_fixtures_dir):
    folders = fairseq_fixture_folders()
    assert folders, f"no */model.pt under {fairseq_fixtures_dir}"
    problems = uncovered_fixture_folders(folders)
    assert not problems, "\n".join(problems)


def test_an_unsupported_fixture_folder_fails(tmp_path, fairseq_fixtures_dir):
    hubert = tmp_path / "hubert_base"
    hubert.mkdir()
    torch.save(
        {"args": None, "cfg": {"model": {"_name": "hubert"}}, "model": {"encoder.w": torch.zeros(2, 2)}},
        hubert / "model.pt",
    )
    supported = tmp_path / "wav2vec2_copy"
    supported.mkdir()
    (supported / "model.pt").symlink_to(fairseq_fixtures_dir / "wav2vec2_base" / "model.pt")

    problems = uncovered_fixture_folders(_folders_under(tmp_path))
    assert len(problems) == 1
    assert problems[0].startswith("hubert_base:") and "'hubert'" in problems[0]


def test_a_generation_without_its_parity_module_fails(tmp_path, fairseq_fixtures_dir):
    folder = tmp_path / "fixtures" / "wav2vec2_copy"
    folder.mkdir(parents=True)
    (folder / "model.pt").symlink_to(fairseq_fixtures_dir / "wav2vec2_base" / "model.pt")
    empty_tests_dir = tmp_path / "tests"
    empty_tests_dir.mkdir()
    problems = uncovered_fixture_folders([folder], tests_dir=empty_tests_dir)
    assert problems == [
        "wav2vec2_copy: generation 'wav2vec2' needs test_wav2vec2_parity.py, which does not exist"
    ]


def test_absent_shared_data_skips_locally_but_fails_in_ci(monkeypatch):
    """A clone without ../shared skips the parity tests; CI (CI=true) must fail them instead."""
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="fixtures not found"):
        skip_or_fail_in_ci("fairseq fixtures not found at /nowhere")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"fixtures not found at /nowhere\. CI=true"):
        skip_or_fail_in_ci("fairseq fixtures not found at /nowhere")
