"""``wav2vec-hf demo`` end to end at the plumbing scale, and its parts that decide pass / fail.

The end-to-end run (``--scale test``: seconds of audio, a handful of updates) checks what the demo
writes, not how accurate it is: results.json, the claims table (markdown + JSON, consistent with
each model's evaluation.json), PNG plots, model cards and a dry-run Hub folder whose card
huggingface_hub parses. Self-training is skipped there (``--skip-self-training``); the table's
self-training rows and the claim guard are tested on given numbers.
"""

import json
import math
import subprocess
import sys

import pytest

from wav2vec_hf.recipes import demo
from wav2vec_hf.recipes.demo_steps.claims import (
    PretrainingClaimNotShown,
    build_table,
    check_pretraining_beats_scratch,
    table_markdown,
)
from wav2vec_hf.recipes.demo_steps.scales import SCALES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "run"
    command = [
        sys.executable, "-m", "wav2vec_hf.cli", "demo",
        "--output-dir", str(out), "--scale", "test", "--seeds", "2",
        "--skip-self-training", "--no-claim-check",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, result.stdout


def test_every_step_is_recorded_with_its_seconds(demo_run):
    out, stdout = demo_run
    results = json.loads((out / "results.json").read_text())
    titles = [title for title, _ in demo.STEPS]
    assert results["demo"]["steps"] == titles
    assert results["demo"]["scale"] == "test" and results["demo"]["seeds"] == [0, 1]
    for title in titles:
        assert results[title]["seconds"] >= 0, title
        assert f"] {title}" in stdout
    assert results["one round of self-training"]["skipped"] is True
    # The corpus as built is what the data layer validates.
    built = results["build the built-in corpus"]["splits"]
    checked = results["validate the corpus with the data layer"]
    for split in ("unlabeled", "labeled", "dev", "test"):
        assert checked[split]["utterances"] == built[split]["utterances"] > 0
        assert abs(checked[split]["seconds"] - built[split]["seconds"]) < 0.05
    assert checked["labeled"]["with_transcript"] == checked["labeled"]["utterances"]
    # Pretraining ran the loop for the scale's updates and wrote its metrics.
    pretrain = results["pretrain wav2vec 2.0"]
    assert pretrain["updates"] == 4
    metrics = (out / "pretrain" / "wav2vec2" / "metrics.jsonl").read_text().splitlines()
    assert sum(json.loads(line)["split"] == "train" for line in metrics) == 4
    family = results["pretrain wav2vec and vq-wav2vec briefly"]
    assert set(family) == {"wav2vec", "vq-wav2vec", "seconds"}
    codebook = family["vq-wav2vec"]["codebook"]
    assert 1 <= codebook["distinct_combinations"] <= codebook["possible_combinations"] == 16**2
    assert codebook["max_bits_per_second"] == pytest.approx(100 * 2 * 4)  # 100 frames/s, G = 2, log2 16
    assert (out / "demo.log").is_file()


def test_table_matches_each_models_evaluation(demo_run):
    out, stdout = demo_run
    table = json.loads((out / "claims.json").read_text())
    assert [(r["model"], r["decoder"]) for r in table["rows"]] == [
        ("from scratch", "greedy"),
        ("pretrained", "greedy"),
        ("from scratch", "4-gram LM"),
        ("pretrained", "4-gram LM"),
    ]
    for row in table["rows"]:
        arm = "scratch" if row["model"] == "from scratch" else "pretrained"
        decoder = "greedy" if row["decoder"] == "greedy" else "lm"
        for split in ("dev", "test"):
            for metric in ("cer", "wer"):
                per_seed = []
                for seed in (0, 1):
                    evaluation = json.loads(
                        (out / "finetune" / f"{arm}-seed{seed}" / "evaluation.json").read_text()
                    )
                    (entry,) = [
                        e
                        for e in evaluation["results"]
                        if e["dataset"]["split"] == split and e["decoder"] == decoder
                    ]
                    per_seed.append(entry[metric])
                assert row[f"{split}_{metric}_per_seed"] == pytest.approx(per_seed)
                assert row[f"{split}_{metric}"] == pytest.approx(sum(per_seed) / 2)
                assert math.isfinite(row[f"{split}_{metric}"]) and row[f"{split}_{metric}"] >= 0
    markdown = (out / "claims.md").read_text()
    assert "| model | decoder | seeds | dev CER | dev WER | test CER | test WER |" in markdown
    assert "self-training: skipped" in markdown
    assert f"{table['rows'][1]['dev_cer']:.3f}" in markdown and f"{table['rows'][1]['dev_cer']:.3f}" in stdout


def test_plots_are_pngs_and_their_paths_are_printed(demo_run):
    out, stdout = demo_run
    for name in ("pretraining_curves.png", "error_rates.png"):
        path = out / "plots" / name
        assert path.read_bytes()[:8] == PNG_SIGNATURE and path.stat().st_size > 5000
        assert str(path) in stdout


def test_dry_run_hub_folder_has_model_lm_and_a_card_huggingface_hub_parses(demo_run):
    from huggingface_hub import ModelCard

    out, _ = demo_run
    folder = out / "hub-dry-run" / "wav2vec2-demo-ctc-lm"
    names = {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}
    assert {"README.md", "config.json", "model.safetensors", "vocab.json", "alphabet.json"} <= names
    assert any(name.startswith("language_model/") and name.endswith(".arpa") for name in names)
    assert not any(name.startswith("checkpoint") or name.endswith(".bin") for name in names)
    card = ModelCard.load(folder / "README.md")
    data = card.data.to_dict()
    assert data["pipeline_tag"] == "automatic-speech-recognition"
    evaluation = json.loads((folder / "evaluation.json").read_text())
    dev_greedy = next(
        e for e in evaluation["results"] if e["dataset"]["split"] == "dev" and e["decoder"] == "greedy"
    )
    # The built-in corpus is no Hub dataset: its scores are in the card's table, not in model-index.
    assert "model-index" not in data and "type" not in dev_greedy["dataset"]
    assert f"| {dev_greedy['dataset']['name']} | dev | greedy | {100 * dev_greedy['wer']:.2f} |" in card.text
    for name in ("wav2vec2-demo-pretrained", "wav2vec-demo-pretrained", "vq-wav2vec-demo-pretrained"):
        assert ModelCard.load(out / "model_cards" / f"{name}.md").data.to_dict()["license"]


def test_guard_raises_unless_pretrained_is_better_on_mean_dev_cer():
    assert check_pretraining_beats_scratch([0.6, 0.5], [0.8, 0.8]) == pytest.approx(1 - 0.55 / 0.8)
    # One seed worse is fine when the mean is better.
    assert check_pretraining_beats_scratch([0.9, 0.5], [0.8, 0.8]) > 0
    with pytest.raises(PretrainingClaimNotShown, match=r"pretrained 0\.750.*from scratch 0\.725"):
        check_pretraining_beats_scratch([0.8, 0.7], [0.7, 0.75])
    with pytest.raises(PretrainingClaimNotShown):
        check_pretraining_beats_scratch([0.7], [0.7])  # equal is not better
    with pytest.raises(ValueError):
        check_pretraining_beats_scratch([], [0.7])
    with pytest.raises(ValueError):
        check_pretraining_beats_scratch([float("nan")], [0.7])


def _scores(cer: float, wer: float, lm_cer: float, lm_wer: float) -> dict:
    split = {"greedy": {"cer": cer, "wer": wer}, "lm": {"cer": lm_cer, "wer": lm_wer}}
    return {"dev": split, "test": split}


def test_the_check_step_fails_the_demo_with_the_numbers(tmp_path, monkeypatch):
    evaluation = {
        "pretrained-seed0": _scores(0.82, 1.0, 0.8, 0.99),
        "scratch-seed0": _scores(0.80, 1.0, 0.8, 0.99),
    }

    def fake_results(run):
        run.state["evaluation"] = evaluation
        run.state["table"] = build_table(evaluation, None, "skipped")
        return {}

    steps = [
        ("fake results", fake_results),
        ("check: pretrained beats scratch on dev CER", demo.claim_check_step),
    ]
    monkeypatch.setattr(demo, "STEPS", steps)
    with pytest.raises(demo.DemoStepError, match=r"step 2 \(check: pretrained.*0\.820.*0\.800.*demo\.log"):
        demo.run_demo(tmp_path / "d", scale="test", seeds=1)
    results = json.loads((tmp_path / "d" / "results.json").read_text())
    assert results["demo"]["failed_step"]["number"] == 2
    # With --no-claim-check the same numbers are reported, not fatal.
    demo.run_demo(tmp_path / "e", scale="test", seeds=1, check_claim=False)


def test_table_with_self_training_rows_and_claims():
    evaluation = {
        "pretrained-seed0": _scores(0.5, 0.9, 0.45, 0.7),
        "pretrained-seed1": _scores(0.7, 1.0, 0.65, 0.9),
        "scratch-seed0": _scores(0.8, 1.0, 0.8, 1.0),
        "scratch-seed1": _scores(0.9, 1.0, 0.85, 1.0),
    }
    row = {
        "round": 1, "model": "st/round-1",
        "dev_wer_greedy": 0.85, "dev_cer_greedy": 0.4, "dev_wer_lm": 0.6, "dev_cer_lm": 0.38,
        "test_wer_greedy": 0.86, "test_cer_greedy": 0.41, "test_wer_lm": 0.62, "test_cer_lm": 0.39,
        "pseudo_labels_kept": 30, "pseudo_labels_total": 40, "pseudo_label_wer": 0.5,
    }  # fmt: skip
    table = build_table(evaluation, {"seed": 0, "rows": [row]})
    rows = {(r["model"], r["decoder"]): r for r in table["rows"]}
    assert rows[("pretrained", "greedy")]["dev_cer"] == pytest.approx(0.6)
    assert rows[("pretrained", "greedy")]["dev_cer_per_seed"] == [0.5, 0.7]
    assert rows[("from scratch", "4-gram LM")]["test_cer"] == pytest.approx(0.825)
    # The round is compared with the same seed's model before it.
    assert rows[("pretrained, before self-training", "4-gram LM")]["dev_wer"] == pytest.approx(0.7)
    assert rows[("pretrained + self-training round 1", "4-gram LM")]["dev_wer"] == pytest.approx(0.6)
    claims = {(c["claim"], c["metric"]): c for c in table["claims"]}
    assert claims[("pretraining helps (greedy)", "dev_cer")]["relative_reduction"] == pytest.approx(
        1 - 0.6 / 0.85
    )
    assert claims[("a 4-gram LM helps (pretrained)", "dev_wer")]["shown"] is True
    assert claims[("self-training helps (with LM)", "dev_wer")]["shown"] is True
    assert claims[("self-training helps (with LM)", "dev_wer")]["before"] == pytest.approx(0.7)
    markdown = table_markdown(table)
    assert "| pretrained | greedy | 0, 1 | 0.600 (0.500, 0.700) |" in markdown
    assert "pretrained + self-training round 1 | 4-gram LM | 0 | 0.380 |" in markdown


def test_self_training_step_fails_clearly_without_the_package(tmp_path, monkeypatch):
    from wav2vec_hf.recipes.demo_steps.selftraining import SelfTrainingUnavailable, self_training_step

    monkeypatch.setitem(sys.modules, "wav2vec_hf.selftraining", None)  # import now raises ImportError
    run = demo.DemoRun(output_dir=tmp_path, options={})
    with pytest.raises(SelfTrainingUnavailable, match="--skip-self-training"):
        self_training_step(run)
    skipped = demo.DemoRun(output_dir=tmp_path, options={"skip_self_training": True})
    assert self_training_step(skipped) == {"skipped": True, "reason": "--skip-self-training"}


def test_a_failing_step_names_itself_and_the_log(tmp_path, monkeypatch):
    def broken(run):
        raise ValueError("boom")

    monkeypatch.setattr(demo, "STEPS", [("the broken step", broken)])
    with pytest.raises(demo.DemoStepError, match=r"step 1 \(the broken step\) failed: boom.*demo\.log"):
        demo.run_demo(tmp_path / "d")


def test_bad_options_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="--scale 'huge'"):
        demo.run_demo(tmp_path / "d", scale="huge")
    with pytest.raises(ValueError, match="--device"):
        demo.run_demo(tmp_path / "d", device="tpu")
    assert not (tmp_path / "d").exists()


def test_a_second_run_in_the_same_folder_reuses_the_corpus_and_recomputes_the_rest(tmp_path, monkeypatch):
    """The README's first command run twice: the pretraining loop refuses a folder holding another
    run's checkpoints, so the rerun must start its outputs afresh (the corpus is kept)."""
    monkeypatch.setattr(demo, "STEPS", demo.STEPS[:3])  # corpus, its check, wav2vec 2.0 pretraining
    out = tmp_path / "d"
    demo.run_demo(out, scale="test", seeds=1)
    corpus_built = (out / "corpus" / "unlabeled.tsv").stat().st_mtime_ns
    first_export = (out / "pretrain" / "wav2vec2" / "model.safetensors").read_bytes()
    assert list((out / "pretrain" / "wav2vec2" / "checkpoints").iterdir())  # what made reruns fail
    (out / "self-training").mkdir()  # stale stages of an earlier run must not be resumed from
    demo.run_demo(out, scale="test", seeds=1)
    assert (out / "corpus" / "unlabeled.tsv").stat().st_mtime_ns == corpus_built
    assert not (out / "self-training").exists()
    assert (out / "pretrain" / "wav2vec2" / "model.safetensors").read_bytes() == first_export  # same seed


def test_a_folder_the_demo_did_not_write_is_not_cleared(tmp_path):
    own = tmp_path / "mine"
    (own / "plots").mkdir(parents=True)
    (own / "plots" / "figure.png").write_bytes(b"the user's")
    with pytest.raises(ValueError, match=r"mine: it holds plots but no results\.json"):
        demo.run_demo(own, scale="test", seeds=1)
    assert (own / "plots" / "figure.png").read_bytes() == b"the user's"


@pytest.mark.parametrize("name", ["small", "base"])
def test_the_gpu_scales_models_pretrain_and_export_on_cpu(demo_run, tmp_path, name):
    """``--scale small|base`` are meant for a GPU, which CI never has: their wav2vec 2.0 pretraining
    command (preset + model overrides, bf16 dropped on CPU) runs two updates here, and the export
    loads in stock transformers with the scale's architecture."""
    from dataclasses import replace

    from transformers import Wav2Vec2ForPreTraining

    from wav2vec_hf.recipes.demo_steps.pretraining import (
        run_pretraining_command,
        wav2vec2_pretraining_arguments,
    )
    from wav2vec_hf.recipes.demo_steps.scales import get_scale

    corpus = demo_run[0] / "corpus"
    scale = replace(get_scale(name), pretrain_steps=2, pretrain_batch_samples=4 * 64_000)
    output = tmp_path / "pretrain"
    argv = wav2vec2_pretraining_arguments(scale, corpus / "unlabeled.tsv", corpus / "dev.tsv", output, seed=0)
    result = run_pretraining_command(argv)
    assert result.updates == 2 and result.export_dir == output
    model = Wav2Vec2ForPreTraining.from_pretrained(output)
    for field, value in scale.wav2vec2_overrides.items():
        assert getattr(model.config, field) == value
    assert math.isfinite(result.last_train["loss"])


@pytest.mark.parametrize("scale", sorted(SCALES))
def test_pretraining_uses_the_users_seed_at_every_scale(scale, tmp_path):
    """No scale pins a pretraining seed: the demo's --seed is the pretraining run's seed."""
    from wav2vec_hf.recipes.demo_steps.pretraining import wav2vec2_pretraining_arguments

    for seed in (0, 3):
        argv = wav2vec2_pretraining_arguments(
            SCALES[scale], tmp_path / "train.tsv", tmp_path / "dev.tsv", tmp_path / "out", seed=seed
        )
        assert argv[argv.index("--seed") + 1] == str(seed)
