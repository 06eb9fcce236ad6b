"""Helpers shared by test modules (import as ``from tests.helpers import ...``)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from tests.conftest import FAIRSEQ_FIXTURES


def fairseq_fixture_folders() -> list[Path]:
    """Every fixture folder (one holding ``model.pt``) under ``$WAV2VEC_HF_FAIRSEQ_FIXTURES``."""
    if not FAIRSEQ_FIXTURES.is_dir():
        return []
    return sorted(p.parent for p in FAIRSEQ_FIXTURES.glob("*/model.pt"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun_command(processes: int) -> list[str]:
    """The start of a command line that launches ``processes`` local processes with torchrun."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
        "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
    ]  # fmt: skip
