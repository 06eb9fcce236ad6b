"""Stage 5 option (b): word pieces, batches and the stock Speech2Text folder of the seq2seq final model."""

from __future__ import annotations

import itertools
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import Speech2TextFeatureExtractor, Speech2TextTokenizer

from wav2vec_hf.error_rates import character_error_rate, word_error_rate
from wav2vec_hf.selftraining import SelfTrainingConfig, rounds
from wav2vec_hf.selftraining.seq2seq import (
    Seq2SeqOptions,
    _Collator,
    _filterbanks,
    _pad_features,
    load_seq2seq,
    train_seq2seq,
    train_wordpieces,
    transcribe_seq2seq,
    transcribe_set,
)

TEXTS = ["ONE TWO THREE", "TWO THREE", "SEVEN EIGHT NINE", "NINE ONE", "THREE SEVEN"]


def test_word_pieces_round_trip_and_keep_fairseq_special_ids(tmp_path):
    tokenizer = train_wordpieces(TEXTS, tmp_path, vocab_size=40)
    assert [
        tokenizer.bos_token_id,
        tokenizer.pad_token_id,
        tokenizer.eos_token_id,
        tokenizer.unk_token_id,
    ] == [0, 1, 2, 3]
    for text in TEXTS:
        ids = tokenizer(text).input_ids
        assert ids[-1] == tokenizer.eos_token_id and tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
    tokenizer.save_pretrained(str(tmp_path / "saved"))
    reloaded = Speech2TextTokenizer.from_pretrained(str(tmp_path / "saved"))  # stock class, no help from us
    assert reloaded("NINE ONE").input_ids == tokenizer("NINE ONE").input_ids
    with pytest.raises(ValueError, match="no training transcript"):
        train_wordpieces(["", "  "], tmp_path / "empty", vocab_size=10)


def test_word_pieces_take_any_requested_size_up_to_what_the_text_supports(tmp_path):
    from wav2vec_hf.recipes.corpus_text import sentence_stream

    digits = ["ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"]
    letters = len(set("".join(digits)))  # 15
    sizes = {}
    for requested in (1, 40, 10_000):  # below the alphabet, above what ten words hold, far above
        tokenizer = train_wordpieces(digits, tmp_path / str(requested), vocab_size=requested)
        assert all(
            tokenizer.decode(tokenizer(word).input_ids, skip_special_tokens=True) == word for word in digits
        )
        sizes[requested] = len(tokenizer)
    assert sizes[1] == letters + 2 + 3  # every letter and the word boundary; <s> <pad> </s> join <unk>
    assert sizes[40] == sizes[10_000] < 40 + 3  # the text's own limit, however much is asked
    corpus = list(itertools.islice(sentence_stream(0, "lm"), 3000))
    assert len(train_wordpieces(corpus, tmp_path / "corpus", vocab_size=64)) == 64 + 3  # the size asked for


def test_a_tiny_seq2seq_model_trains_quietly_and_transcribes_two_sets_from_one_load(tmp_path, monkeypatch):
    import soundfile
    from transformers import Speech2TextForConditionalGeneration

    rng = np.random.default_rng(0)
    tables = {}
    for name, texts in (("train", TEXTS), ("dev", TEXTS[:2]), ("test", TEXTS[2:])):
        rows = ["path\ttranscript"]
        for index, text in enumerate(texts):
            path = tmp_path / f"{name}{index}.wav"
            soundfile.write(path, 0.1 * rng.standard_normal(4000 + 1000 * index), 16000)
            rows.append(f"{path}\t{text}")
        tables[name] = tmp_path / f"{name}.tsv"
        tables[name].write_text("\n".join(rows) + "\n", encoding="utf-8")
    options = Seq2SeqOptions(
        d_model=16, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=32, conv_channels=8,
        max_steps=2, batch_size=4, warmup_steps=1, num_beams=2,
    )  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = train_seq2seq(str(tables["train"]), tmp_path / "model", options)
    assert summary["utterances"] == len(TEXTS)
    assert not [w for w in caught if "pin_memory" in str(w.message)]  # no pinning without a GPU

    loads = []
    original = Speech2TextForConditionalGeneration.from_pretrained.__func__
    monkeypatch.setattr(
        Speech2TextForConditionalGeneration,
        "from_pretrained",
        classmethod(lambda cls, *a, **k: loads.append(a[0]) or original(cls, *a, **k)),
    )
    model, processor = load_seq2seq(tmp_path / "model")
    dev = transcribe_set(model, processor, str(tables["dev"]), num_beams=1)
    test = transcribe_set(model, processor, str(tables["test"]), num_beams=1)
    assert dev[1] == TEXTS[:2] and test[1] == TEXTS[2:] and len(test[0]) == len(TEXTS[2:])
    assert len(loads) == 1  # one load for both sets
    assert transcribe_seq2seq(tmp_path / "model", str(tables["dev"]), num_beams=1) == dev  # load + transcribe

    loads.clear()  # self-training's evaluation stage: dev and test from one load too
    config = SimpleNamespace(dev=str(tables["dev"]), test=str(tables["test"]), seq2seq_beams=1)
    evaluation = rounds._evaluate_seq2seq(config, str(tmp_path / "model"), tmp_path)["evaluation"]
    assert len(loads) == 1
    for name, (hypotheses, references) in (("dev", dev), ("test", test)):
        assert evaluation[f"{name}_wer_greedy"] == word_error_rate(references, hypotheses)
        assert evaluation[f"{name}_cer_greedy"] == character_error_rate(references, hypotheses)
        assert evaluation[f"{name}_wer_lm"] is None


def test_batches_pad_features_and_shift_labels_into_decoder_inputs(tmp_path):
    tokenizer = train_wordpieces(TEXTS, tmp_path, vocab_size=40)
    extractor = Speech2TextFeatureExtractor(feature_size=80, num_mel_bins=80, sampling_rate=16000)
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(n).astype(np.float32) for n in (8000, 12000)]
    reference = extractor(
        waves, sampling_rate=16000, padding=True, return_attention_mask=True, return_tensors="pt"
    )
    features, mask = _pad_features(_filterbanks(extractor, waves))
    assert torch.equal(mask, reference["attention_mask"].long())
    assert torch.allclose(
        features * mask[..., None], reference["input_features"] * mask[..., None], atol=1e-4
    )

    batch = _Collator(tokenizer)(
        [{"features": f, "text": t} for f, t in zip(_filterbanks(extractor, waves), TEXTS)]
    )
    labels, decoder_inputs = batch["labels"], batch["decoder_input_ids"]
    assert decoder_inputs[:, 0].eq(tokenizer.eos_token_id).all()  # fairseq's decoder start
    kept = labels[:, :-1] != -100
    assert torch.equal(decoder_inputs[:, 1:][kept], labels[:, :-1][kept])
    assert decoder_inputs[:, 1:][~kept].eq(tokenizer.pad_token_id).all()


def test_a_seq2seq_model_learns_fsdd_digits_and_loads_as_stock_speech2text(real_data_dir, tmp_path):
    from transformers import AutoModelForSpeechSeq2Seq

    from wav2vec_hf.recipes.fsdd import fsdd_split

    train, dev, _ = fsdd_split(real_data_dir, tmp_path / "data")
    summary = train_seq2seq(str(train), tmp_path / "model", Seq2SeqOptions(max_steps=300))
    assert summary["utterances"] == 1600 and summary["vocabulary"] > 4
    model = AutoModelForSpeechSeq2Seq.from_pretrained(str(tmp_path / "model"))  # stock transformers
    assert type(model).__name__ == "Speech2TextForConditionalGeneration"
    hypotheses, references = transcribe_seq2seq(tmp_path / "model", str(dev))
    wer = word_error_rate(references, hypotheses)
    print(f"seq2seq, 300 updates on FSDD train: dev WER {wer:.3f}")
    assert wer < 0.3  # ten words, held-out recordings: it has learnt them


def test_a_seq2seq_final_model_ends_the_recipe(tmp_path):
    lm_text = tmp_path / "lm.txt"
    lm_text.write_text("ONE\n")
    common = {"pretrained": "p", "labeled": "l", "unlabeled": "u", "dev": "d", "output_dir": str(tmp_path),
              "lm_text": [str(lm_text)], "final_model": "seq2seq"}  # fmt: skip
    assert SelfTrainingConfig(**common).final_model == "seq2seq"
    with pytest.raises(ValueError, match="rounds=1"):
        SelfTrainingConfig(**common, rounds=2)
    with pytest.raises(ValueError, match="'ctc' or 'seq2seq'"):
        SelfTrainingConfig(**{**common, "final_model": "rnn"})
