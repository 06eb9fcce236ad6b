"""finetuning.json's typed record: read tolerantly, named strictly (issue 22 item 3)."""

from __future__ import annotations

import dataclasses

import pytest

from wav2vec_hf.finetuning.arguments import FinetuneModelArguments, RecipeArguments
from wav2vec_hf.finetuning.run_record import FinetuningArgumentsRecord, FinetuningRecord


def test_an_older_or_partial_record_reads_with_gaps_as_none():
    record = FinetuningRecord.from_dict(
        {"model": "m", "arguments": {"model": None, "seed": 3, "gone": 1}, "metrics": None, "extra": {}}
    )
    assert record.model == "m" and record.arguments.seed == 3 and record.metrics == {}
    assert record.arguments.model_option("layerdrop") is None and record.train_minutes is None
    assert FinetuningRecord.from_dict(None) == FinetuningRecord()


def test_options_are_read_by_the_names_the_argument_dataclasses_have():
    model = dataclasses.asdict(FinetuneModelArguments(model="m", layerdrop=0.1))
    recipe = dataclasses.asdict(RecipeArguments(head_steps=7))
    arguments = FinetuningArgumentsRecord(model=model, recipe=recipe)
    assert arguments.model_option("layerdrop") == 0.1 and arguments.recipe_option("head_steps") == 7
    with pytest.raises(KeyError, match=r"finetuning.json has no key 'layer_drop' \(FinetuneModelArguments"):
        arguments.model_option("layer_drop")
    with pytest.raises(KeyError, match="RecipeArguments"):
        arguments.recipe_option("head_updates")


def test_a_record_round_trips_through_its_json_object():
    record = FinetuningRecord(
        model="m",
        arguments=FinetuningArgumentsRecord(model={"model": "m"}, adam_betas=[0.9, 0.98], seed=1),
        schedule={"kind": "fairseq", "description": "tri-stage"},
        metrics={"eval_wer": 0.5},
        hardware={"device": "cpu"},
    )
    assert FinetuningRecord.from_dict(record.to_dict()) == record
    with pytest.raises(TypeError):
        FinetuningRecord(train_seconds=3.0)  # a renamed field is an error where records are built
