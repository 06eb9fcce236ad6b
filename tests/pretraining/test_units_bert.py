"""BERT on vq-wav2vec units: span masking, tokenisation, and a tiny BERT that learns from context.

The quantiser is the fairseq vq-wav2vec (Gumbel) fixture converted to our format: a vq-wav2vec
checkpoint as fairseq writes it. Its units are real functions of the audio (the same frame always
gives the same unit), though noisy ones: 70% of the frames (silence) share one unit.
"""

import json

import pytest
import torch

from tests.pretraining.support import build_tiny_corpus, run
from wav2vec_hf.pretraining.units_bert import (
    SPECIAL_TOKENS,
    UnitCollator,
    UnitSequenceDataset,
    build_unit_vocabulary,
    majority_rate,
    make_tokenizer,
    mask_unit_spans,
    unigram_cross_entropy,
)

STEPS = 50


# --- pieces ----------------------------------------------------------------------------------


def test_span_masking_covers_about_forty_percent_in_runs_of_ten():
    torch.manual_seed(0)
    lengths = torch.tensor([402, 302, 202, 12])
    ids = torch.full((4, 402), 7)
    ids[:, 0], ids[torch.arange(4), lengths - 1] = 2, 3  # [CLS] ... [SEP]
    for row, length in enumerate(lengths):
        ids[row, length:] = 0  # [PAD]
    fractions = []
    for _ in range(20):
        masked, labels = mask_unit_spans(
            ids, lengths, mask_length=10, start_prob=0.05, mask_id=4, first_unit_id=5, vocab_size=50
        )
        chosen = labels != -100
        # never the [CLS], [SEP] or padding positions
        assert not chosen[:, 0].any()
        for row, length in enumerate(lengths):
            assert not chosen[row, length - 1 :].any()
        assert torch.equal(labels[chosen], ids[chosen])
        fractions.append(chosen[:3].sum().item() / (lengths[:3] - 2).sum().item())
        replaced = masked[chosen]
        assert ((replaced == 4).float().mean() > 0.6) and (replaced >= 5).all() | (replaced == 4).any()
    # 1 - (1 - 0.05) ** 10 = 0.40 of the units are covered by some span
    assert 0.3 < sum(fractions) / len(fractions) < 0.5
    # spans: masked positions come in runs of at least 10
    row = (labels[0] != -100).int().tolist()
    runs, current = [], 0
    for value in [*row, 0]:
        if value:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    assert runs and min(runs) >= 10


def test_vocabulary_tokenizer_and_sequences():
    lines = ["3-4 3-4 1-2", "3-4 5-6"]
    vocabulary = build_unit_vocabulary(lines)
    assert list(vocabulary)[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert vocabulary["3-4"] == 5  # most frequent unit first
    tokenizer = make_tokenizer(vocabulary)
    encoded = tokenizer("3-4 9-9 5-6")["input_ids"]
    assert encoded == [vocabulary["[CLS]"], 5, vocabulary["[UNK]"], vocabulary["5-6"], vocabulary["[SEP]"]]
    dataset = UnitSequenceDataset(["3-4 " * 7], vocabulary, max_tokens=5)  # 3 units per piece
    assert [len(s) for s in dataset.sequences] == [5, 5, 3]
    batch = UnitCollator(vocabulary["[PAD]"])([dataset[0], dataset[2]])
    assert batch["input_ids"].tolist()[1] == [2, 5, 3, 0, 0] and batch["attention_mask"].tolist()[1] == [
        1,
        1,
        1,
        0,
        0,
    ]
    assert majority_rate(lines) == pytest.approx(3 / 5)
    assert unigram_cross_entropy(lines, lines) > 0


# --- end to end ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(fairseq_fixtures_dir, tmp_path_factory):
    from wav2vec_hf.convert.fairseq import convert_fairseq_checkpoint

    corpus = build_tiny_corpus(tmp_path_factory.getbasetemp())
    work = tmp_path_factory.mktemp("units-bert")
    quantizer = work / "vq-wav2vec"
    convert_fairseq_checkpoint(fairseq_fixtures_dir / "vq_wav2vec_gumbel" / "model.pt", quantizer)
    output_dir = work / "out"
    result = run(
        [
            "--model_type", "units-bert",
            "--preset", "units-bert-tiny",
            "--quantizer", str(quantizer),
            "--train", str(corpus / "unlabeled.tsv"),
            "--valid", str(corpus / "dev.tsv"),
            "--output_dir", str(output_dir),
            "--max_steps", str(STEPS),
            "--save_steps", "0",
            "--progress_bar", "false",
            "--report_to", "none",
            "--seed", "2",
        ]
    )  # fmt: skip
    return result, output_dir


def test_units_are_written_in_fairseq_format(trained):
    _, output_dir = trained
    lines = (output_dir / "units" / "train.units").read_text().splitlines()
    assert len(lines) == 59  # one line per unlabeled utterance
    frames = [line.split() for line in lines]
    assert all(len(f) > 100 for f in frames)  # 100 units per second of 1.8-5.3 s utterances
    assert all(all(len(unit.split("-")) == 2 for unit in f) for f in frames)  # G = 2: "i-j"


def test_bert_learns_the_unit_statistics(trained):
    """Within the test budget a tiny BERT gets from a uniform guess to the unigram level: the first
    thing a masked LM learns (using the context to beat it takes longer runs, docs/pretraining.md)."""
    result, output_dir = trained
    records = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["split"] == "train"]
    first = sum(r["loss"] for r in train[:10]) / 10
    last = sum(r["loss"] for r in train[-10:]) / 10
    assert first > 4.0 and last < first - 2.0  # from ~log(vocabulary) down
    assert result.first_valid["loss"] > 5.5 and result.last_valid["loss"] < result.first_valid["loss"] - 3.0
    units = output_dir / "units"
    train_lines = (units / "train.units").read_text().splitlines()
    valid_lines = (units / "valid.units").read_text().splitlines()
    assert result.last_valid["loss"] < unigram_cross_entropy(train_lines, valid_lines) + 0.3
    chance = result.health["chance_accuracy"]
    num_units = len(build_unit_vocabulary(train_lines)) - len(SPECIAL_TOKENS)
    assert chance == pytest.approx(1 / num_units)
    assert (
        result.first_valid["accuracy"]
        < 0.1
        < 0.5 * majority_rate(valid_lines)
        < result.last_valid["accuracy"]
    )
    assert 0.3 < result.last_valid["masked_fraction"] < 0.5


def test_export_loads_as_stock_bert_with_its_tokenizer(trained):
    from transformers import AutoTokenizer, BertForMaskedLM

    _, output_dir = trained
    model = BertForMaskedLM.from_pretrained(output_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    line = (output_dir / "units" / "valid.units").read_text().splitlines()[0]
    encoded = tokenizer(" ".join(line.split()[:50]), return_tensors="pt")
    assert encoded["input_ids"].shape == (1, 52)
    with torch.no_grad():
        logits = model(**encoded).logits
    assert logits.shape == (1, 52, len(tokenizer))
    info = json.loads((output_dir / "units_bert.json").read_text())
    assert info["units_per_second"] == 100 and info["mask_length"] == 10 and info["mask_start_prob"] == 0.05
