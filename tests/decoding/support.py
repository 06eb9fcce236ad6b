"""Shared pieces of the decoding tests: a character vocabulary, LM text, synthetic emissions."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np

from wav2vec_hf.decoding.alphabet import labels_from_vocabulary
from wav2vec_hf.decoding.ngram import estimate_kneser_ney, write_arpa
from wav2vec_hf.decoding.synthetic import synthetic_emissions
from wav2vec_hf.recipes.corpus_text import sentence_stream

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"
VOCAB = {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate(LETTERS)}}
"""A Wav2Vec2CTCTokenizer vocabulary like the fine-tuning recipe's: blank, unknown, delimiter, letters."""
LABELS = labels_from_vocabulary(VOCAB)


def lm_sentences(count: int, stream: str = "lm", seed: int = 0) -> list[str]:
    """Sentences of the built-in corpus grammar (its LM text distribution)."""
    return list(itertools.islice(sentence_stream(seed, stream), count))


def dev_sentences(count: int, exclude: list[str], seed: int = 0) -> list[str]:
    return list(itertools.islice(sentence_stream(seed, "dev", exclude=exclude), count))


def write_grammar_lm(folder: Path, order: int = 3, sentences: int = 4000) -> tuple[Path, list[str]]:
    """An ARPA LM of the grammar's text in ``folder``; returns (path, unigrams)."""
    model = estimate_kneser_ney(lm_sentences(sentences), order)
    path = write_arpa(model, folder / f"{order}gram.arpa")
    (folder / "unigrams.txt").write_text("".join(w + "\n" for w in model.unigrams()), encoding="utf-8")
    return path, model.unigrams()


def emissions(transcripts: list[str], seed: int, **kwargs) -> list[np.ndarray]:
    """Synthetic CTC log-probabilities of ``transcripts`` (see ``wav2vec_hf.decoding.synthetic``)."""
    rng = np.random.default_rng(seed)
    return [synthetic_emissions(t, LABELS, rng, **kwargs) for t in transcripts]


def make_model_folder(folder) -> None:
    """A tiny stock Wav2Vec2ForCTC and its processor, saved as a fine-tuning run would save them."""
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(VOCAB), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), bos_token=None, eos_token=None)
    feature_extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True)
    Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer).save_pretrained(str(folder))
    config = Wav2Vec2Config(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16, 16),
        conv_stride=(10, 8, 4),  # 320 samples a frame: 50 frames a second, as wav2vec 2.0
        conv_kernel=(10, 8, 4),
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    model = Wav2Vec2ForCTC(config)
    with torch.no_grad():  # peaky, half-blank outputs like a trained model's (about 3 candidates a frame)
        model.lm_head.weight *= 20.0
        model.lm_head.bias[0] = 8.0
    model.save_pretrained(str(folder))
