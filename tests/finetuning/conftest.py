"""Session fixtures of the fine-tuning tests (built once, shared with tests/inference through ``fixtures``)."""

from __future__ import annotations

import pytest

from tests.finetuning import fixtures


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory):
    """One folder for the session's shared models and corpus."""
    folder = tmp_path_factory.getbasetemp() / "wav2vec-hf-shared"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def escape_run(session_dir):
    """The default recipe on the tiny wav2vec 2.0 (see ``fixtures.escape_run``)."""
    return fixtures.escape_run(session_dir)
