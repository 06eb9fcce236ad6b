"""The processor with LM: Hub layout both ways, AutoProcessor, stock pyctcdecode, pipeline, pools, bad input."""

from __future__ import annotations

import json
import multiprocessing
import shutil

import numpy as np
import pytest
import torch

from tests.decoding.support import (
    LABELS,
    VOCAB,
    dev_sentences,
    emissions,
    make_model_folder,
    write_grammar_lm,
)
from wav2vec_hf.decoding.alphabet import AlphabetError
from wav2vec_hf.decoding.decoder import DecodingError
from wav2vec_hf.decoding.language_model import FusionWeights, LanguageModelError
from wav2vec_hf.decoding.processor import (
    CTCProcessorWithLanguageModel,
    attach_language_model,
    write_fusion_weights,
)


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lm")
    write_grammar_lm(folder, order=3, sentences=3000)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, lm_dir):
    folder = tmp_path_factory.mktemp("model")
    make_model_folder(folder)
    attach_language_model(folder, lm_dir, weights=FusionWeights(alpha=0.6, beta=1.2))
    return folder


@pytest.fixture()
def fresh_copy(model_dir, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(model_dir, target)
    return target


def clean_logits(count: int, seed: int = 0) -> tuple[list[str], list[np.ndarray]]:
    """Transcripts and unambiguous emissions (every decoder should read them right)."""
    transcripts = dev_sentences(count, exclude=[])
    return transcripts, emissions(transcripts, seed=seed, ambiguity=0.0)


# ----------------------------------------------------------------------------------------------------
# Layout, round trip, stock compatibility
# ----------------------------------------------------------------------------------------------------


def test_saved_folder_has_the_hub_layout_and_round_trips(model_dir):
    names = {p.name for p in model_dir.iterdir()}
    assert {"alphabet.json", "language_model", "vocab.json", "processor_config.json", "config.json"} <= names
    lm_files = sorted(p.name for p in (model_dir / "language_model").iterdir())
    assert lm_files == ["3gram.arpa", "attrs.json", "unigrams.txt"]
    attrs = json.loads((model_dir / "language_model" / "attrs.json").read_text())
    assert attrs == {"alpha": 0.6, "beta": 1.2, "unk_score_offset": -10.0, "score_boundary": True}
    config = json.loads((model_dir / "processor_config.json").read_text())
    assert config["processor_class"] == "CTCProcessorWithLanguageModel"
    assert config["feature_extractor"]["processor_class"] == "CTCProcessorWithLanguageModel"
    tokenizer_config = json.loads((model_dir / "tokenizer_config.json").read_text())
    assert tokenizer_config["processor_class"] == "CTCProcessorWithLanguageModel"
    assert json.loads((model_dir / "alphabet.json").read_text()) == {"labels": LABELS, "is_bpe": False}

    processor = CTCProcessorWithLanguageModel.from_pretrained(model_dir)
    assert processor.language_model.weights == FusionWeights(0.6, 1.2, -10.0, True)
    transcripts, logits = clean_logits(4)
    out = processor.batch_decode(logits)
    assert out.text == transcripts
    resaved = model_dir.parent / "resaved"
    processor.save_pretrained(resaved)
    again = CTCProcessorWithLanguageModel.from_pretrained(resaved)
    assert again.batch_decode(logits).total_score == pytest.approx(out.total_score)


def test_autoprocessor_gives_ours_and_stock_pyctcdecode_still_reads_the_folder(model_dir):
    from pyctcdecode import BeamSearchDecoderCTC
    from transformers import AutoProcessor

    loaded = AutoProcessor.from_pretrained(str(model_dir))
    assert type(loaded) is CTCProcessorWithLanguageModel
    assert loaded.language_model.weights.alpha == 0.6
    transcripts, logits = clean_logits(3, seed=1)
    padded = np.full((3, max(x.shape[0] for x in logits), len(LABELS)), -100.0, dtype=np.float32)
    for i, x in enumerate(logits):
        padded[i, : x.shape[0]] = x
    assert loaded.batch_decode(padded).text == transcripts  # -100 rows are padding
    # The layout stays pyctcdecode's: the reference decoder reads our folder and agrees.
    reference = BeamSearchDecoderCTC.load_from_dir(str(model_dir))
    assert reference.model_container[reference._model_key].alpha == 0.6
    assert [reference.decode(x) for x in logits] == transcripts


def test_the_stock_class_name_still_resolves_to_transformers_class_while_it_ships_it():
    """Importing wav2vec_hf changes nothing for stock ``*-with-lm`` folders while transformers has the class
    (whether it then loads is transformers' business: 5.25's ``from_pretrained`` is broken)."""
    from transformers.models.auto.processing_auto import processor_class_from_name

    from wav2vec_hf.decoding.processor import transformers_ships_legacy_processor

    assert transformers_ships_legacy_processor()  # transformers 5 (the installed one)
    resolved = processor_class_from_name("Wav2Vec2ProcessorWithLM")
    assert resolved.__module__.startswith("transformers.")
    assert processor_class_from_name("CTCProcessorWithLanguageModel") is CTCProcessorWithLanguageModel


def test_stock_saved_folder_loads_in_ours(tmp_path, lm_dir):
    from pyctcdecode import build_ctcdecoder
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2ProcessorWithLM

    (tmp_path / "vocab.json").write_text(json.dumps(VOCAB), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), bos_token=None, eos_token=None)
    labels = [k for k, _ in sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])]
    unigrams = (lm_dir / "unigrams.txt").read_text().split()
    decoder = build_ctcdecoder(
        labels, kenlm_model_path=str(lm_dir / "3gram.arpa"), unigrams=unigrams, alpha=0.3, beta=2.0
    )
    stock = Wav2Vec2ProcessorWithLM(
        feature_extractor=Wav2Vec2FeatureExtractor(), tokenizer=tokenizer, decoder=decoder
    )
    stock.save_pretrained(str(tmp_path / "stock"))
    ours = CTCProcessorWithLanguageModel.from_pretrained(tmp_path / "stock")
    assert ours.language_model.weights == FusionWeights(0.3, 2.0, -10.0, True)
    assert ours.decoder.labels == LABELS
    transcripts, logits = clean_logits(3, seed=2)
    assert ours.batch_decode(logits).text == transcripts


def test_transformers_v4_style_folder_loads_in_ours(tmp_path, lm_dir):
    """The layout of older Hub repos: preprocessor_config.json, special_tokens_map.json."""
    folder = tmp_path / "v4"
    (folder / "language_model").mkdir(parents=True)
    (folder / "preprocessor_config.json").write_text(
        json.dumps(
            {
                "do_normalize": True,
                "feature_extractor_type": "Wav2Vec2FeatureExtractor",
                "feature_size": 1,
                "padding_side": "right",
                "padding_value": 0.0,
                "return_attention_mask": False,
                "sampling_rate": 16000,
                "processor_class": "Wav2Vec2ProcessorWithLM",
            }
        )
    )
    (folder / "vocab.json").write_text(json.dumps(VOCAB))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "unk_token": "<unk>",
                "pad_token": "<pad>",
                "word_delimiter_token": "|",
                "bos_token": None,
                "eos_token": None,
                "tokenizer_class": "Wav2Vec2CTCTokenizer",
                "processor_class": "Wav2Vec2ProcessorWithLM",
            }
        )
    )
    (folder / "special_tokens_map.json").write_text(json.dumps({"unk_token": "<unk>", "pad_token": "<pad>"}))
    (folder / "alphabet.json").write_text(json.dumps({"labels": LABELS, "is_bpe": False}))
    shutil.copy(lm_dir / "3gram.arpa", folder / "language_model" / "5gram.arpa")
    shutil.copy(lm_dir / "unigrams.txt", folder / "language_model" / "unigrams.txt")
    (folder / "language_model" / "attrs.json").write_text(
        json.dumps({"alpha": 0.5, "beta": 1.0, "unk_score_offset": -10.0, "score_boundary": True})
    )
    processor = CTCProcessorWithLanguageModel.from_pretrained(folder)
    assert processor.feature_extractor.return_attention_mask is False
    transcripts, logits = clean_logits(2, seed=3)
    assert processor.batch_decode(logits).text == transcripts


def test_pipeline_decodes_with_our_decoder_and_the_folders_weights(model_dir):
    from transformers import pipeline

    from wav2vec_hf.decoding.decoder import CTCBeamSearchDecoder

    asr = pipeline("automatic-speech-recognition", model=str(model_dir))
    assert asr.type == "ctc_with_lm"
    assert type(asr.decoder) is CTCBeamSearchDecoder
    assert asr.decoder.language_model.weights == FusionWeights(0.6, 1.2, -10.0, True)
    audio = np.random.default_rng(0).normal(0, 0.1, 32000).astype(np.float32)
    text = asr(audio)["text"]
    processor = CTCProcessorWithLanguageModel.from_pretrained(model_dir)
    with torch.no_grad():
        features = processor(audio=audio, sampling_rate=16000, return_tensors="pt")
        logits = asr.model(**features).logits[0].numpy()
    assert text == processor.decode(logits).text  # the pipeline's text is the processor's
    known = set(processor.language_model.unigrams)
    assert text and set(text.split()) <= known  # the LM's words, not the random model's letters
    assert (
        asr(audio, decoder_kwargs={"alpha": 0.0, "beta": 0.0})["text"]
        == processor.decode(logits, alpha=0.0, beta=0.0).text
    )
    chunked = asr(audio, chunk_length_s=0.5, stride_length_s=0.1)["text"]
    assert chunked and set(chunked.split()) <= known
    words = asr(audio, return_timestamps="word")["chunks"]
    assert [w["text"] for w in words] == text.split()
    # decoder= takes our processor (or its decoder) instead of the folder's files.
    ours = pipeline("automatic-speech-recognition", model=str(model_dir), decoder=processor)
    assert ours.decoder is processor.decoder and ours(audio)["text"] == text


def test_pipeline_decoder_path_without_lm_files_is_refused(model_dir, tmp_path):
    from transformers import pipeline

    with pytest.raises(ValueError, match="no language_model/ folder"):
        pipeline("automatic-speech-recognition", model=str(model_dir), decoder=str(tmp_path))


# ----------------------------------------------------------------------------------------------------
# Decoding outputs and pools
# ----------------------------------------------------------------------------------------------------


def test_batch_decode_returns_n_best_lists_and_word_offsets(model_dir):
    processor = CTCProcessorWithLanguageModel.from_pretrained(model_dir)
    _, logits = clean_logits(2, seed=4)
    out = processor.batch_decode(logits, n_best=3, output_word_offsets=True)
    assert len(out.text) == 2 and all(isinstance(t, list) and 1 <= len(t) <= 3 for t in out.text)
    for totals, logit_scores, lm_scores in zip(out.total_score, out.logit_score, out.lm_score):
        assert totals == sorted(totals, reverse=True)
        assert totals == pytest.approx([a + b for a, b in zip(logit_scores, lm_scores)])
    first = out.word_offsets[0][0]
    assert [w["word"] for w in first] == out.text[0][0].split()
    assert all(w["start_offset"] < w["end_offset"] for w in first)
    single = processor.decode(logits[0])
    assert single.text == out.text[0][0]


def test_own_pool_is_created_once_and_reused(model_dir):
    processor = CTCProcessorWithLanguageModel.from_pretrained(model_dir)
    transcripts, logits = clean_logits(8, seed=5)
    expected = processor.batch_decode(logits).text
    with processor:
        first = processor.batch_decode(logits, num_processes=2)
        pool = processor._pool
        pids = sorted(p.pid for p in pool._pool._pool)
        second = processor.batch_decode(logits, num_processes=2, alpha=0.0)
        assert processor._pool is pool and sorted(p.pid for p in pool._pool._pool) == pids
        third = processor.batch_decode(logits, num_processes=2)
    assert first.text == expected == third.text == transcripts
    assert second.text != [] and processor._pool is None
    assert first.total_score == pytest.approx(third.total_score)


def test_spawn_pool_and_callers_pool_decode_the_same(model_dir):
    processor = CTCProcessorWithLanguageModel.from_pretrained(model_dir)
    _, logits = clean_logits(6, seed=6)
    expected = processor.batch_decode(logits, n_best=2)
    with processor:
        spawned = processor.batch_decode(logits, n_best=2, num_processes=2, start_method="spawn")
    assert spawned.text == expected.text
    for got, want in zip(spawned.total_score, expected.total_score):
        assert got == pytest.approx(want)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        forked = processor.batch_decode(logits, n_best=2, pool=pool)
    assert forked.text == expected.text


# ----------------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------------


def test_missing_or_corrupt_lm_file_is_named(fresh_copy):
    arpa = fresh_copy / "language_model" / "3gram.arpa"
    arpa.write_text("this is not an ARPA file\n", encoding="utf-8")
    with pytest.raises(LanguageModelError, match=r"3gram\.arpa: KenLM cannot read this LM file"):
        CTCProcessorWithLanguageModel.from_pretrained(fresh_copy)
    arpa.unlink()
    with pytest.raises(LanguageModelError, match=r"no n-gram file .*build-lm"):
        CTCProcessorWithLanguageModel.from_pretrained(fresh_copy)
    shutil.rmtree(fresh_copy / "language_model")
    with pytest.raises(LanguageModelError, match="no language model folder"):
        CTCProcessorWithLanguageModel.from_pretrained(fresh_copy)


def test_alphabet_that_does_not_match_the_vocabulary_is_refused(fresh_copy):
    path = fresh_copy / "alphabet.json"
    labels = list(LABELS)
    labels[3], labels[4] = labels[4], labels[3]  # A and B swapped
    path.write_text(json.dumps({"labels": labels, "is_bpe": False}))
    with pytest.raises(AlphabetError, match=r"id 3: alphabet 'B' vs tokenizer 'A'.*re-attach"):
        CTCProcessorWithLanguageModel.from_pretrained(fresh_copy)
    labels[2] = "|"  # the tokenizer's delimiter instead of the alphabet's " "
    path.write_text(json.dumps({"labels": labels, "is_bpe": False}))
    with pytest.raises(AlphabetError, match="word delimiter"):
        CTCProcessorWithLanguageModel.from_pretrained(fresh_copy)


def test_bad_attrs_unigrams_and_logits_are_refused(fresh_copy, lm_dir):
    attrs = fresh_copy / "language_model" / "attrs.json"
    attrs.write_text(json.dumps({"alpha": 0.5, "beta": 1.0}))
    with pytest.raises(LanguageModelError, match="expected exactly the keys"):
        CTCProcessorWithLanguageModel.from_pretrained(fresh_copy)
    attrs.write_text(
        json.dumps({"alpha": 0.5, "beta": 1.0, "unk_score_offset": -10.0, "score_boundary": True})
    )
    (fresh_copy / "language_model" / "unigrams.txt").write_text("NOT\nTHESE\n")
    with pytest.raises(LanguageModelError, match="do not belong together"):
        CTCProcessorWithLanguageModel.from_pretrained(fresh_copy)
    shutil.copy(lm_dir / "unigrams.txt", fresh_copy / "language_model" / "unigrams.txt")
    processor = CTCProcessorWithLanguageModel.from_pretrained(fresh_copy)
    with pytest.raises(DecodingError, match="empty logits"):
        processor.batch_decode([np.zeros((0, len(LABELS)), dtype=np.float32)])
    with pytest.raises(DecodingError, match=r"alphabet\.json does not belong"):
        processor.batch_decode([np.zeros((5, 40), dtype=np.float32)])
    with pytest.raises(DecodingError, match="unknown decoding option"):
        processor.batch_decode([np.zeros((5, len(LABELS)), dtype=np.float32)], beam=4)


def test_tuned_weights_are_written_in_place(fresh_copy):
    updated = write_fusion_weights(fresh_copy, alpha=1.25, beta=-0.5)
    assert updated == FusionWeights(1.25, -0.5, -10.0, True)
    assert CTCProcessorWithLanguageModel.from_pretrained(fresh_copy).language_model.weights == updated
    assert sorted(p.name for p in (fresh_copy / "language_model").iterdir()) == [
        "3gram.arpa",
        "attrs.json",
        "unigrams.txt",
    ]
