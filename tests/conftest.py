"""Shared test fixtures: the ../shared folder (real speech, fairseq fixtures), offline hub settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WAV2VEC_HF_SHARED", REPO_ROOT.parent / "shared"))
REAL_DATA = SHARED / "data" / "real"
FAIRSEQ_FIXTURES = Path(os.environ.get("WAV2VEC_HF_FAIRSEQ_FIXTURES", SHARED / "fixtures" / "fairseq"))


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """``../shared/data/real``: real speech with transcripts. Skips where it is absent (a user's clone)."""
    if not (REAL_DATA / "manifest.tsv").is_file():
        pytest.skip(f"real speech set not found at {REAL_DATA} (set WAV2VEC_HF_SHARED to the shared folder)")
    return REAL_DATA


@pytest.fixture(scope="session")
def fairseq_fixtures_dir() -> Path:
    """The fairseq parity fixtures folder. Skips where it is absent (a user's clone)."""
    if not FAIRSEQ_FIXTURES.is_dir():
        pytest.skip(f"fairseq fixtures not found at {FAIRSEQ_FIXTURES} (set WAV2VEC_HF_FAIRSEQ_FIXTURES)")
    return FAIRSEQ_FIXTURES
