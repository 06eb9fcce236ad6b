"""Arguments (recipes, config files, errors), bad data, NaN updates and export requests of the loop."""

import json
from pathlib import Path

import pytest
import torch

from tests.pretraining.support import build_tiny_corpus, run
from wav2vec_hf.data import DataValidationError
from wav2vec_hf.presets import get_recipe
from wav2vec_hf.pretraining.arguments import parse_arguments
from wav2vec_hf.pretraining.health import TrainingDivergedError
from wav2vec_hf.pretraining.tasks import StepOutput, Wav2Vec2Task


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return build_tiny_corpus(tmp_path_factory.getbasetemp())


def quick(corpus: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        "--model_type", "wav2vec2",
        "--preset", "wav2vec2-tiny",
        "--train", str(corpus / "dev.tsv"),
        "--output_dir", str(output_dir),
        "--max_steps", "3",
        "--max_batch_samples", "64000",
        "--progress_bar", "false",
        "--report_to", "none",
        "--plots", "false",
        *extra,
    ]  # fmt: skip


# --- arguments -------------------------------------------------------------------------------


def test_recipe_fills_unset_options_and_command_line_wins_over_config_file(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "model:\n  model_type: wav2vec2\n  preset: wav2vec2-base\n"
        "training:\n  max_steps: 1000\n  learning_rate: 0.001\n  update_freq: 8\n"
        "data:\n  train: train.tsv\n"
    )
    parsed = parse_arguments(
        ["--config", str(config), "--output-dir", str(tmp_path), "--learning-rate", "2e-4"]
    )
    recipe = parsed.recipe
    assert recipe.learning_rate == 2e-4  # command line over file
    assert recipe.max_steps == 1000 and recipe.update_freq == 8  # file over recipe
    base = get_recipe("wav2vec2-base")
    assert recipe.warmup_steps == base.warmup_steps == 32_000  # recipe
    assert recipe.feature_grad_mult == 0.1 and recipe.crop_samples == 250_000
    assert recipe.max_batch_samples == 1_400_000 and recipe.adam_betas == (0.9, 0.98)
    assert parsed.data.train == "train.tsv"


def test_json_config_and_gumbel_floor_scaling(tmp_path):
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"model_type": "wav2vec2", "preset": "wav2vec2-small-cpu", "train": "x"}))
    parsed = parse_arguments(["--config", str(config), "--output_dir", str(tmp_path), "--max_steps", "100"])
    schedule = parsed.gumbel_schedule()
    assert schedule.temperature(0) == 2.0
    assert schedule.temperature(69) > 0.5 and schedule.temperature(70) == pytest.approx(0.5)
    assert parsed.warmup_steps == 25  # the recipe's 25% of 100
    paper = parse_arguments(
        [
            "--model_type",
            "wav2vec2",
            "--preset",
            "wav2vec2-base",
            "--train",
            "x",
            "--output_dir",
            str(tmp_path),
        ]
    )
    assert (
        paper.gumbel_schedule().decay == 0.999995
        and paper.gumbel_schedule().floor_update == pytest.approx(277_258, rel=1e-3)
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--preset", "wav2vec2-tiny", "--train", "x", "--output_dir", "o"], "--model_type is required"),
        (["--model_type", "wav2vec2", "--train", "x", "--output_dir", "o"], "--preset NAME, --model_config"),
        (["--model_type", "wav2vec2", "--preset", "wav2vec2-tiny", "--train", "x"], "--output_dir is required"),
        (["--model_type", "wav2vec2", "--preset", "wav2vec2-tiny", "--output_dir", "o"], "--train is required"),
        (["--model_type", "units-bert", "--preset", "units-bert-tiny", "--train", "x", "--output_dir", "o"], "--quantizer"),
        (
            ["--model_type", "wav2vec", "--preset", "wav2vec-tiny", "--train", "x", "--output_dir", "o",
             "--crop_to_shortest", "false"],
            "no padding mask",
        ),
    ],
)  # fmt: skip
def test_argument_errors_say_what_to_do(argv, message):
    with pytest.raises(ValueError, match=message):
        parse_arguments(argv)


def test_config_file_with_an_unknown_option_names_it(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("model_type: wav2vec2\nlearning_rat: 0.1\n")
    with pytest.raises(ValueError, match=r"run.yaml: unknown option\(s\) learning_rat"):
        parse_arguments(["--config", str(config)])


def test_unknown_model_config_override_is_refused(corpus, tmp_path):
    with pytest.raises(ValueError, match=r"has no field.*layer_drop"):
        run(quick(corpus, tmp_path / "out", "--config_overrides", "layer_drop=0.1"))


def test_cli_alias_reports_bad_arguments(capsys):
    from wav2vec_hf.cli import main

    assert main(["pretrain", "--model_type", "wav2vec2", "--train", "x", "--output_dir", "o"]) == 2
    assert "--preset NAME" in capsys.readouterr().err


# --- bad data --------------------------------------------------------------------------------


def manifest_with_a_missing_file(corpus: Path, target: Path) -> Path:
    lines = (corpus / "dev.tsv").read_text().splitlines()
    lines.append("audio/dev/missing.wav\t32000")
    target.write_text("\n".join(lines) + "\n")
    return target


def test_bad_audio_is_an_error_before_training(corpus, tmp_path):
    manifest = manifest_with_a_missing_file(corpus, tmp_path / "bad.tsv")
    argv = quick(corpus, tmp_path / "out")
    argv[argv.index("--train") + 1] = str(manifest)
    with pytest.raises(DataValidationError, match=r"(?s)missing_file: 1.*missing\.wav"):
        run(argv)
    assert not (tmp_path / "out" / "checkpoints").exists()


def test_bad_audio_is_skipped_counted_and_reported_with_on_bad_skip(corpus, tmp_path):
    manifest = manifest_with_a_missing_file(corpus, tmp_path / "bad.tsv")
    argv = quick(corpus, tmp_path / "out", "--on_bad", "skip")
    argv[argv.index("--train") + 1] = str(manifest)
    result = run(argv)
    assert result.updates == 3
    (report,) = [r for r in result.data_skips if r["skipped"]]
    assert report["counts"] == {"missing_file": 1} and report["examples"]["missing_file"][0].endswith(
        "missing.wav"
    )
    summary = json.loads((tmp_path / "out" / "pretraining_summary.json").read_text())
    assert any(r["skipped"] == 1 for r in summary["data_skips"])


# --- NaN / inf -------------------------------------------------------------------------------


def poison_steps(monkeypatch, bad_calls: set[int]):
    """Make the loss NaN on the given micro-batch calls (0-based) of Wav2Vec2Task.step."""
    original = Wav2Vec2Task.step
    calls = {"n": 0}

    def step(self, module, batch):
        out = original(self, module, batch)
        index = calls["n"]
        calls["n"] += 1
        if index in bad_calls:
            loss = out.loss * torch.tensor(float("nan"))
            return StepOutput(loss, {**out.metrics, "loss": loss.detach()}, out.weight)
        return out

    monkeypatch.setattr(Wav2Vec2Task, "step", step)


def test_nan_update_is_skipped_and_counted(corpus, tmp_path, monkeypatch):
    poison_steps(monkeypatch, {1})  # the second update (the first is 0)
    result = run(quick(corpus, tmp_path / "out"))
    assert result.updates == 3 and result.health["nonfinite_updates_skipped"] == 1
    records = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["split"], r["update"]) for r in records] == [
        ("train", 1),
        ("skipped", 1),
        ("train", 2),
        ("train", 3),
    ]
    # The skipped update changed nothing: the learning rate of update index 1 is used by the next one.
    assert records[2]["learning_rate"] == pytest.approx(5e-3 * 1 / 1)  # warm-up of 1 update (10% of 3)
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in records if r["split"] == "train")
    assert (
        "NaN/inf" in result.health["events"][0]["message"]
        or result.health["events"][0]["kind"] == "nonfinite"
    )


def test_persistent_nan_stops_with_a_clear_message(corpus, tmp_path, monkeypatch):
    poison_steps(monkeypatch, set(range(1, 100)))
    with pytest.raises(
        TrainingDivergedError, match=r"4 consecutive updates had a NaN/inf.*lower the learning rate"
    ):
        run(quick(corpus, tmp_path / "out", "--max_nonfinite_updates", "4"))
    health = json.loads((tmp_path / "out" / "health.json").read_text())
    assert health["nonfinite_updates_skipped"] == 4


# --- exports ---------------------------------------------------------------------------------


def test_export_on_request(corpus, tmp_path):
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    (output_dir / "EXPORT").touch()
    result = run(quick(corpus, output_dir, "--max_steps", "2"))
    assert not (output_dir / "EXPORT").exists()
    first = output_dir / "exports" / "update-00000001"
    assert (first / "config.json").is_file() and (first / "preprocessor_config.json").is_file()
    from transformers import Wav2Vec2ForPreTraining

    early = Wav2Vec2ForPreTraining.from_pretrained(first)
    final = Wav2Vec2ForPreTraining.from_pretrained(result.export_dir)
    weight = "project_q.weight"
    assert not torch.equal(early.state_dict()[weight], final.state_dict()[weight])  # one more update since


def test_export_only_writes_the_latest_checkpoint(corpus, tmp_path):
    output_dir = tmp_path / "out"
    run(quick(corpus, output_dir, "--max_steps", "2", "--save_steps", "1", "--stop_after_steps", "2"))
    assert not (output_dir / "model.safetensors").exists()  # stopped: no export yet
    result = run(quick(corpus, output_dir, "--export_only"))
    assert result.updates == 2 and (output_dir / "model.safetensors").is_file()


def test_bf16_autocast_with_gradient_checkpointing(corpus, tmp_path):
    result = run(
        quick(
            corpus,
            tmp_path / "out",
            "--mixed_precision",
            "bf16",
            "--gradient_checkpointing",
            "--max_steps",
            "2",
        )
    )
    records = [json.loads(line) for line in (tmp_path / "out" / "metrics.jsonl").read_text().splitlines()]
    assert result.updates == 2 and all(torch.isfinite(torch.tensor(r["loss"])) for r in records)
    from transformers import Wav2Vec2ForPreTraining

    exported = Wav2Vec2ForPreTraining.from_pretrained(result.export_dir)
    assert next(exported.parameters()).dtype == torch.float32  # master weights stay fp32


def test_non_finite_audio_is_found_before_training_skipped_and_counted_once(corpus, tmp_path):
    """A small set is decoded up front (validation, decode="auto"), so the NaN file is dropped before
    the first update and counted once; sets too large for that are checked at load time
    (tests/data/test_validation.py)."""
    import numpy as np
    import soundfile

    waveform = np.random.default_rng(0).standard_normal(40_000).astype(np.float32) * 0.1
    waveform[1000] = np.nan  # the header is fine; only decoding finds it
    soundfile.write(tmp_path / "nan.wav", waveform, 16000, subtype="FLOAT")
    lines = (corpus / "dev.tsv").read_text().splitlines()
    rows = ["path\tnum_samples", f"{tmp_path / 'nan.wav'}\t40000"]
    rows += [f"{Path(lines[0]) / line.split(chr(9))[0]}\t{line.split(chr(9))[1]}" for line in lines[1:3]]
    table = tmp_path / "train.tsv"
    table.write_text("\n".join(rows) + "\n")
    argv = quick(corpus, tmp_path / "out", "--on_bad", "skip", "--segment_seconds", "0", "--max_steps", "4")
    argv[argv.index("--train") + 1] = str(table)
    result = run(argv)
    assert result.updates == 4
    (report,) = [r for r in result.data_skips if r["skipped"]]
    assert not report["source"].endswith("(while loading)") and report["counts"] == {"non_finite": 1}
    assert report["examples"]["non_finite"][0].endswith("nan.wav")


def test_a_preset_is_one_object_and_one_without_a_recipe_cannot_exist():
    from transformers import Wav2Vec2Config

    from wav2vec_hf.finetuning.paper_recipes import recipe_names
    from wav2vec_hf.presets import list_presets, preset, register_preset
    from wav2vec_hf.pretraining.training_recipes import PretrainingRecipe

    for name in list_presets():
        entry = preset(name)
        assert isinstance(entry.recipe, PretrainingRecipe) and entry.recipe.source  # says where from
        assert get_recipe(name) is entry.recipe
        assert set(entry.finetuning_recipes) <= set(recipe_names())
    assert preset("wav2vec2-base").finetuning_recipes[0] == "base_10m"
    assert preset("wav2vec2-large-lv60").finetuning_recipes[-1] == "vox_960h"
    with pytest.raises(TypeError, match="recipe"):
        register_preset("no-recipe", Wav2Vec2Config, "a model alone")  # the recipe is required
    with pytest.raises(ValueError, match="recipe= must be a PretrainingRecipe"):
        register_preset("bad-recipe", Wav2Vec2Config, "a model alone", recipe={"learning_rate": 1e-3})
    assert "no-recipe" not in list_presets() and "bad-recipe" not in list_presets()
    with pytest.raises(KeyError, match="unknown preset 'nowhere'"):
        get_recipe("nowhere")
