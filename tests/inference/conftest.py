"""Session fixtures of the inference tests (the same cached models as tests/finetuning, see ``fixtures``)."""

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


@pytest.fixture(scope="session")
def ctc_folders(session_dir, escape_run):
    """A fine-tuned CTC folder of each generation: wav2vec2 (the escape run), wav2vec, vq-wav2vec."""
    return {
        "wav2vec2": escape_run.result.output_dir,
        "wav2vec": fixtures.quick_finetune(session_dir, "wav2vec"),
        "vq-wav2vec": fixtures.quick_finetune(session_dir, "vq-wav2vec"),
    }
