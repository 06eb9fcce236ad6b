"""Text normalisation, the letter vocabulary, its stock tokenizer/processor, unknown characters."""

from __future__ import annotations

import json

import pytest
from transformers import AutoProcessor, Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2Processor

from wav2vec_hf.finetuning.vocabulary import (
    NORMALIZER_FILE,
    SPECIAL_TOKENS,
    TextNormalizer,
    Vocabulary,
)


def test_normalizer_folds_case_and_punctuation_but_keeps_inner_apostrophes():
    normalize = TextNormalizer()
    assert normalize("  Don't  stop -- 'quoted', well-known!  ") == "DON'T STOP QUOTED WELL KNOWN"
    assert TextNormalizer(case="lower")("Hello, World") == "hello world"
    assert TextNormalizer(case="keep", remove_punctuation=False)("Hi,  There!") == "Hi, There!"
    assert normalize("...") == ""


def test_normalizer_rejects_an_unknown_case_and_round_trips_through_its_file(tmp_path):
    with pytest.raises(ValueError, match="case"):
        TextNormalizer(case="title")
    normalizer = TextNormalizer(case="lower", remove_punctuation=False)
    normalizer.save(tmp_path)
    assert (tmp_path / NORMALIZER_FILE).is_file()
    assert TextNormalizer.from_folder(tmp_path) == normalizer
    assert TextNormalizer.from_folder(tmp_path / "nowhere") is None


def test_vocabulary_from_transcripts_has_the_special_tokens_first_then_sorted_characters():
    vocabulary = Vocabulary.from_transcripts(["the cat", "A DOG's day!"])
    assert tuple(vocabulary.tokens[:3]) == SPECIAL_TOKENS
    assert vocabulary.tokens[3:] == sorted(set("THECATADOG'SDAY"))
    assert vocabulary.blank_id == 0 and vocabulary.unknown_id == 1
    ids = vocabulary.encode("CAT DOG")
    assert ids[3] == vocabulary.tokens.index("|")
    assert [vocabulary.tokens[i] for i in ids] == list("CAT|DOG")
    assert vocabulary.encode("CAZ")[-1] == vocabulary.unknown_id


def test_vocabulary_refuses_the_word_delimiter_in_text_and_empty_data():
    with pytest.raises(ValueError, match="word delimiter"):
        Vocabulary.from_transcripts(["A|B"])
    with pytest.raises(ValueError, match="no characters"):
        Vocabulary.from_transcripts(["!!", "..."])


def test_unknown_characters_are_counted_with_examples():
    vocabulary = Vocabulary.from_transcripts(["ABC ABC"])
    report = vocabulary.check([("u1", "ABX"), ("u2", "ABC"), ("u3", "XYZ X")], source="dev")
    assert report.utterances == 3 and report.affected == 2
    assert report.counts == {"X": 3, "Y": 1, "Z": 1}
    assert report.examples["X"] == ["u1", "u3"]
    assert "2 of 3 transcripts" in report.summary() and "'X'" in report.summary()
    assert json.loads(json.dumps(report.to_dict()))["counts"]["X"] == 3


def test_tokenizer_and_processor_are_stock_and_reload_from_disk(tmp_path):
    vocabulary = Vocabulary.from_transcripts(["HELLO WORLD", "HOLD"])
    extractor = Wav2Vec2FeatureExtractor(return_attention_mask=False, do_normalize=False)
    processor = vocabulary.processor(extractor)
    processor.save_pretrained(tmp_path)
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(reloaded) is Wav2Vec2Processor
    assert type(reloaded.tokenizer) is Wav2Vec2CTCTokenizer
    tokenizer = reloaded.tokenizer
    assert tokenizer.pad_token_id == vocabulary.blank_id and len(tokenizer) == len(vocabulary)
    assert tokenizer("HELLO WORLD").input_ids == vocabulary.encode("HELLO WORLD")
    # CTC decoding: repeats merge, blanks separate real repeats, "|" becomes a space
    ids = (
        vocabulary.encode("HEL")
        + [0]
        + vocabulary.encode("LO")
        + vocabulary.encode(" ") * 2
        + vocabulary.encode("WORLD")
    )
    assert " ".join(tokenizer.decode(ids).split()) == "HELLO WORLD"
    assert reloaded.feature_extractor.return_attention_mask is False


def test_vocabulary_reads_a_vocab_json(tmp_path):
    vocabulary = Vocabulary.from_transcripts(["AB"])
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps(vocabulary.to_json()))
    assert Vocabulary.from_json(path).tokens == vocabulary.tokens
    path.write_text(json.dumps({"<pad>": 0, "<unk>": 1, "|": 2, "A": 5}))
    with pytest.raises(ValueError, match="without gaps"):
        Vocabulary.from_json(path)
