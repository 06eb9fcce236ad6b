"""Continued pretraining continues: ``--init_from`` takes the recipe and the update count of the folder's
``pretraining_state.json`` (converted fairseq checkpoints and our own exports), so the learning rate and
the Gumbel temperature go on where the saved run stopped.

Which update a logged value belongs to: ``metrics.jsonl``'s train record ``"update": u`` is the u-th
update, run with u - 1 updates done, and holds the learning rate and temperature that update used. In
fairseq that update runs with ``trainer.get_num_updates() == u - 1``: its forward uses the temperature
``set_num_updates(u - 1)`` set (``max(end, start * decay ** (u - 1))``) and its optimizer step the
learning rate ``lr_scheduler.step_update(u - 1)`` set (called after the previous update with the new
count, or at checkpoint load with the loaded count). So record u is compared with fairseq's formulas
at u - 1 = num_updates, num_updates + 1, num_updates + 2.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.pretraining.support import build_tiny_corpus, run
from wav2vec_hf.convert.checkpoint import load_fairseq_checkpoint
from wav2vec_hf.pretraining.arguments import parse_arguments
from wav2vec_hf.pretraining.pretraining_state import PRETRAINING_STATE_FILE, read_pretraining_state

QUIET = ["--progress_bar", "false", "--report_to", "none", "--plots", "false"]
# The tiny corpus's utterances are short: crops, minimum length and batch size fit it (overrides).
SMALL_DATA = ["--crop_samples", "32000", "--min_samples", "0", "--max_batch_samples", "64000"]


def train_records(output_dir: Path) -> list[dict]:
    lines = (output_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["split"] == "train"]


# --- fairseq's formulas, from the checkpoint's own cfg ----------------------------------------


def fairseq_polynomial_decay_lr(cfg: dict, num_updates: int, max_update: int) -> float:
    """fairseq ``PolynomialDecayLRSchedule.step_update(num_updates)``; ``total_num_update`` is hydra's
    ``${optimization.max_update}``, i.e. ``max_update`` of the run."""
    scheduler = cfg["lr_scheduler"]
    assert scheduler["_name"] == "polynomial_decay"
    peak = cfg["optimization"]["lr"][0]
    warmup, end, power = scheduler["warmup_updates"], scheduler["end_learning_rate"], scheduler["power"]
    if warmup > 0 and num_updates <= warmup:
        return num_updates / float(warmup) * peak
    if num_updates >= max_update:
        return end
    remaining = 1 - (num_updates - warmup) / (max_update - warmup)
    return (peak - end) * remaining**power + end


def fairseq_temperature(cfg: dict, num_updates: int) -> float:
    """fairseq ``GumbelVectorQuantizer.set_num_updates(num_updates)``: ``curr_temp``."""
    start, end, decay = cfg["model"]["latent_temp"]
    return max(start * decay**num_updates, end)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_tiny_corpus(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def converted(fairseq_fixtures_dir, tmp_path_factory):
    """``fixture name -> (converted folder, checkpoint)`` (converted once per module)."""
    from wav2vec_hf.convert.fairseq import convert_fairseq_checkpoint

    folders = {}

    def convert(name: str):
        if name not in folders:
            target = tmp_path_factory.mktemp(f"converted-{name}")
            convert_fairseq_checkpoint(fairseq_fixtures_dir / name / "model.pt", target)
            folders[name] = (target, load_fairseq_checkpoint(fairseq_fixtures_dir / name / "model.pt"))
        return folders[name]

    return convert


# --- 1 + 2: converted fairseq checkpoints -----------------------------------------------------


@pytest.mark.parametrize("fixture", ["wav2vec2_base", "wav2vec2_large_lv60"])
def test_converted_checkpoint_continues_fairseqs_schedules(fixture, converted, corpus, tmp_path, caplog):
    folder, checkpoint = converted(fixture)
    cfg, done = checkpoint.cfg, checkpoint.num_updates
    assert done > 0
    assert cfg["lr_scheduler"]["total_num_update"] == cfg["optimization"]["max_update"]  # interpolated
    total = done + 3  # the fixtures stopped at (base) or before (LV-60) max_update: run 3 more
    output_dir = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="wav2vec_hf.pretraining.arguments"):
        result = run(
            [
                "--model_type", "wav2vec2",
                "--init_from", str(folder),  # no --preset: the recipe is the checkpoint's
                "--train", str(corpus / "dev.tsv"),
                "--output_dir", str(output_dir),
                "--max_steps", str(total),
                *SMALL_DATA,
                *QUIET,
            ]
        )  # fmt: skip
    assert result.updates == total and not result.interrupted
    records = train_records(output_dir)
    assert [r["update"] for r in records] == [done + 1, done + 2, done + 3]
    for record in records:
        before = record["update"] - 1  # fairseq's get_num_updates() while it runs this update
        assert record["temperature"] == pytest.approx(fairseq_temperature(cfg, before), rel=1e-12)
        expected_lr = fairseq_polynomial_decay_lr(cfg, before, max_update=total)
        assert record["learning_rate"] == pytest.approx(expected_lr, rel=1e-9, abs=1e-15)
    # Not the restart the loop used to do: warm-up from 0 and the temperature back at its start.
    assert records[0]["learning_rate"] > 0 and records[0]["temperature"] < cfg["model"]["latent_temp"][0]

    # The other recipe fields are the checkpoint's as well.
    run_config = json.loads((output_dir / "run_config.json").read_text())
    assert run_config["init.start_update"] == done
    assert run_config["recipe.learning_rate"] == cfg["optimization"]["lr"][0]
    assert run_config["recipe.normalize"] is cfg["task"]["normalize"]
    assert run_config["recipe.feature_grad_mult"] == cfg["model"]["feature_grad_mult"]
    assert run_config["recipe.feature_penalty_weight"] == cfg["criterion"]["loss_weights"][1]
    assert run_config["recipe.gumbel_temperature"] == list(cfg["model"]["latent_temp"])
    # The export's feature extractor normalises as the checkpoint's task did (LV-60: true).
    preprocessor = json.loads((output_dir / "preprocessor_config.json").read_text())
    assert preprocessor["do_normalize"] is cfg["task"]["normalize"]

    # Each option that changed a value of the checkpoint is reported and recorded.
    overridden = {o["field"]: o for o in run_config["init.overrides"]}
    assert set(overridden) == {"max_steps", "crop_samples", "min_samples", "max_batch_samples"}
    assert overridden["max_steps"]["checkpoint"] == cfg["optimization"]["max_update"]
    assert overridden["max_steps"]["value"] == total
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        f"overriding the checkpoint's max_steps {cfg['optimization']['max_update']} with {total}" in m
        for m in messages
    )
    assert len([m for m in messages if m.startswith("overriding the checkpoint's")]) == 4

    # The export records where it got to, with the checkpoint's recipe.
    state = read_pretraining_state(output_dir)
    assert state is not None and state.num_updates == total
    assert state.recipe["learning_rate"] == cfg["optimization"]["lr"][0]
    assert state.recipe["normalize"] is cfg["task"]["normalize"]


def test_recipe_comes_from_the_checkpoint_and_options_win(converted, tmp_path, caplog):
    folder, checkpoint = converted("wav2vec2_base")
    cfg = checkpoint.cfg
    base = ["--model_type", "wav2vec2", "--init_from", str(folder), "--train", "x", "--output_dir", "o"]
    more = ["--max_steps", str(checkpoint.num_updates + 10)]

    plain = parse_arguments(base + more)
    recipe = plain.recipe
    assert plain.start_update == checkpoint.num_updates
    assert [o["field"] for o in plain.overrides] == ["max_steps"]  # above the checkpoint's
    assert recipe.learning_rate == cfg["optimization"]["lr"][0]
    assert recipe.warmup_steps == cfg["lr_scheduler"]["warmup_updates"]
    assert recipe.end_learning_rate == cfg["lr_scheduler"]["end_learning_rate"]
    assert recipe.normalize is cfg["task"]["normalize"] is False
    assert recipe.feature_grad_mult == cfg["model"]["feature_grad_mult"]
    assert recipe.feature_penalty_weight == cfg["criterion"]["loss_weights"][1]
    assert recipe.gumbel_temperature == tuple(cfg["model"]["latent_temp"])
    assert recipe.weight_decay == cfg["optimizer"]["weight_decay"]
    assert recipe.adam_epsilon == cfg["optimizer"]["adam_eps"]
    # Without --max_steps the total is the checkpoint's max_update.
    lv60_folder, lv60 = converted("wav2vec2_large_lv60")
    lv60_config = parse_arguments(
        ["--model_type", "wav2vec2", "--init_from", str(lv60_folder), "--train", "x", "--output_dir", "o"]
    )
    assert lv60_config.recipe.max_steps == lv60.cfg["optimization"]["max_update"]
    assert lv60_config.recipe.normalize is lv60.cfg["task"]["normalize"] is True
    assert lv60_config.start_update == lv60.num_updates

    # --preset only fills what the record lacks (segments); the record's values stay.
    with_preset = parse_arguments(base + more + ["--preset", "wav2vec2-small-cpu"]).recipe
    assert (
        with_preset.segment_seconds
        == parse_arguments(
            [
                "--model_type",
                "wav2vec2",
                "--preset",
                "wav2vec2-small-cpu",
                "--train",
                "x",
                "--output_dir",
                "o",
            ]
        ).recipe.segment_seconds
    )
    assert with_preset.learning_rate == cfg["optimization"]["lr"][0]
    assert with_preset.feature_penalty_weight == cfg["criterion"]["loss_weights"][1]

    # Options win, and each change of a checkpoint value is reported.
    with caplog.at_level(logging.WARNING, logger="wav2vec_hf.pretraining.arguments"):
        overridden = parse_arguments(
            base + more + ["--learning_rate", "1e-4", "--normalize", "true", "--gumbel_end", "0.25"]
        )
    assert overridden.recipe.learning_rate == 1e-4 and overridden.recipe.normalize is True
    start, _, decay = cfg["model"]["latent_temp"]
    assert overridden.recipe.gumbel_temperature == (start, 0.25, decay)
    fields = {o["field"] for o in overridden.overrides}
    assert fields == {"max_steps", "learning_rate", "normalize", "gumbel_temperature"}
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert f"overriding the checkpoint's learning_rate {cfg['optimization']['lr'][0]} with 0.0001" in messages
    assert "overriding the checkpoint's normalize False with True" in messages

    # --reset_updates: the same recipe, from update 0.
    reset = parse_arguments([*base, "--reset_updates"])
    assert reset.start_update == 0 and reset.recipe.learning_rate == cfg["optimization"]["lr"][0]


# --- 3: our own exports ------------------------------------------------------------------------


def test_own_export_continues_like_the_uninterrupted_run(corpus, tmp_path):
    done, total = 3, 6
    tiny = ["--model_type", "wav2vec2", "--train", str(corpus / "dev.tsv"), "--max_batch_samples", "64000"]
    full = tmp_path / "full"
    run([*tiny, "--preset", "wav2vec2-tiny", "--output_dir", str(full), "--max_steps", str(total),
         "--export_steps", str(done), *QUIET])  # fmt: skip
    export = full / "exports" / f"update-{done:08d}"
    state = read_pretraining_state(export)
    assert state is not None and state.num_updates == done
    assert state.recipe["max_steps"] == total and state.recipe["gumbel_floor_fraction"] is None
    assert read_pretraining_state(full).num_updates == total  # the final export

    continued = tmp_path / "continued"
    result = run([*tiny, "--init_from", str(export), "--output_dir", str(continued), *QUIET])
    assert result.updates == total
    uninterrupted = {r["update"]: r for r in train_records(full)}
    records = train_records(continued)
    assert [r["update"] for r in records] == list(range(done + 1, total + 1))
    for record in records:
        assert record["learning_rate"] == uninterrupted[record["update"]]["learning_rate"]
        assert record["temperature"] == uninterrupted[record["update"]]["temperature"]
    # The schedules are still moving there (the check is not vacuous).
    assert len({r["temperature"] for r in records}) > 1 and len({r["learning_rate"] for r in records}) > 1
    assert json.loads((continued / "run_config.json").read_text())["init.overrides"] == []

    # --resume of a continued run restores its own update count from its checkpoint.
    resumed = tmp_path / "resumed"
    interrupted = run([*tiny, "--init_from", str(export), "--output_dir", str(resumed),
                       "--save_steps", "1", "--stop_after_steps", "1", *QUIET])  # fmt: skip
    assert interrupted.interrupted and interrupted.updates == done + 1
    finished = run([*tiny, "--init_from", str(export), "--output_dir", str(resumed), "--resume", *QUIET])
    assert finished.updates == total
    assert [(r["update"], r["learning_rate"], r["temperature"]) for r in train_records(resumed)] == [
        (r["update"], r["learning_rate"], r["temperature"]) for r in records
    ]


# --- 4: nothing left to do ---------------------------------------------------------------------


def test_a_finished_checkpoint_is_a_clear_error(converted, tmp_path, capsys):
    folder, checkpoint = converted("wav2vec2_base")
    cfg = checkpoint.cfg
    assert checkpoint.num_updates >= cfg["optimization"]["max_update"]  # the fixture finished its run
    argv = [
        "--model_type",
        "wav2vec2",
        "--init_from",
        str(folder),
        "--train",
        "x",
        "--output_dir",
        str(tmp_path),
    ]
    with pytest.raises(ValueError, match=rf"done {checkpoint.num_updates} updates.*--max_steps"):
        parse_arguments(argv)
    with pytest.raises(ValueError, match="nothing is left to do"):
        parse_arguments([*argv, "--max_steps", str(checkpoint.num_updates)])

    from wav2vec_hf.commands.pretrain import main

    assert main(argv) == 2
    assert "pretrain: error: --init_from" in capsys.readouterr().err


def test_a_broken_record_is_refused(tmp_path):
    (tmp_path / PRETRAINING_STATE_FILE).write_text(
        json.dumps(
            {
                "format": "wav2vec-hf pretraining state",
                "version": 1,
                "num_updates": 5,
                "recipe": {"learning_rate": "fast"},
            }
        )
    )
    with pytest.raises(ValueError, match=r"recipe\.learning_rate='fast'"):
        read_pretraining_state(tmp_path)
