"""The documented FSDD recipe on real speech: held-out recordings of the four speakers at <= 10% WER.

The README's commands at half the updates (1,500; ~4 minutes on 2 cores): split, fine-tune from
scratch, attach a 2-gram LM over the training transcripts, tune its weights on the dev recordings
(5-9), then score FSDD's own test recordings (0-4), which nothing above looked at.
"""

from __future__ import annotations

import json

import pytest

from wav2vec_hf.cli import main
from wav2vec_hf.recipes.fsdd import (
    FSDD_FINETUNE_ARGUMENTS,
    LM_TEXT_FILE,
    fsdd_low_resource_split,
    fsdd_split,
)

CI_UPDATES = "1500"  # the recipe says 3000; 1500 already reaches the target (README: both measured)


@pytest.fixture(scope="module")
def fsdd_scores(real_data_dir, tmp_path_factory):
    """``evaluate``'s JSON for the dev and test tables, and the tables' paths."""
    root = tmp_path_factory.mktemp("fsdd")
    train, dev, test = fsdd_split(real_data_dir, root / "data")
    model = root / "model"
    finetune = [
        *FSDD_FINETUNE_ARGUMENTS,
        "--max_steps",
        CI_UPDATES,
        "--eval_steps",
        "500",
        "--save_steps",
        "500",
    ]
    assert main(["finetune", *finetune, "--train", str(train), "--eval", str(dev), "--output_dir", str(model),
                 "--seed", "0", "--disable_tqdm", "true"]) == 0  # fmt: skip
    assert main(["build-lm", "--text", str(root / "data" / LM_TEXT_FILE), "--order", "2",
                 "--out", str(root / "lm"), "--attach", str(model)]) == 0  # fmt: skip
    assert main(["tune-lm", "--model", str(model), "--eval", str(dev)]) == 0
    scores = root / "scores.json"
    assert (
        main(["evaluate", "--model", str(model), "--data", str(dev), str(test), "--json", str(scores)]) == 0
    )
    return json.loads(scores.read_text()), str(dev), str(test)


def test_fsdd_held_out_recordings_reach_the_ten_percent_target(fsdd_scores):
    result, _, test = fsdd_scores
    scores = result["sets"][test]
    print(f"FSDD test: {json.dumps(scores)}; LM {result['lm']}")
    assert scores["utterances"] == 200
    assert scores["wer_lm"] <= 0.10  # the target, on recordings unseen in training and tuning
    assert scores["wer_greedy"] < 0.15  # the acoustic model alone is close to it


def test_fsdd_lm_weights_tuned_on_dev_help_there(fsdd_scores):
    result, dev, _ = fsdd_scores
    assert result["lm"]["alpha"] > 0  # the digit LM earned a weight
    assert result["sets"][dev]["wer_lm"] <= result["sets"][dev]["wer_greedy"]


def test_fsdd_tables_are_disjoint_and_the_unlabelled_audio_is_unlabelled_for_pretraining(
    real_data_dir, tmp_path
):
    import csv

    def paths(table, column="path"):
        with open(table, encoding="utf-8", newline="") as handle:
            return [row[column] for row in csv.DictReader(handle, delimiter="\t")]

    train, dev, test = fsdd_split(real_data_dir, tmp_path)
    low = fsdd_low_resource_split(real_data_dir, tmp_path)
    sets = {name: set(paths(table)) for name, table in
            (("train", train), ("dev", dev), ("test", test), ("labeled", low.labeled), ("unlabeled", low.unlabeled))}  # fmt: skip
    assert [len(sets[name]) for name in ("train", "dev", "test", "labeled", "unlabeled")] == [
        1600,
        200,
        200,
        200,
        1400,
    ]
    assert (
        not (sets["train"] & sets["dev"])
        and not (sets["train"] & sets["test"])
        and not (sets["dev"] & sets["test"])
    )
    assert sets["labeled"] | sets["unlabeled"] == sets["train"] and not (sets["labeled"] & sets["unlabeled"])
    assert all(name.rsplit("_", 1)[1] in {f"{i}.wav" for i in range(10, 15)} for name in sets["labeled"])
    pretrain = paths(low.pretrain)
    assert sets["train"] <= set(pretrain) and not (set(pretrain) & (sets["dev"] | sets["test"]))
    assert len(pretrain) > 1600 and not any(paths(low.pretrain, "transcript"))  # + real unlabelled speech
    assert (tmp_path / LM_TEXT_FILE).read_text().split() == [t for t in paths(train, "transcript")]
    with pytest.raises(ValueError, match="overlap"):
        fsdd_split(real_data_dir, tmp_path, dev_indices=range(3, 8))
