"""The one text normaliser: labels, scored references and LM text follow the same rules."""

from __future__ import annotations

import json
import random

import pytest

from wav2vec_hf.data.normalization import (
    NORMALIZER_FILE,
    PROJECT_NORMALIZER,
    TRANSCRIPT_ALPHABET,
    TextNormalizer,
    normalize_transcript,
)
from wav2vec_hf.decoding.lm_text import lm_text_normalizer
from wav2vec_hf.finetuning.vocabulary import Vocabulary

SAMPLES = [
    "  'Hello,' said the café-owner: don't!  ",
    "Tom's 2 cats\tand\u00a0a DOG",
    "naïve Zoë — “quoted” words…",
    "a|b <unk> [noise] well-known",
    "...",
]


def test_the_project_rules_write_only_the_transcript_alphabet():
    rng = random.Random(3)
    pool = TRANSCRIPT_ALPHABET + "abcxyz éÉüß-—,.!?\"“”'0123456789|<>[]\t\n\u00a0"
    for _ in range(300):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))
        normalized = PROJECT_NORMALIZER(text)
        assert set(normalized) <= set(TRANSCRIPT_ALPHABET + " ")
        assert "  " not in normalized and normalized == normalized.strip()
        assert all(not word.startswith("'") and not word.endswith("'") for word in normalized.split())
        assert PROJECT_NORMALIZER(normalized) == normalized  # idempotent


def test_labels_scores_and_lm_text_agree_for_a_model_trained_on_normalised_text(tmp_path):
    """A fine-tuned folder: its saved rules make the labels; scores and LM text use the same rules
    (LM text restricted to what the vocabulary can write)."""
    rules = TextNormalizer()
    vocabulary = Vocabulary.from_transcripts(SAMPLES[:2], rules)
    rules.save(tmp_path)
    vocab = vocabulary.to_json()
    scoring = TextNormalizer.for_model(tmp_path, vocab)
    lm = lm_text_normalizer(vocab, tmp_path)
    for text in SAMPLES[:2]:
        assert scoring(text) == rules(text) == lm(text)  # every character is in the vocabulary
    assert (
        scoring("Noë") == "NOË" and lm("Noë") == "NOE"
    )  # a new letter: an error to score, its base in LM text


def test_without_saved_rules_scores_follow_the_vocabulary(tmp_path):
    vocab = {
        "<pad>": 0,
        "<unk>": 1,
        "|": 2,
        **{c: i + 3 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz'")},
    }
    scoring = TextNormalizer.for_model(tmp_path, vocab)
    assert scoring == lm_text_normalizer(vocab) and scoring.case == "lower"
    assert scoring("The NAÏVE Zoë's 42") == "the naive zoe's"


def test_files_round_trip_and_old_files_load(tmp_path):
    for rules in (TextNormalizer(case="lower", remove_punctuation=False), PROJECT_NORMALIZER):
        rules.save(tmp_path)
        assert TextNormalizer.from_folder(tmp_path) == rules
    (tmp_path / NORMALIZER_FILE).write_text(
        json.dumps({"case": "upper", "remove_punctuation": True, "keep_inside_words": "'"})
    )  # written before ``characters`` existed
    assert TextNormalizer.from_folder(tmp_path) == TextNormalizer()
    (tmp_path / NORMALIZER_FILE).write_text('{"case": "title"}')
    with pytest.raises(ValueError, match=rf"{NORMALIZER_FILE}: not a text normaliser file .*delete it"):
        TextNormalizer.from_folder(tmp_path)


def test_normalize_transcript_refuses_text_without_letters_and_folds_accents():
    assert normalize_transcript("the café-owner's 2 cats") == "THE CAFE OWNER'S CATS"
    with pytest.raises(ValueError, match="no letters"):
        normalize_transcript(" 42 -- !! ")
