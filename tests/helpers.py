"""Helpers shared by test modules (import as ``from tests.helpers import ...``)."""

from __future__ import annotations

import ast
import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FAIRSEQ_FIXTURES


def fairseq_fixture_folders() -> list[Path]:
    """Every fixture folder (one holding ``model.pt``) under ``$WAV2VEC_HF_FAIRSEQ_FIXTURES``."""
    if not FAIRSEQ_FIXTURES.is_dir():
        return []
    return sorted(p.parent for p in FAIRSEQ_FIXTURES.glob("*/model.pt"))


def fixture_folder_params(folders: list[Path]) -> list[Any]:
    """``parametrize`` values for a test run once per fixture folder.

    With no folder, one placeholder (``None``, id ``no-fixtures``) instead of an empty list: pytest
    skips an empty parameter set silently, while the placeholder runs the test, whose
    ``fairseq_fixtures_dir`` fixture then skips (a user's clone) or fails (CI), and which must
    ``pytest.fail`` on ``None`` when the fixtures folder exists but holds no folder of its kind.
    """
    if not folders:
        return [pytest.param(None, id="no-fixtures")]
    return [pytest.param(folder, id=folder.name) for folder in folders]


def fairseq_fixture_config(folder: Path) -> dict[str, Any]:
    """A fixture folder's ``config.json``: the exact fairseq config (``namespace`` for wav2vec 1.0 /
    vq-wav2vec, ``model_cfg`` and ``task_cfg`` for wav2vec 2.0), ``num_updates``, the seed..."""
    return json.loads((folder / "config.json").read_text())


def fairseq_layer_spec(text: str) -> list[tuple[int, ...]]:
    """A fairseq layer-spec expression (``"[(64, 10, 5)] + [(64, 3, 2)] * 4"``) as a list of tuples.

    The tests' own small evaluator (number, tuple and list literals, ``+``, ``*``), independent of
    the converter's parser, so that expected sizes do not come from the code under test.
    """

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.List):
            return [value(item) for item in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(value(item) for item in node.elts)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = value(node.left), value(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(f"not a fairseq layer spec: {text!r}")

    return [tuple(layer) for layer in value(ast.parse(text, mode="eval").body)]


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


def levenshtein(a, b) -> int:
    """Plain O(nm) edit distance with unit costs over two sequences: the definition the error-rate code
    promises, for tests to compare against."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[:], i
        for j, y in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y))
    return row[-1]
