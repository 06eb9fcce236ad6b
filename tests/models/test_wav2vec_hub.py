"""save_pretrained / from_pretrained, the Auto classes, and loading as Hub remote code without wav2vec_hf."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel, AutoModelForPreTraining

from wav2vec_hf.models import register_auto_classes
from wav2vec_hf.models.wav2vec import (
    VQWav2VecConfig,
    VQWav2VecForPreTraining,
    VQWav2VecModel,
    Wav2VecForPreTraining,
    Wav2VecModel,
)
from wav2vec_hf.presets import get_preset


def _pretraining_model(name: str) -> Wav2VecForPreTraining:
    torch.manual_seed(0)
    config = get_preset(name)
    model_class = VQWav2VecForPreTraining if isinstance(config, VQWav2VecConfig) else Wav2VecForPreTraining
    return model_class(config).eval()


@pytest.mark.parametrize("name", ["wav2vec-tiny", "vq-wav2vec-gumbel-tiny", "vq-wav2vec-kmeans-tiny"])
def test_save_and_load_round_trip_is_bit_exact(name, tmp_path):
    model = _pretraining_model(name)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    saved = load_file(tmp_path / "model.safetensors")
    assert set(saved) == set(model.state_dict())
    reloaded = type(model).from_pretrained(tmp_path).eval()
    without_path = lambda config: {k: v for k, v in config.to_dict().items() if k != "_name_or_path"}  # noqa: E731
    assert without_path(reloaded.config) == without_path(model.config)
    for key, value in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], value), key
    audio = torch.randn(1, 4000)
    negatives = model(audio).negative_indices
    first, second = model(audio, negative_indices=negatives), reloaded(audio, negative_indices=negatives)
    assert torch.equal(first.loss, second.loss) and torch.equal(first.context, second.context)


def test_auto_classes_resolve_both_model_types(tmp_path):
    register_auto_classes()
    register_auto_classes()  # idempotent
    for name, config_class, base_class, head_class in [
        ("wav2vec-tiny", "Wav2VecConfig", Wav2VecModel, Wav2VecForPreTraining),
        ("vq-wav2vec-kmeans-tiny", "VQWav2VecConfig", VQWav2VecModel, VQWav2VecForPreTraining),
    ]:
        folder = tmp_path / name
        model = _pretraining_model(name)
        model.save_pretrained(folder)
        config = AutoConfig.from_pretrained(folder)
        assert type(config).__name__ == config_class
        # the library is installed and registered: its own classes are used, not the copied files
        base = AutoModel.from_pretrained(folder)
        assert type(base) is base_class
        head = AutoModelForPreTraining.from_pretrained(folder)
        assert type(head) is head_class
        assert torch.equal(base.feature_extractor.conv_layers[0].conv.weight, model.wav2vec.feature_extractor.conv_layers[0].conv.weight)  # fmt: skip
        assert type(AutoModel.from_config(get_preset(name))) is base_class


_REMOTE_SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, os, sys
    # Hide wav2vec_hf: drop every path entry that holds the package and any editable-install finder.
    sys.path[:] = [p for p in sys.path if not os.path.isdir(os.path.join(p or os.getcwd(), "wav2vec_hf"))]
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f) and "wav2vec_hf" not in repr(f)]
    assert importlib.util.find_spec("wav2vec_hf") is None, "wav2vec_hf is still importable"
    try:
        import wav2vec_hf  # noqa: F401
    except ImportError:
        pass
    else:
        raise AssertionError("import wav2vec_hf worked")
    import torch
    from transformers import AutoModel, AutoModelForPreTraining
    folder = sys.argv[1]
    audio = torch.load(os.path.join(folder, "audio.pt"))
    base = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    head = AutoModelForPreTraining.from_pretrained(folder, trust_remote_code=True).eval()
    with torch.no_grad():
        out = base(audio)
        codes = base.quantize(audio)
        loss = head(audio, negative_indices=torch.load(os.path.join(folder, "negatives.pt"))).loss
    torch.save({"context": out.context, "codes": codes, "loss": loss}, os.path.join(folder, "remote.pt"))
    print(json.dumps({
        "base": type(base).__module__ + "." + type(base).__name__,
        "head": type(head).__name__,
        "wav2vec_hf_loaded": [m for m in sys.modules if m.startswith("wav2vec_hf")],
    }))
    """
)


def test_saved_folder_loads_as_remote_code_without_the_package(tmp_path):
    model = _pretraining_model("vq-wav2vec-gumbel-tiny")
    folder = tmp_path / "model"
    model.save_pretrained(folder)
    assert {"modeling_wav2vec.py", "configuration_wav2vec.py"} <= set(os.listdir(folder))
    auto_map = json.loads((folder / "config.json").read_text())["auto_map"]
    assert auto_map == {
        "AutoConfig": "configuration_wav2vec.VQWav2VecConfig",
        "AutoModel": "modeling_wav2vec.VQWav2VecModel",
        "AutoModelForPreTraining": "modeling_wav2vec.VQWav2VecForPreTraining",
    }
    audio = torch.randn(1, 4000)
    with torch.no_grad():
        expected = model(audio)
    torch.save(audio, folder / "audio.pt")
    torch.save(expected.negative_indices, folder / "negatives.pt")

    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "WAV2VEC_HF"))
    }
    environment |= {
        "HF_HUB_OFFLINE": "1",
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
        "OMP_NUM_THREADS": "1",
    }
    result = subprocess.run(
        [sys.executable, "-I", "-c", _REMOTE_SCRIPT, str(folder)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["base"].startswith("transformers_modules.") and report["base"].endswith(".VQWav2VecModel")
    assert report["head"] == "VQWav2VecForPreTraining"
    assert report["wav2vec_hf_loaded"] == []
    remote = torch.load(folder / "remote.pt")
    assert torch.equal(remote["context"], expected.context)
    assert torch.equal(remote["codes"], expected.codevector_indices)
    assert torch.equal(remote["loss"], expected.loss)


def test_modeling_folder_imports_only_torch_transformers_and_itself():
    import ast
    from pathlib import Path

    import wav2vec_hf.models.wav2vec as package

    for path in Path(package.__file__).parent.glob("*_wav2vec.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level > 0:
                    assert node.module in ("configuration_wav2vec",), (
                        f"{path.name}: relative import {node.module}"
                    )
                    continue
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= {"torch", "transformers", "math", "dataclasses", "__future__"}, (
                f"{path.name}: {roots}"
            )
