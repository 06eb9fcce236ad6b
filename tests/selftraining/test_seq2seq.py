"""Stage 5 option (b): word pieces, batches and the stock Speech2Text folder of the seq2seq final model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import Speech2TextFeatureExtractor, Speech2TextTokenizer

from wav2vec_hf.selftraining import SelfTrainingConfig
from wav2vec_hf.selftraining.seq2seq import (
    Seq2SeqOptions,
    _Collator,
    _filterbanks,
    _pad_features,
    train_seq2seq,
    train_wordpieces,
    transcribe_seq2seq,
)

TEXTS = ["ONE TWO THREE", "TWO THREE", "SEVEN EIGHT NINE", "NINE ONE", "THREE SEVEN"]


def test_word_pieces_round_trip_and_keep_fairseq_special_ids(tmp_path):
    tokenizer = train_wordpieces(TEXTS, tmp_path, vocab_size=40)
    assert [tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id] == [0, 1, 2, 3]
    for text in TEXTS:
        ids = tokenizer(text).input_ids
        assert ids[-1] == tokenizer.eos_token_id and tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids, skip_special_tokens=True) == text
    tokenizer.save_pretrained(str(tmp_path / "saved"))
    reloaded = Speech2TextTokenizer.from_pretrained(str(tmp_path / "saved"))  # stock class, no help from us
    assert reloaded("NINE ONE").input_ids == tokenizer("NINE ONE").input_ids
    with pytest.raises(ValueError, match="no training transcript"):
        train_wordpieces(["", "  "], tmp_path / "empty", vocab_size=10)


def test_batches_pad_features_and_shift_labels_into_decoder_inputs(tmp_path):
    tokenizer = train_wordpieces(TEXTS, tmp_path, vocab_size=40)
    extractor = Speech2TextFeatureExtractor(feature_size=80, num_mel_bins=80, sampling_rate=16000)
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(n).astype(np.float32) for n in (8000, 12000)]
    reference = extractor(waves, sampling_rate=16000, padding=True, return_attention_mask=True, return_tensors="pt")
    features, mask = _pad_features(_filterbanks(extractor, waves))
    assert torch.equal(mask, reference["attention_mask"].long())
    assert torch.allclose(features * mask[..., None], reference["input_features"] * mask[..., None], atol=1e-4)

    batch = _Collator(tokenizer)([{"features": f, "text": t} for f, t in zip(_filterbanks(extractor, waves), TEXTS)])
    labels, decoder_inputs = batch["labels"], batch["decoder_input_ids"]
    assert decoder_inputs[:, 0].eq(tokenizer.eos_token_id).all()  # fairseq's decoder start
    kept = labels[:, :-1] != -100
    assert torch.equal(decoder_inputs[:, 1:][kept], labels[:, :-1][kept])
    assert decoder_inputs[:, 1:][~kept].eq(tokenizer.pad_token_id).all()


def test_a_seq2seq_model_learns_fsdd_digits_and_loads_as_stock_speech2text(real_data_dir, tmp_path):
    from transformers import AutoModelForSpeechSeq2Seq

    from wav2vec_hf.error_rates import word_error_rate
    from wav2vec_hf.finetuning.recipes import fsdd_split

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
