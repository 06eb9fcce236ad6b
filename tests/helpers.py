"""Helpers shared by test modules (import as ``from tests.helpers import ...``)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import FAIRSEQ_FIXTURES


def fairseq_fixture_folders() -> list[Path]:
    """Every fixture folder (one holding ``model.pt``) under ``$WAV2VEC_HF_FAIRSEQ_FIXTURES``."""
    if not FAIRSEQ_FIXTURES.is_dir():
        return []
    return sorted(p.parent for p in FAIRSEQ_FIXTURES.glob("*/model.pt"))
