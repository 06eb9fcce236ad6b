"""LM decoding as transformers v6 will have it: no ``Wav2Vec2ProcessorWithLM``, no pyctcdecode.

A subprocess removes both before anything uses them (the stock class from transformers' lazy module
tables, as if it had never been declared; pyctcdecode from the import system), then loads our folder
and a stock-named copy through ``AutoProcessor`` and ``pipeline``. Both must decode with the LM,
with the package's decoder and the folder's weights, and log no deprecation.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from tests.decoding.support import make_model_folder, write_grammar_lm
from wav2vec_hf.decoding.language_model import FusionWeights
from wav2vec_hf.decoding.processor import attach_language_model

SCRIPT = textwrap.dedent(
    """
    import json, sys
    sys.modules["pyctcdecode"] = None  # any import of it fails
    sys.modules["transformers.models.wav2vec2_with_lm"] = None
    import transformers
    import transformers.models.auto.processing_auto, transformers.pipelines  # these swap sys.modules' entry
    for module in {id(m): m for m in (transformers, sys.modules["transformers"])}.values():
        module._class_to_module.pop("Wav2Vec2ProcessorWithLM", None)
        module.__all__ = [n for n in module.__all__ if n != "Wav2Vec2ProcessorWithLM"]
        assert not hasattr(module, "Wav2Vec2ProcessorWithLM")

    import numpy as np
    import torch
    from transformers import AutoProcessor, pipeline
    import wav2vec_hf  # registers the Auto classes now that transformers is imported
    from wav2vec_hf.decoding.processor import CTCProcessorWithLanguageModel
    from wav2vec_hf.inference.pipeline import SpeechRecognitionPipeline

    ours_dir, stock_dir = sys.argv[1], sys.argv[2]
    audio = np.random.default_rng(0).normal(0, 0.1, 32000).astype(np.float32)
    result = {}
    for name, folder, extra in (
        ("ours", ours_dir, {}),
        ("stock", stock_dir, {"pipeline_class": SpeechRecognitionPipeline}),
    ):
        processor = AutoProcessor.from_pretrained(folder)
        asr = pipeline("automatic-speech-recognition", model=folder, **extra)
        with torch.no_grad():
            features = processor(audio=audio, sampling_rate=16000, return_tensors="pt")
            logits = asr.model(**features).logits[0].numpy()
        result[name] = {
            "processor": type(processor).__name__,
            "is_ours": isinstance(processor, CTCProcessorWithLanguageModel),
            "alpha": processor.language_model.weights.alpha,
            "pipeline_type": asr.type,
            "decoder": type(asr.decoder).__name__,
            "text": asr(audio)["text"],
            "processor_text": processor.decode(logits).text,
            "unigrams": sorted(processor.language_model.unigrams),
        }
    result["pyctcdecode_imported"] = sys.modules.get("pyctcdecode") is not None
    print(json.dumps(result))
    """
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("v6")
    (root / "lm").mkdir()
    write_grammar_lm(root / "lm", order=3, sentences=2000)
    ours = root / "ours"
    make_model_folder(ours)
    attach_language_model(ours, root / "lm", weights=FusionWeights(alpha=0.7, beta=1.1))
    stock = root / "stock_named"
    shutil.copytree(ours, stock)
    for name in ("processor_config.json", "tokenizer_config.json"):
        path = stock / name
        path.write_text(path.read_text().replace("CTCProcessorWithLanguageModel", "Wav2Vec2ProcessorWithLM"))
    return ours, stock


def test_autoprocessor_and_pipeline_decode_with_the_lm_without_the_deprecated_class(folders):
    ours, stock = folders
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "warning"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ours), str(stock)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["pyctcdecode_imported"] is False
    assert result["ours"]["processor"] == "CTCProcessorWithLanguageModel"
    assert result["stock"]["processor"] == "Wav2Vec2ProcessorWithLM"  # our stand-in under the stock name
    for name in ("ours", "stock"):
        run = result[name]
        assert run["is_ours"] and run["alpha"] == 0.7
        assert run["pipeline_type"] == "ctc_with_lm" and run["decoder"] == "CTCBeamSearchDecoder"
        assert run["text"] == run["processor_text"]
        assert run["text"] and set(run["text"].split()) <= set(run["unigrams"])  # LM words, not letters
    # Our folder never sends transformers' loader to pyctcdecode: nothing deprecated, no greedy fallback.
    assert "deprecated" not in done.stderr.split("stock_named")[0]
    assert "falls back to greedy" not in done.stderr.split("stock_named")[0]
