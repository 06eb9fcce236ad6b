"""A fine-tuned wav2vec / vq-wav2vec folder works for people without wav2vec_hf (Hub remote code)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import soundfile as sf

_SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, os, sys
    sys.path[:] = [p for p in sys.path if not os.path.isdir(os.path.join(p or os.getcwd(), "wav2vec_hf"))]
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f) and "wav2vec_hf" not in repr(f)]
    assert importlib.util.find_spec("wav2vec_hf") is None, "wav2vec_hf is still importable"
    import numpy as np, soundfile as sf
    from transformers import pipeline
    asr = pipeline("automatic-speech-recognition", model=sys.argv[1], trust_remote_code=True)
    audio, rate = sf.read(sys.argv[2], dtype="float32")
    text = asr({"raw": audio, "sampling_rate": rate})["text"]
    print(json.dumps({"model": type(asr.model).__module__ + "." + type(asr.model).__name__, "text": text,
                      "pipeline": type(asr).__name__}))
    """
)


def test_ctc_folder_runs_in_the_stock_pipeline_without_the_package(ctc_folders, escape_run, tmp_path):
    from transformers import pipeline

    folder = ctc_folders["vq-wav2vec"]
    wav = next((escape_run.corpus / "audio" / "dev").glob("*.wav"))
    audio, rate = sf.read(wav, dtype="float32")
    expected = pipeline("automatic-speech-recognition", model=str(folder))(
        {"raw": audio, "sampling_rate": rate}
    )

    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "WAV2VEC_HF"))
    }
    environment |= {
        "HF_HUB_OFFLINE": "1",
        "HF_MODULES_CACHE": str(tmp_path / "modules"),
        "OMP_NUM_THREADS": "1",
    }
    result = subprocess.run(
        [sys.executable, "-I", "-c", _SCRIPT, str(folder), str(wav)],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["model"].startswith("transformers_modules.") and report["model"].endswith(
        ".VQWav2VecForCTC"
    )
    assert (
        report["pipeline"] == "AutomaticSpeechRecognitionPipeline"
    )  # the stock class, no ffmpeg needed for arrays
    assert report["text"] == expected["text"]
    assert np.isfinite(len(report["text"]))
