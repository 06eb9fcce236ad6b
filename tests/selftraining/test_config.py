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


def test_a_folder_written_before_a_setting_existed_resumes_at_its_default(tmp_path):
    """A run folder's settings file lacks a setting added later (that run used its default): the same
    settings resume; the new setting at another value, or any other change, is refused."""
    import json
    from dataclasses import replace
    from pathlib import Path

    from wav2vec_hf.selftraining import rounds

    config = _config(tmp_path)
    root = Path(config.output_dir)
    root.mkdir()
    older = {k: v for k, v in config.to_json().items() if k != "balance_transcripts"}
    (root / "self_training.json").write_text(json.dumps(older))  # the settings' name before 2026-12
    rounds._check_config(root, config)
    assert json.loads((root / rounds.CONFIG_FILE).read_text()) == config.to_json()
    (root / rounds.CONFIG_FILE).write_text(json.dumps(older))
    with pytest.raises(ValueError, match="balance_transcripts"):
        rounds._check_config(root, replace(config, balance_transcripts=True))
    with pytest.raises(ValueError, match="seed"):
        rounds._check_config(root, replace(config, seed=3))
