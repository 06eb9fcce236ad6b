"""The installed environment imports the whole stack together (numpy 2 + pyarrow + pyctcdecode)."""

import importlib
import subprocess
import sys

import pytest

STACK = [
    "torch",
    "transformers",
    "datasets",
    "pyarrow",
    "accelerate",
    "evaluate",
    "pyctcdecode",
    "kenlm",
    "soundfile",
    "huggingface_hub",
]


def test_whole_stack_imports_in_one_process():
    code = "import " + ", ".join(STACK) + "; import numpy; print(numpy.__version__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    major = int(result.stdout.strip().split(".")[0])
    assert major >= 2, "numpy was downgraded below 2: pyarrow/datasets would break"


@pytest.mark.parametrize("name", STACK)
def test_each_module_imports(name):
    importlib.import_module(name)


def test_datasets_round_trips_an_arrow_table(tmp_path):
    import datasets

    ds = datasets.Dataset.from_dict({"path": ["a.wav", "b.wav"], "n": [1, 2]})
    ds.save_to_disk(str(tmp_path / "ds"))
    assert datasets.load_from_disk(str(tmp_path / "ds"))["n"] == [1, 2]


def test_pyctcdecode_decodes_with_numpy2():
    import numpy as np
    from pyctcdecode import build_ctcdecoder

    decoder = build_ctcdecoder(["", "a", "b", " "])
    logits = np.full((6, 4), -10.0, dtype=np.float32)
    for t, token in enumerate([1, 1, 0, 2, 3, 1]):
        logits[t, token] = 0.0
    assert decoder.decode(logits) == "ab a"
