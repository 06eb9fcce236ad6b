"""Shared test fixtures: the ../shared folder (real speech, fairseq fixtures), offline hub settings."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import NoReturn

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Validation's file-facts cache (data.file_facts) stays on, as for users, in a folder of this session
# (inherited by the commands the tests run): nothing is read from or left in ~/.cache.
os.environ.setdefault("WAV2VEC_HF_VALIDATION_CACHE", tempfile.mkdtemp(prefix="wav2vec-hf-validation-cache-"))

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WAV2VEC_HF_SHARED", REPO_ROOT.parent / "shared"))
REAL_DATA = SHARED / "data" / "real"
FAIRSEQ_FIXTURES = Path(os.environ.get("WAV2VEC_HF_FAIRSEQ_FIXTURES", SHARED / "fixtures" / "fairseq"))


FULL_RECIPES = os.environ.get("WAV2VEC_HF_FULL_RECIPES", "").strip().lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config, items) -> None:
    """``full_recipe`` tests (a documented recipe at its full size, its table in docs/) run only with
    ``WAV2VEC_HF_FULL_RECIPES=1``; CI checks the same mechanism at reduced size in other tests."""
    if FULL_RECIPES:
        return
    skip = pytest.mark.skip(reason="a full-size recipe: set WAV2VEC_HF_FULL_RECIPES=1 to run it")
    for item in items:
        if "full_recipe" in item.keywords:
            item.add_marker(skip)


def running_in_ci() -> bool:
    """True under a CI service (``CI=true``, as GitHub Actions, GitLab CI and most others set it)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_or_fail_in_ci(message: str) -> NoReturn:
    """Skip a test whose shared data is absent (a user's clone), but FAIL under CI.

    CI must run the parity tests: there a missing ../shared folder is a broken setup, and skipping
    would let every parity test "pass" without comparing anything.
    """
    if running_in_ci():
        pytest.fail(
            f"{message}. CI=true: the shared data must be present in CI, so this fails instead of skipping.",
            pytrace=False,
        )
    pytest.skip(message)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """``../shared/data/real``: real speech with transcripts. Skips where it is absent (a user's clone), fails in CI."""
    if not (REAL_DATA / "manifest.tsv").is_file():
        skip_or_fail_in_ci(
            f"real speech set not found at {REAL_DATA} (set WAV2VEC_HF_SHARED to the shared folder)"
        )
    return REAL_DATA


@pytest.fixture(scope="session")
def fairseq_fixtures_dir() -> Path:
    """The fairseq parity fixtures folder. Skips where it is absent (a user's clone), fails in CI."""
    if not FAIRSEQ_FIXTURES.is_dir():
        skip_or_fail_in_ci(
            f"fairseq fixtures not found at {FAIRSEQ_FIXTURES} (set WAV2VEC_HF_FAIRSEQ_FIXTURES)"
        )
    return FAIRSEQ_FIXTURES
