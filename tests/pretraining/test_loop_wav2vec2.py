"""wav2vec 2.0 pretraining end to end: the tiny preset learns on the built-in corpus + real speech.

One run (fixed seed) is shared by the tests of this module: it trains ``wav2vec2-tiny`` on 3 minutes
of the built-in corpus plus the real unlabeled LibriSpeech / LJSpeech set (mixed sample rates), then
the tests check what it learned, what it wrote, and that the export loads in stock transformers.
"""

import itertools
import json
from pathlib import Path

import pytest
import torch

from tests.pretraining.support import build_tiny_corpus, combined_table, run

STEPS = 60


def train_records(output_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]


def mean(records: list[dict], key: str) -> float:
    return sum(r[key] for r in records) / len(records)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, real_data_dir):
    corpus = build_tiny_corpus(tmp_path_factory.getbasetemp())
    work = tmp_path_factory.mktemp("wav2vec2-run")
    train = combined_table(corpus, real_data_dir, work / "train.tsv")
    output_dir = work / "out"
    result = run(
        [
            "--model_type", "wav2vec2",
            "--preset", "wav2vec2-tiny",
            "--train", str(train),
            "--valid", str(corpus / "dev.tsv"),
            "--output_dir", str(output_dir),
            "--max_steps", str(STEPS),
            "--save_steps", "30",
            "--cache_audio",
            "--progress_bar", "false",
            "--seed", "3",
        ]
    )  # fmt: skip
    return result, output_dir


def test_contrastive_loss_falls_and_accuracy_rises_above_chance(trained):
    result, output_dir = trained
    records = [r for r in train_records(output_dir) if r["split"] == "train"]
    assert [r["update"] for r in records] == list(range(1, STEPS + 1))
    chance = result.health["chance_accuracy"]
    assert chance == pytest.approx(1 / 11)
    first, last = records[:10], records[-10:]
    # Starts at chance: log(K + 1) = 2.40 nats for 10 distractors.
    assert mean(first, "contrastive_loss") > 2.3
    assert mean(last, "contrastive_loss") < mean(first, "contrastive_loss") - 0.15
    assert mean(last, "accuracy") > 1.8 * chance
    # The held-out dev speakers too (fixed masks: the same at both evaluations).
    assert result.first_valid["update"] == 0 and result.last_valid["update"] == STEPS
    assert result.last_valid["accuracy"] > 1.5 * chance
    assert result.last_valid["contrastive_loss"] < result.first_valid["contrastive_loss"] - 0.1


def test_codebook_stays_far_from_collapse(trained):
    result, output_dir = trained
    records = [r for r in train_records(output_dir) if r["split"] == "train"]
    groups = 2
    assert min(r["code_perplexity"] for r in records[-20:]) > 5 * groups
    assert result.health["healthy"] and result.health["events"] == []
    assert result.health["nonfinite_updates_skipped"] == 0


def test_schedules_follow_the_recipe(trained):
    _, output_dir = trained
    records = [r for r in train_records(output_dir) if r["split"] == "train"]
    rates = [r["learning_rate"] for r in records]
    warmup = 6  # 10% of 60
    assert rates[0] == 0.0 and rates[warmup] == pytest.approx(5e-3)
    assert all(a < b for a, b in itertools.pairwise(rates[: warmup + 1]))
    assert all(a > b for a, b in itertools.pairwise(rates[warmup:]))
    temperatures = [r["temperature"] for r in records]
    assert temperatures[0] == 2.0
    floor = round(0.7 * STEPS)  # the Gumbel floor is reached at 70% of the run
    assert temperatures[floor - 1] > 0.5 and temperatures[floor] == pytest.approx(0.5)
    assert all(r["tokens_per_update"] <= 6 * 32000 for r in records)


def test_outputs_checkpoints_logs_plots(trained):
    result, output_dir = trained
    assert not result.interrupted and result.updates == STEPS
    names = sorted(p.name for p in (output_dir / "checkpoints").iterdir())
    assert names == ["update-00000030", "update-00000060"]
    state = json.loads((output_dir / "checkpoints" / "update-00000060" / "trainer_state.json").read_text())
    assert state["update"] == STEPS and state["num_processes"] == 1
    assert (output_dir / "plots" / "curves.png").stat().st_size > 10_000
    assert list((output_dir / "runs").rglob("events.out.tfevents*")), "no tensorboard events written"
    summary = json.loads((output_dir / "pretraining_summary.json").read_text())
    assert summary["updates"] == STEPS and summary["audio_seconds"] > 0


def test_export_loads_in_stock_transformers(trained):
    from transformers import AutoFeatureExtractor, Wav2Vec2ForCTC, Wav2Vec2ForPreTraining

    _, output_dir = trained
    ctc = Wav2Vec2ForCTC.from_pretrained(output_dir).eval()
    pretraining = Wav2Vec2ForPreTraining.from_pretrained(output_dir).eval()
    extractor = AutoFeatureExtractor.from_pretrained(output_dir)
    assert extractor.sampling_rate == 16000 and extractor.do_normalize is False
    assert extractor.return_attention_mask is False  # group-norm encoder: no padding mask
    # The exported encoder is the trained one: same weights as the last checkpoint's.
    from safetensors.torch import load_file

    saved = load_file(output_dir / "checkpoints" / "update-00000060" / "model.safetensors")
    key = "model.wav2vec2.encoder.layers.0.attention.q_proj.weight"
    assert torch.equal(saved[key], pretraining.wav2vec2.encoder.layers[0].attention.q_proj.weight)
    assert torch.equal(saved[key], ctc.wav2vec2.encoder.layers[0].attention.q_proj.weight)
    with torch.no_grad():
        logits = ctc(torch.randn(1, 16000)).logits
    assert logits.shape[0] == 1 and torch.isfinite(logits).all()


def test_healthy_run_passes_the_stall_check(trained):
    """The stall check ran (from update 30 of 60) and let this learning run through."""
    result, output_dir = trained
    assert result.updates >= 30
    assert not [event for event in result.health["events"] if event["kind"] == "stalled"]
    records = [r for r in train_records(output_dir) if r["split"] == "train"]
    assert all(0.0 < r["context_similarity"] < 0.98 for r in records)


def test_a_run_that_cannot_learn_is_named_stalled_early(tmp_path, tmp_path_factory, real_data_dir, caplog):
    """The same run with a learning rate that cannot move the weights: the monitor names the stall at
    its first check (15% of a 200-update budget = update 30), with the measured numbers, and writes
    health.json while the run goes on."""
    corpus = build_tiny_corpus(tmp_path_factory.getbasetemp())
    train = combined_table(corpus, real_data_dir, tmp_path / "train.tsv")
    output_dir = tmp_path / "out"
    with caplog.at_level("WARNING", logger="wav2vec_hf.pretraining.health"):
        result = run(
            [
                "--model_type", "wav2vec2",
                "--preset", "wav2vec2-tiny",
                "--train", str(train),
                "--output_dir", str(output_dir),
                "--max_steps", "200",
                "--learning_rate", "1e-7",
                "--stop_after_steps", "31",  # a kill: no end-of-run health.json
                "--save_steps", "0",
                "--cache_audio",
                "--progress_bar", "false",
                "--report_to", "none",
                "--seed", "3",
            ]
        )  # fmt: skip
    assert result.interrupted
    health = json.loads((output_dir / "health.json").read_text())
    assert [(event["kind"], event["update"]) for event in health["events"]] == [("stalled", 30)]
    message = health["events"][0]["message"]
    assert "15% of its budget" in message and "x chance" in message
    assert "(flat)" in message and "Remedies:" in message
    assert any("stalled" in record.getMessage() for record in caplog.records)
