"""Bad self-training settings are refused up front, naming the field and the fix."""

from __future__ import annotations

import pytest

from wav2vec_hf.selftraining import SelfTrainingConfig


def _config(tmp_path, **changes):
    text = tmp_path / "lm.txt"
    text.write_text("A B\n")
    settings = dict(
        pretrained="p", labeled="l.tsv", unlabeled="u.tsv", dev="d.tsv", output_dir=str(tmp_path / "o")
    )
    settings["lm_text"] = [str(text)]
    settings.update(changes)
    return SelfTrainingConfig(**settings)


def test_valid_settings_are_kept(tmp_path):
    config = _config(tmp_path, lm_text=str(tmp_path / "lm.txt"), finetune_args=["--max_steps", 10])
    assert config.lm_text == [str(tmp_path / "lm.txt")] and config.finetune_args == ["--max_steps", "10"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_best": 60, "beam_width": 50}, "n_best=60 > beam_width=50"),
        ({"finetune_args": ["--output_dir", "x"]}, "--output_dir"),
        ({"finetune_args": ["--seed=3"]}, "--seed"),
        ({"rounds": 0}, "rounds=0"),
        ({"keep_fraction": 1.5}, "keep_fraction"),
        ({"lm_text": []}, "lm_text"),
    ],
)
def test_bad_settings_are_refused(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        _config(tmp_path, **changes)


def test_missing_lm_text_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere\.txt"):
        _config(tmp_path, lm_text=[str(tmp_path / "nowhere.txt")])
