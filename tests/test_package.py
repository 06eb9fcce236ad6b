"""Importing the package registers our model types with transformers' Auto classes."""

import subprocess
import sys


def test_import_registers_auto_classes(tmp_path):
    code = (
        "import wav2vec_hf\n"
        "from transformers import AutoConfig, AutoModel\n"
        "from wav2vec_hf.presets import get_preset\n"
        "config = get_preset('vq-wav2vec-gumbel-tiny')\n"
        "model = AutoModel.from_config(config)\n"
        f"model.save_pretrained({str(tmp_path)!r})\n"
        f"loaded = AutoModel.from_pretrained({str(tmp_path)!r})\n"
        "print(type(AutoConfig.for_model('wav2vec')).__name__, type(loaded).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Wav2VecConfig", "VQWav2VecModel"]
