"""LM text normalisation, the LM folder builder, and the ``build-lm`` command."""

from __future__ import annotations

import gzip
import json

import kenlm
import pytest

from tests.decoding.support import VOCAB, make_model_folder
from wav2vec_hf.cli import main
from wav2vec_hf.data.normalization import PROJECT_NORMALIZER, TextNormalizer
from wav2vec_hf.decoding.lm_build import build_lm
from wav2vec_hf.decoding.lm_text import lm_text_normalizer, read_vocabulary
from wav2vec_hf.decoding.processor import CTCProcessorWithLanguageModel

LOWERCASE_VOCAB = {
    "<pad>": 0,
    "<unk>": 1,
    "|": 2,
    **{c: i + 3 for i, c in enumerate("abcdefghijklmnopqrstuvwxyz'")},
}


def test_default_rules_follow_the_transcript_convention():
    normalize = PROJECT_NORMALIZER.normalize
    assert normalize("  'Hello,' said the café-owner: don't!  ") == "HELLO SAID THE CAFE OWNER DON'T"
    assert normalize("a|b <unk> 42 --") == "A B UNK"  # '|' and '<>' can never be inside a word
    assert normalize("...") == ""


def test_rules_follow_a_tokenizer_vocabulary():
    lower = lm_text_normalizer(LOWERCASE_VOCAB)
    assert lower.case == "lower"
    assert lower.normalize("The NAÏVE Zoë's") == "the naive zoe's"
    upper = lm_text_normalizer(VOCAB)
    assert upper.case == "upper" and upper.characters == "'ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    no_apostrophe = lm_text_normalizer({k: v for k, v in VOCAB.items() if k != "'"})
    assert no_apostrophe.normalize("don't") == "DON T"
    with pytest.raises(ValueError, match="no letters"):
        lm_text_normalizer({"<pad>": 0, "|": 1, "-": 2})


def test_lm_text_follows_a_model_folders_saved_rules_spelled_with_its_vocabulary(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps(VOCAB))
    assert lm_text_normalizer(VOCAB, tmp_path) == lm_text_normalizer(VOCAB)  # no saved rules
    TextNormalizer(case="keep").save(tmp_path)  # a model trained on cased text keeps the case ...
    rules = lm_text_normalizer(VOCAB, tmp_path)
    assert rules.case == "keep" and rules.characters == "'ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    assert rules.normalize("Café ABC, 42!") == "C ABC"  # ... and LM words use only what it can write


def test_read_vocabulary_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no tokenizer vocabulary"):
        read_vocabulary(tmp_path)
    (tmp_path / "vocab.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"vocab\.json: expected a JSON object"):
        read_vocabulary(tmp_path)


def test_build_lm_writes_arpa_unigrams_and_record(tmp_path):
    text = tmp_path / "text.txt.gz"
    with gzip.open(text, "wt", encoding="utf-8") as handle:
        handle.write("The cat sat.\n\nA cat, the dog!\nthe DOG sat\n")
    built = build_lm([text], tmp_path / "lm", order=3)
    assert built.arpa_path.name == "3gram.arpa"
    assert built.unigrams_path.read_text().split() == ["A", "CAT", "DOG", "SAT", "THE"]
    info = json.loads((tmp_path / "lm" / "build.json").read_text())
    assert info["lines_read"] == 4 and info["sentences"] == 3 and info["words"] == 10
    assert info["normalization"] == {
        "case": "upper",
        "remove_punctuation": True,
        "keep_inside_words": "'",
        "characters": "'ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    }
    assert TextNormalizer.from_dict(info["normalization"]) == PROJECT_NORMALIZER  # the record loads back
    lm = kenlm.Model(str(built.arpa_path))
    assert lm.order == 3 and "CAT" in lm and "cat" not in lm
    assert "3 sentences" in built.summary()


def test_build_lm_command_normalises_like_the_model_and_attaches(tmp_path, capsys):
    text = tmp_path / "text.txt"
    text.write_text("The old dog ran.\nA red box fell!\nThe dog saw a box\n" * 20)
    model = tmp_path / "model"
    make_model_folder(model)
    arguments = ["--text", str(text), "--order", "2", "--out", str(tmp_path / "lm"), "--attach", str(model)]
    code = main(["build-lm", *arguments, "--alpha", "0.9", "--beta", "0.4"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "attached to" in printed and "alpha=0.9 beta=0.4" in printed
    processor = CTCProcessorWithLanguageModel.from_pretrained(model)
    assert processor.language_model.unigrams == ["A", "BOX", "DOG", "FELL", "OLD", "RAN", "RED", "SAW", "THE"]
    assert processor.language_model.weights.alpha == 0.9

    vocab = tmp_path / "lower.json"
    vocab.write_text(json.dumps(LOWERCASE_VOCAB))
    assert (
        main(
            [
                "build-lm",
                "--text",
                str(text),
                "--order",
                "3",
                "--out",
                str(tmp_path / "low"),
                "--vocab",
                str(vocab),
            ]
        )
        == 0
    )
    assert (tmp_path / "low" / "unigrams.txt").read_text().split()[:3] == ["a", "box", "dog"]
    assert "\\3-grams:" in (tmp_path / "low" / "3gram.arpa").read_text()


def test_build_lm_command_reports_bad_input(tmp_path, capsys):
    assert main(["build-lm", "--text", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "lm")]) == 2
    assert "missing.txt: LM text file not found" in capsys.readouterr().err
    text = tmp_path / "t.txt"
    text.write_text("a b c\n")
    assert main(["build-lm", "--text", str(text), "--out", str(tmp_path / "lm"), "--prune", "1", "1"]) == 2
    assert "unigrams cannot be pruned" in capsys.readouterr().err
    assert (
        main(["build-lm", "--text", str(text), "--out", str(tmp_path / "lm"), "--attach", str(tmp_path)]) == 2
    )
    assert "no tokenizer vocabulary" in capsys.readouterr().err
