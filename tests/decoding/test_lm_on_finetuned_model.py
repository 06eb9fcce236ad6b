"""The LM decoder on a real fine-tuned model: the user's commands end to end on the built-in corpus.

``build-lm --attach`` then ``tune-lm`` on the tiny wav2vec 2.0 fine-tuned by the escape-run fixture
(CI-sized: dev CER ~0.8, greedy WER 1.0). The weights are tuned on dev and judged on the held-out
test speakers. At this quality an LM can only rescue a few words and costs characters elsewhere
(it commits to whole words), which is what the assertions check; the demo measures the same on a
longer-trained model.
"""

from __future__ import annotations

import json
import shutil

import pytest
from transformers import pipeline

from tests.finetuning import fixtures
from wav2vec_hf.cli import main
from wav2vec_hf.data import open_audio_source
from wav2vec_hf.decoding.decoder import greedy_decode
from wav2vec_hf.decoding.inference import dataset_logits
from wav2vec_hf.decoding.lm_text import lm_text_normalizer
from wav2vec_hf.decoding.processor import CTCProcessorWithLanguageModel
from wav2vec_hf.error_rates import character_error_rate, word_error_rate


@pytest.fixture(scope="module")
def model_with_lm(tmp_path_factory):
    """(folder with a tuned 4-gram LM attached, corpus folder, tune-lm output)."""
    shared = tmp_path_factory.getbasetemp() / "wav2vec-hf-shared"  # the fine-tuning tests' session folder
    shared.mkdir(exist_ok=True)
    run = fixtures.escape_run(shared)
    folder = tmp_path_factory.mktemp("lm-model") / "model"
    shutil.copytree(run.result.output_dir, folder, ignore=shutil.ignore_patterns("checkpoint-*"))
    corpus = run.corpus
    assert main(["build-lm", "--text", str(corpus / "lm_text.txt"), "--order", "4",
                 "--out", str(folder.parent / "lm"), "--attach", str(folder)]) == 0  # fmt: skip
    return folder, corpus


def _scores(folder, table):
    processor = CTCProcessorWithLanguageModel.from_pretrained(folder)
    data = dataset_logits(folder, table)
    normalizer = lm_text_normalizer(processor.tokenizer.get_vocab())
    references = [normalizer.normalize(text) for text in data.references]
    greedy = [greedy_decode(logits, processor.decoder.labels) for logits in data.logits]
    with processor:
        with_lm = list(processor.batch_decode(data.logits).text)
    return references, greedy, with_lm


def test_tuned_lm_weights_beat_greedy_on_held_out_speakers(model_with_lm, capsys):
    folder, corpus = model_with_lm
    assert main(["tune-lm", "--model", str(folder), "--eval", str(corpus / "dev.tsv")]) == 0
    printed = capsys.readouterr().out
    assert "best: alpha=" in printed
    tuned = CTCProcessorWithLanguageModel.from_pretrained(folder).language_model.weights
    assert tuned.alpha > 0  # the LM earned a weight on dev

    references, greedy, with_lm = _scores(folder, corpus / "dev.tsv")
    assert word_error_rate(references, with_lm) < word_error_rate(references, greedy)  # dev, tuned there
    references, greedy, with_lm = _scores(folder, corpus / "test.tsv")
    greedy_wer, lm_wer = word_error_rate(references, greedy), word_error_rate(references, with_lm)
    print(f"test: greedy WER {greedy_wer:.3f}, LM WER {lm_wer:.3f} (alpha={tuned.alpha}, beta={tuned.beta})")
    assert lm_wer < greedy_wer
    vocabulary = set((corpus / "lm_text.txt").read_text().split())
    assert all(word in vocabulary for text in with_lm for word in text.split())  # words, not letter soup


def test_the_pipeline_decodes_with_the_attached_lm(model_with_lm):
    folder, corpus = model_with_lm
    test = open_audio_source(corpus / "test.tsv")
    path = str(test.records[0].path)
    _, _, with_lm = _scores(folder, corpus / "test.tsv")
    recogniser = pipeline("automatic-speech-recognition", model=str(folder))
    assert type(recogniser.decoder).__name__ == "CTCBeamSearchDecoder"  # the package's LM decoder
    assert recogniser(path)["text"].split() and set(recogniser(path)["text"].split()) <= set(
        (corpus / "lm_text.txt").read_text().split()
    )
    # One decoder: the pipeline writes what `evaluate` scores, with the same weights.
    paths = [str(record.path) for record in test.records[:8]]
    assert [out["text"] for out in recogniser(paths)] == with_lm[:8]


def test_evaluate_reports_greedy_and_lm_error_rates_per_set(model_with_lm, tmp_path, capsys):
    folder, corpus = model_with_lm
    out = tmp_path / "scores.json"
    sets = [str(corpus / "dev.tsv"), str(corpus / "test.tsv")]
    assert main(["evaluate", "--model", str(folder), "--data", *sets, "--json", str(out)]) == 0
    assert "| WER greedy |" in capsys.readouterr().out
    result = json.loads(out.read_text())
    weights = CTCProcessorWithLanguageModel.from_pretrained(folder).language_model.weights
    assert result["lm"] == {"alpha": weights.alpha, "beta": weights.beta}
    for table in sets:
        references, greedy, with_lm = _scores(folder, table)
        scores = result["sets"][table]
        assert scores["utterances"] == len(references)
        assert scores["wer_greedy"] == pytest.approx(word_error_rate(references, greedy))
        assert scores["cer_greedy"] == pytest.approx(character_error_rate(references, greedy))
        assert scores["wer_lm"] == pytest.approx(word_error_rate(references, with_lm))

    assert main(["evaluate", "--model", str(folder), "--data", sets[0], "--no-lm", "--json", str(out)]) == 0
    greedy_only = json.loads(out.read_text())
    assert greedy_only["lm"] is None and greedy_only["sets"][sets[0]]["wer_lm"] is None
    assert greedy_only["sets"][sets[0]]["wer_greedy"] == result["sets"][sets[0]]["wer_greedy"]


def test_evaluate_names_the_missing_model(tmp_path, capsys):
    assert main(["evaluate", "--model", str(tmp_path / "nowhere"), "--data", str(tmp_path)]) == 2
    assert "nowhere" in capsys.readouterr().err
