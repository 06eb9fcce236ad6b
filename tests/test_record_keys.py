"""Readers of run records name their keys through the writers' types: a misspelt or renamed key is a
KeyError naming the file, never a card row that quietly reads "not recorded"."""

import pytest

from wav2vec_hf.pretraining.arguments import run_config_key
from wav2vec_hf.pretraining.run_summary import summary_key


def test_known_keys_pass_through():
    assert run_config_key("recipe", "max_steps") == "recipe.max_steps"
    assert run_config_key("recipe", "name") == "recipe.name"
    assert run_config_key("training", "seed") == "training.seed"
    assert summary_key("updates") == "updates" and summary_key("hardware") == "hardware"


@pytest.mark.parametrize(
    ("read", "message"),
    [
        (
            lambda: run_config_key("recipe", "max_updates"),
            r"run_config.json has no key 'max_updates' \(PretrainingRecipe",
        ),
        (lambda: run_config_key("trainer", "seed"), "run_config.json has no section 'trainer'"),
        (lambda: run_config_key("init", "from"), "run_config.json has no key init.from"),
        (lambda: summary_key("update"), r"pretraining_summary.json has no key 'update' \(PretrainingResult"),
    ],
)
def test_unknown_keys_are_errors_that_name_the_file(read, message):
    with pytest.raises(KeyError, match=message):
        read()
