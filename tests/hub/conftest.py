"""Fixtures of the hub tests: the tiny folders of every kind, and the Hub client switched online."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.hub.folders import build_all

FAKE_TOKEN = "hf_FAKEtokenForTestsOnly0123456789abcdef"


@pytest.fixture(scope="session")
def hub_folders(tmp_path_factory) -> dict[str, Path]:
    """kind -> a tiny save_pretrained folder of that kind (read-only by convention: copy to change)."""
    return build_all(tmp_path_factory.mktemp("hub-folders"))


@pytest.fixture
def copy_folder(hub_folders, tmp_path):
    """``copy_folder(kind)`` -> a private copy of that fixture folder, free to modify."""

    copies = iter(range(1_000))

    def copy(kind: str) -> Path:
        return Path(shutil.copytree(hub_folders[kind], tmp_path / f"copy-{next(copies)}" / kind))

    return copy


@pytest.fixture
def hub_client_online(monkeypatch):
    """Let huggingface_hub send requests (the suite runs with HF_HUB_OFFLINE=1), to loopback only.

    huggingface_hub reads HF_HUB_OFFLINE once, at import, into ``constants.HF_HUB_OFFLINE``; that
    constant is what its HTTP layer checks, so patching it (restored after the test) is enough.
    """
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    yield
