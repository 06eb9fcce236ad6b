"""The small causal LM: tokenizers built locally, ``scripts/train_lm.py`` training, sentence scoring."""

from __future__ import annotations

import json
import math
import runpy
import sys
from pathlib import Path

import pytest

from wav2vec_hf.selftraining.neural_lm import CausalLMScorer, build_tokenizer

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_lm.py"

# A toy language: subject verb object, where each verb takes only its own objects.
SUBJECTS = ["ANNA", "THE DOG", "MY FRIEND", "TOM"]
PAIRS = [("EATS", "BREAD"), ("EATS", "SOUP"), ("READS", "BOOKS"), ("READS", "LETTERS")]


def _write_toy_text(path: Path) -> Path:
    lines = [f"{s} {v} {o}" for s in SUBJECTS for v, o in PAIRS] * 4
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_tokenizers_split_characters_or_words_and_reserve_special_ids():
    char = build_tokenizer(["AB A", "B"], level="char")
    assert char.convert_ids_to_tokens(char("AB A", add_special_tokens=False)["input_ids"]) == [
        "A",
        "B",
        " ",
        "A",
    ]
    assert [char.pad_token_id, char.bos_token_id, char.eos_token_id, char.unk_token_id] == [0, 1, 2, 3]
    assert char.convert_ids_to_tokens(char("AZ", add_special_tokens=False)["input_ids"]) == ["A", "<unk>"]
    word = build_tokenizer(["THE DOG", "THE CAT", "THE"], level="word", min_word_count=2)
    assert word.convert_ids_to_tokens(word("THE DOG", add_special_tokens=False)["input_ids"]) == [
        "THE",
        "<unk>",
    ]
    with pytest.raises(ValueError, match="level"):
        build_tokenizer(["A"], level="bpe")


def test_train_lm_script_trains_a_model_that_knows_the_toy_grammar(tmp_path, monkeypatch):
    text = _write_toy_text(tmp_path / "toy.txt")
    out = tmp_path / "lm"
    argv = ["train_lm.py", "--text", str(text), "--out", str(out), "--level", "word", "--steps", "80",
            "--batch-size", "16", "--width", "32", "--learning-rate", "1e-2", "--dropout", "0", "--validation-fraction", "0.1"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    assert exit_info.value.code == 0
    report = json.loads((out / "train_lm.json").read_text())
    # 8 objects and 4 subjects after their contexts: a model that learnt the grammar is far below
    # the uniform perplexity over its vocabulary (|V| = 17 incl. specials).
    assert report["validation_perplexity"] < 4.0 < report["vocab_size"]

    scorer = CausalLMScorer.from_pretrained(out)  # AutoModelForCausalLM + AutoTokenizer, offline
    good, wrong_object, scrambled = scorer.score(["ANNA EATS SOUP", "ANNA EATS LETTERS", "SOUP ANNA EATS"])
    assert good > wrong_object + 1.0 and good > scrambled + 1.0
    # The score is the sum of token log-probabilities: start, three words, end.
    assert math.exp(good) < 1.0 and good > 4 * math.log(1 / report["vocab_size"])


def test_train_lm_reports_missing_text(tmp_path, capsys):
    from wav2vec_hf.cli import main

    assert main(["train-lm", "--text", str(tmp_path / "none.txt"), "--out", str(tmp_path / "o")]) == 2
    assert "none.txt" in capsys.readouterr().err
