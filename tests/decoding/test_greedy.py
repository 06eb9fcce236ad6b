"""The one greedy CTC decoder and its three callers (decoding, fine-tuning metrics, self-training)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.decoding.support import LABELS, VOCAB
from wav2vec_hf.decoding.decoder import greedy_decode
from wav2vec_hf.decoding.greedy import greedy_decode_ids, tokenizer_labels
from wav2vec_hf.error_rates import HYPOTHESIS_UNKNOWN
from wav2vec_hf.finetuning.metrics import CTCMetrics
from wav2vec_hf.selftraining.evaluation import greedy_texts

CASES = {
    # name: (frame tokens, "_" = blank, what transformers' Wav2Vec2CTCTokenizer.decode writes)
    "repeats_and_blanks": ("A A _ A B | | C", "AAB C"),
    "leading_and_trailing_delimiters": ("| | A _ B | |", "AB"),
    "delimiters_around_a_blank": ("A | _ | B", "A  B"),
    "all_blank": ("_ _ _", ""),
    "unk_inside_a_word": ("A <unk> <unk> B", "A<unk>B"),
    "unk_as_a_word": ("A | <unk> | B", "A <unk> B"),
    "unk_blank_unk": ("A <unk> _ <unk> B", "A<unk><unk>B"),
}
CASE_NAMES = sorted(CASES)


def _ids(case: str) -> list[int]:
    return [VOCAB["<pad>"] if t == "_" else VOCAB[t] for t in CASES[case][0].split()]


@pytest.fixture(scope="module")
def processor(tmp_path_factory):
    from transformers import Wav2Vec2CTCTokenizer, Wav2Vec2FeatureExtractor, Wav2Vec2Processor

    folder = tmp_path_factory.mktemp("vocab")
    (folder / "vocab.json").write_text(json.dumps(VOCAB), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), bos_token=None, eos_token=None)
    return Wav2Vec2Processor(feature_extractor=Wav2Vec2FeatureExtractor(), tokenizer=tokenizer)


def _outputs(case: str, processor) -> dict[str, str]:
    ids = _ids(case)
    logits = np.eye(len(VOCAB), dtype=np.float32)[ids]
    return {
        "decoding": greedy_decode(logits, LABELS),
        "metrics": CTCMetrics(processor.tokenizer).decode_predictions(np.array([ids]))[0],
        "selftraining": greedy_texts([logits], processor)[0],
        "transformers": processor.tokenizer.decode(ids),
    }


OLD_UNKNOWN_MARKS = {"decoding": "⁇", "metrics": HYPOTHESIS_UNKNOWN, "selftraining": "<unk>"}
"""Before #18 the three callers agreed on every case but ``<unk>``, which each wrote its own way
(``test_old_behaviour_of_the_three_decoders`` checked this on the code of that time)."""
NEW_UNKNOWN_MARKS = {"decoding": "⁇", "metrics": HYPOTHESIS_UNKNOWN, "selftraining": "⁇"}
"""Now: one decoder; ``⁇`` (the beam search's label) unless the caller asks for another mark (the
fine-tuning metrics keep ``HYPOTHESIS_UNKNOWN`` so an unknown never matches a reference character)."""


@pytest.mark.parametrize("case", CASE_NAMES)
def test_the_callers_share_the_transformers_rule(case, processor):
    expected = CASES[case][1]
    out = _outputs(case, processor)
    assert out["transformers"] == expected
    for caller, mark in NEW_UNKNOWN_MARKS.items():
        assert out[caller] == " ".join(expected.replace("<unk>", mark).split()), caller


def test_padding_ids_count_as_blank_and_other_special_tokens_are_dropped():
    labels = [*LABELS, "<s>", "</s>"]
    a, b = VOCAB["A"], VOCAB["B"]
    assert greedy_decode_ids([a, -100, a, len(LABELS), b, len(LABELS) + 1], labels) == "AAB"
    assert greedy_decode_ids([], labels) == ""


def test_tokenizer_labels_follow_the_tokenizers_own_special_tokens(tmp_path):
    from transformers import Wav2Vec2CTCTokenizer

    vocab = {"[PAD]": 0, "[UNK]": 1, "<sp>": 2, "A": 3}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(
        str(tmp_path / "vocab.json"),
        pad_token="[PAD]",
        unk_token="[UNK]",
        word_delimiter_token="<sp>",
        bos_token=None,
        eos_token=None,
    )
    assert tokenizer_labels(tokenizer) == ["", "⁇", " ", "A"]
