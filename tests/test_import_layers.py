"""Import contracts between the package's layers (issue 22): data flows one way.

Every ``import`` / ``from ... import`` in a layer's modules, at module level or inside functions, is
read with ``ast`` (nothing is imported), and imports of forbidden wav2vec_hf sub-packages are listed.

* models import nothing but models (no data, training, inference, decoding or CLI code);
* data imports no models, training, decoding, inference, Hub or CLI code;
* decoding imports no training, inference, Hub or CLI code (inference sits on decoding);
* pretraining and fine-tuning import no Hub or CLI code (the ``pretrain`` / ``finetune`` commands wire
  the Hub publishers);
* nothing in the library imports the recipes layer (``wav2vec_hf.recipes``: the demo, the built-in
  corpus, the FSDD and self-training recipes); only the command line and ``python -m`` reach it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "wav2vec_hf"
RECIPES = {"recipes"}
TRAINING = {"finetuning", "pretraining", "selftraining"} | RECIPES
CLI = {"cli", "commands", "cli_config", "cli_help", "cli_options", "cli_messages"}
LIBRARY = ("finetuning", "selftraining", "inference", "hub", "convert")

CONTRACTS = {
    "models": {"only": {"models"}},
    "data": {"forbidden": {"models", "decoding", "inference", "hub", "convert"} | TRAINING | CLI},
    "decoding": {"forbidden": {"hub", "inference"} | TRAINING | CLI},
    "pretraining": {"forbidden": {"hub"} | RECIPES | CLI},
    "finetuning": {"forbidden": {"hub"} | RECIPES | CLI},
    **{layer: {"forbidden": RECIPES | CLI} for layer in LIBRARY if layer != "finetuning"},
}


def _imported_subpackages(path: Path) -> list[tuple[int, str]]:
    """(line, first name after ``wav2vec_hf.``) of every wav2vec_hf import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "wav2vec_hf" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def _violations(layer: str) -> list[str]:
    contract = CONTRACTS[layer]
    bad = []
    paths = (PACKAGE / layer).rglob("*.py") if (PACKAGE / layer).is_dir() else [PACKAGE / f"{layer}.py"]
    for path in sorted(paths):
        for line, target in _imported_subpackages(path):
            allowed = (
                target in contract["only"] if "only" in contract else target not in contract["forbidden"]
            )
            if not allowed:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports wav2vec_hf.{target}")
    return bad


@pytest.mark.parametrize("layer", sorted(CONTRACTS))
def test_layer_imports_follow_the_data_flow(layer):
    assert (PACKAGE / layer).is_dir()
    assert _violations(layer) == []


def test_only_the_command_line_imports_the_recipes():
    """Every module outside ``recipes/`` that imports it is a command (or the CLI itself)."""
    importers = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "recipes":
            continue
        if any(target == "recipes" for _, target in _imported_subpackages(path)):
            importers.add(relative.parts[0].removesuffix(".py"))
    assert importers <= CLI, importers
    assert importers, "the demo and corpus commands should reach the recipes"


def test_the_checker_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "module.py"
    module.write_text(
        "import os\n\ndef f():\n    from wav2vec_hf.finetuning.models import x\n    import wav2vec_hf.hub\n"
    )
    assert _imported_subpackages(module) == [(4, "finetuning"), (5, "hub")]
