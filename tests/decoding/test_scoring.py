"""Logits of a data set from a model loaded once, and the one scorer of greedy / LM error rates."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import soundfile
from transformers import AutoFeatureExtractor, AutoModelForCTC, Wav2Vec2Processor

from tests.decoding.support import LABELS, emissions, make_model_folder, write_grammar_lm
from wav2vec_hf.decoding.decoder import greedy_decode
from wav2vec_hf.decoding.inference import dataset_logits, load_model, logits_of
from wav2vec_hf.decoding.processor import CTCProcessorWithLanguageModel
from wav2vec_hf.decoding.scoring import greedy_transcripts, model_references, score_logits
from wav2vec_hf.error_rates import character_error_rate, word_error_rate

TRANSCRIPTS = ["ONE TWO", "", "three  four", "FIVE", "SIX SEVEN EIGHT"]  # "" = unlabelled
SECONDS = [0.9, 0.5, 1.7, 0.3, 1.2]


@pytest.fixture(scope="module")
def model_and_table(tmp_path_factory):
    """(tiny group-norm wav2vec 2.0 CTC folder, transcript table of 5 noise clips, 4 labelled)."""
    root = tmp_path_factory.mktemp("scoring")
    make_model_folder(root / "model")
    rng = np.random.default_rng(0)
    rows = ["path\ttranscript"]
    for index, (text, seconds) in enumerate(zip(TRANSCRIPTS, SECONDS)):
        soundfile.write(root / f"{index}.wav", 0.1 * rng.standard_normal(int(16000 * seconds)), 16000)
        rows.append(f"{index}.wav\t{text}")
    (root / "table.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root / "model", root / "table.tsv"


def test_batched_logits_equal_each_utterance_alone_in_data_order(model_and_table, tmp_path):
    folder, table = model_and_table
    model = load_model(folder)
    extractor = AutoFeatureExtractor.from_pretrained(str(folder))
    assert model.config.feat_extract_norm == "group" and extractor.return_attention_mask  # padding matters
    batched = logits_of(model, extractor, table)  # one padded batch
    alone = logits_of(model, extractor, table, batch_seconds=0.0)  # one utterance per forward pass
    labelled = [" ".join(t.split()) for t in TRANSCRIPTS if t]  # the loader single-spaces words
    assert batched.references == labelled  # unlabelled row left out, order kept
    assert batched.seconds == pytest.approx([s for s, t in zip(SECONDS, TRANSCRIPTS) if t])
    for x, y in zip(batched.logits, alone.logits):
        assert x.shape == y.shape
        np.testing.assert_allclose(x, y, atol=1e-4)
    assert len({x.shape[0] for x in batched.logits}) == 4  # unpadded: each utterance its own frames

    everything = logits_of(model, extractor, table, labelled_only=False)
    assert [r.transcript for r in everything.records] == [" ".join(t.split()) or None for t in TRANSCRIPTS]
    np.testing.assert_allclose(everything.logits[2], batched.logits[1], atol=1e-4)
    unlabelled = tmp_path / "unlabelled.tsv"
    unlabelled.write_text(f"path\ttranscript\n{everything.records[1].path}\t\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"unlabelled\.tsv: no utterance has a transcript"):
        logits_of(model, extractor, unlabelled)


def test_evaluate_loads_the_model_once_and_scores_every_set(model_and_table, monkeypatch, tmp_path):
    from wav2vec_hf.commands.evaluate import evaluate_sets

    folder, table = model_and_table
    second = tmp_path / "second.tsv"
    second.write_text(
        "path\ttranscript\n" + "".join(f"{table.parent / f'{i}.wav'}\tNINE\n" for i in (3, 0)),
        encoding="utf-8",
    )
    loads = []
    original = AutoModelForCTC.from_pretrained.__func__

    def counting(cls, *args, **kwargs):
        loads.append(args[0])
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(AutoModelForCTC, "from_pretrained", classmethod(counting))
    result = evaluate_sets(str(folder), [str(table), str(second)])
    assert loads == [str(folder)]  # once for both sets
    assert result["lm"] is None
    vocabulary = Wav2Vec2Processor.from_pretrained(str(folder)).tokenizer.get_vocab()
    for source, utterances in ((table, 4), (second, 2)):
        data = dataset_logits(folder, source)
        references = model_references(data.references, folder, vocabulary)
        hypotheses = [greedy_decode(x, LABELS) for x in data.logits]
        scores = result["sets"][str(source)]
        assert scores["utterances"] == utterances and scores["wer_lm"] is None and scores["cer_lm"] is None
        assert scores["minutes"] == pytest.approx(sum(data.seconds) / 60)
        assert scores["wer_greedy"] == pytest.approx(word_error_rate(references, hypotheses))
        assert scores["cer_greedy"] == pytest.approx(character_error_rate(references, hypotheses))
    assert result["sets"][str(table)]["cer_greedy"] > 0  # an untrained model: real, non-zero errors


def test_score_logits_counts_greedy_and_lm_errors_at_the_given_weights(tmp_path):
    from tests.decoding.support import dev_sentences, lm_sentences

    references = dev_sentences(6, exclude=lm_sentences(4000))
    logits = emissions(references, seed=3, noise=1.5, peak=8.0)
    lm_path, _ = write_grammar_lm(tmp_path)
    make_model_folder(tmp_path / "model")
    lm = CTCProcessorWithLanguageModel.from_processor(
        Wav2Vec2Processor.from_pretrained(str(tmp_path / "model")), lm_path
    )
    greedy = partial(greedy_transcripts, labels=LABELS)

    alone = score_logits(logits, references, greedy)
    best_path = [greedy_decode(x, LABELS) for x in logits]
    assert alone == {
        "wer_greedy": pytest.approx(word_error_rate(references, best_path)),
        "cer_greedy": pytest.approx(character_error_rate(references, best_path)),
        "wer_lm": None,
        "cer_lm": None,
    }
    assert alone["cer_greedy"] > 0  # the emissions are noisy enough to mislead best path

    for alpha, beta in ((0.0, 0.0), (1.5, 1.0)):
        scores = score_logits(logits, references, greedy, lm, alpha=alpha, beta=beta, beam_width=8)
        decoded = lm.batch_decode(logits, alpha=alpha, beta=beta, beam_width=8).text
        assert scores["wer_greedy"] == alone["wer_greedy"]
        assert scores["wer_lm"] == pytest.approx(word_error_rate(references, decoded))
        assert scores["cer_lm"] == pytest.approx(character_error_rate(references, decoded))


def test_audio_is_loaded_one_batch_at_a_time(model_and_table, monkeypatch):
    """Pseudo-labelling runs over hours of audio: a batch's audio is read only when that batch runs."""
    from wav2vec_hf.data import open_audio_source
    from wav2vec_hf.decoding import logits as inference_logits

    folder, table = model_and_table
    model = load_model(folder)
    extractor = AutoFeatureExtractor.from_pretrained(str(folder))
    audio = open_audio_source(table)
    events: list[str] = []
    load, run = audio.load, inference_logits.ctc_logits
    monkeypatch.setattr(audio, "load", lambda i, **kw: events.append("load") or load(i, **kw))
    monkeypatch.setattr(inference_logits, "ctc_logits", lambda *a: events.append("run") or run(*a))
    logits_of(model, extractor, audio, labelled_only=False, batch_seconds=2.0)
    # 0.3 + 0.5 s, 0.9 s, 1.2 s, 1.7 s: no batch of two longer ones fits in 2 s
    assert events == ["load", "load", "run", "load", "run", "load", "run", "load", "run"]
