"""The upload plan: which files a repo gets, the remote code, the dry-run folder, refused folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

import wav2vec_hf
from wav2vec_hf.cli import main as cli_main
from wav2vec_hf.hub.artefacts import ArtefactError, count_safetensors_parameters, describe_folder
from wav2vec_hf.hub.cards import CardError, CardOptions
from wav2vec_hf.hub.plan import PlanError, plan_upload
from wav2vec_hf.hub.remote_code import expected_auto_map

PACKAGE_CODE = Path(wav2vec_hf.__file__).parent / "models" / "wav2vec"


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_plan_takes_the_model_and_leaves_out_training_state(hub_folders):
    plan = plan_upload(hub_folders["ctc-lm"])
    roles = {planned.path_in_repo: planned.role for planned in plan.files}
    assert roles == {
        "README.md": "model card",
        "added_tokens.json": "processor",
        "alphabet.json": "processor",
        "config.json": "config",
        "evaluation.json": "run record",
        "finetuning.json": "run record",
        "language_model/attrs.json": "language model",
        "language_model/lm.arpa": "language model",
        "language_model/unigrams.txt": "language model",
        "model.safetensors": "weights",
        "processor_config.json": "processor",
        "self_training.json": "run record",
        "text_normalizer.json": "processor",
        "tokenizer_config.json": "processor",
        "vocab.json": "processor",
    }
    assert dict(plan.left_out) == {
        "checkpoint-400": "training state, not part of the model",
        "training_args.bin": "pickle file: never published (it can run code when loaded)",
    }


def test_pretraining_folder_keeps_records_and_plots_not_checkpoints(hub_folders):
    plan = plan_upload(hub_folders["wav2vec"])
    assert {
        "plots/curves.png",
        "metrics.jsonl",
        "health.json",
        "run_config.json",
        "pretraining_summary.json",
    } <= set(plan.paths)
    assert {"configuration_wav2vec.py", "modeling_wav2vec.py"} <= set(plan.paths)
    assert dict(plan.left_out) == {
        "checkpoints": "training state, not part of the model",
        "runs": "training state, not part of the model",
        "notes.txt": "not a file the model, processor or card needs",
    }


def test_dry_run_writes_exactly_the_planned_files(hub_folders, tmp_path, capsys):
    folder = hub_folders["wav2vec"]
    output = tmp_path / "dry"
    code = cli_main(["push-to-hub", str(folder), "--repo-id", "org/w", "--dry-run", "--output", str(output)])
    assert code == 0
    plan = plan_upload(folder, _options("org/w"))
    written = _tree(output)
    assert sorted(written) == plan.paths
    assert written == {planned.path_in_repo: planned.read_bytes() for planned in plan.files}
    assert written["model.safetensors"] == (folder / "model.safetensors").read_bytes()
    out = capsys.readouterr().out
    assert f"dry run: {len(plan.files)} files" in out and "left out: checkpoints (training state" in out

    # A second dry run does not mix old and new files unless told to replace them.
    assert (
        cli_main(["push-to-hub", str(folder), "--repo-id", "org/w", "--dry-run", "--output", str(output)])
        == 2
    )
    assert "not empty; pass --overwrite" in capsys.readouterr().err
    (output / "stale.txt").write_text("old")
    assert (
        cli_main(
            [
                "push-to-hub",
                str(folder),
                "--repo-id",
                "org/w",
                "--dry-run",
                "--output",
                str(output),
                "--overwrite",
            ]
        )
        == 0
    )
    assert sorted(_tree(output)) == plan.paths
    with pytest.raises(PlanError, match="outside the model folder"):
        plan.write(folder / "hub")


def _options(repo_id):
    return CardOptions(repo_id=repo_id)


def test_missing_remote_code_and_auto_map_entries_are_completed_without_touching_the_folder(copy_folder):
    folder = copy_folder("vq-wav2vec")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "configuration_wav2vec.VQWav2VecConfig"}  # an older export
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_wav2vec.py").unlink()
    before = _tree(folder)

    plan = plan_upload(folder)
    files = {planned.path_in_repo: planned for planned in plan.files}
    uploaded_config = json.loads(files["config.json"].read_bytes())
    assert uploaded_config["auto_map"] == expected_auto_map("vq-wav2vec")
    assert uploaded_config["auto_map"]["AutoModelForCTC"] == "modeling_wav2vec.VQWav2VecForCTC"
    assert {k: v for k, v in uploaded_config.items() if k != "auto_map"} == {
        k: v for k, v in config.items() if k != "auto_map"
    }
    assert files["modeling_wav2vec.py"].read_bytes() == (PACKAGE_CODE / "modeling_wav2vec.py").read_bytes()
    assert (
        files["configuration_wav2vec.py"].source == folder / "configuration_wav2vec.py"
    )  # the folder's own copy
    assert any("modeling_wav2vec.py" in note for note in plan.remote_code.added)
    assert _tree(folder) == before


def test_remote_code_that_needs_this_package_is_refused(copy_folder):
    folder = copy_folder("ctc-remote")
    modeling = folder / "modeling_wav2vec.py"
    modeling.write_text("from wav2vec_hf.units import codes_to_units\n" + modeling.read_text())
    with pytest.raises(ArtefactError, match="imports wav2vec_hf"):
        plan_upload(folder)


def test_auto_map_pointing_elsewhere_is_refused(copy_folder):
    folder = copy_folder("ctc-remote")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"]["AutoModelForCTC"] = "modeling_wav2vec.SomethingElse"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ArtefactError, match=r"auto_map\['AutoModelForCTC'\]"):
        plan_upload(folder)


def test_unpublishable_folders_get_a_clear_error(copy_folder, tmp_path):
    with pytest.raises(ArtefactError, match="no such folder"):
        describe_folder(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ArtefactError, match=r"no config\.json"):
        describe_folder(empty)

    pickled = copy_folder("wav2vec2")
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(ArtefactError, match=r"no model\.safetensors.*pytorch_model\.bin"):
        describe_folder(pickled)

    half_lm = copy_folder("ctc-lm")
    (half_lm / "alphabet.json").unlink()
    with pytest.raises(ArtefactError, match=r"has language_model/ but no alphabet\.json"):
        describe_folder(half_lm)

    lm_without_ctc = copy_folder("wav2vec2")
    (lm_without_ctc / "language_model").mkdir()
    (lm_without_ctc / "language_model" / "lm.arpa").write_text("x")
    (lm_without_ctc / "alphabet.json").write_text("{}")
    with pytest.raises(ArtefactError, match="no CTC head"):
        describe_folder(lm_without_ctc)

    other = copy_folder("units-bert")
    (other / "tokenizer.json").unlink()
    with pytest.raises(ArtefactError, match="model_type 'bert' is not one push-to-hub publishes"):
        describe_folder(other)


def test_parameter_count_comes_from_the_safetensors_header(hub_folders):
    import torch
    from transformers import Wav2Vec2ForCTC

    folder = hub_folders["ctc"]
    model = Wav2Vec2ForCTC.from_pretrained(folder)
    expected = sum(t.numel() for t in model.state_dict().values() if isinstance(t, torch.Tensor))
    assert count_safetensors_parameters(folder / "model.safetensors") == expected
    assert describe_folder(folder).parameters == expected


def test_cli_card_options_reach_the_dry_run_card(hub_folders, tmp_path):
    results = tmp_path / "results.json"
    dev = {"name": "my dev set", "type": "me/dev-set", "split": "validation"}
    results.write_text(
        json.dumps({"results": [{"dataset": dev, "decoder": "greedy", "wer": 0.125, "cer": 0.05}]})
    )
    output = tmp_path / "dry"
    argv = [
        "push-to-hub",
        str(hub_folders["ctc-remote"]),
        "--repo-id",
        "me/asr",
        "--dry-run",
        "--output",
        str(output),
    ]
    argv += [
        "--results",
        str(results),
        "--license",
        "mit",
        "--language",
        "en",
        "de",
        "--dataset",
        "me/train-set",
    ]
    argv += ["--base-model", "me/pretrained", "--tag", "toy", "--self-trained"]
    assert cli_main(argv) == 0
    card = ModelCard.load(output / "README.md")
    assert (card.data.license, card.data.language, card.data.datasets) == (
        "mit",
        ["en", "de"],
        ["me/train-set"],
    )
    assert card.data.base_model == "me/pretrained" and {"toy", "self-training"} <= set(card.data.tags)
    assert [
        (r.dataset_type, r.dataset_split, r.metric_type, r.metric_value) for r in card.data.eval_results
    ] == [
        ("me/dev-set", "validation", "wer", 12.5),
        ("me/dev-set", "validation", "cer", 5.0),
    ]
    assert "(from `results.json`)" in card.text


def test_a_hand_written_card_is_published_as_is_if_it_parses(hub_folders, tmp_path):
    own = tmp_path / "README.md"
    own.write_text(
        "---\nlicense: mit\npipeline_tag: automatic-speech-recognition\n---\n# Mine\n", encoding="utf-8"
    )
    plan = plan_upload(hub_folders["ctc"], card_file=own)
    (readme,) = [planned for planned in plan.files if planned.path_in_repo == "README.md"]
    assert readme.read_bytes() == own.read_bytes()
    own.write_text("---\nmodel-index: [{name: x}]\n---\n# Broken\n", encoding="utf-8")
    with pytest.raises(CardError, match="cannot parse"):
        plan_upload(hub_folders["ctc"], card_file=own)


def test_a_converted_fairseq_checkpoint_is_publishable(fairseq_fixtures_dir, tmp_path):
    from wav2vec_hf.convert.fairseq import convert_fairseq_checkpoint

    checkpoint = fairseq_fixtures_dir / "vq_wav2vec_kmeans" / "model.pt"
    if not checkpoint.is_file():
        pytest.skip(f"{checkpoint} not found")
    folder = convert_fairseq_checkpoint(str(checkpoint), tmp_path / "converted").output_dir
    plan = plan_upload(folder, CardOptions(repo_id="org/vq-kmeans"))
    files = {planned.path_in_repo: planned for planned in plan.files}
    assert json.loads(files["config.json"].read_bytes())["auto_map"] == expected_auto_map("vq-wav2vec")
    assert {
        "conversion.json",
        "configuration_wav2vec.py",
        "modeling_wav2vec.py",
        "preprocessor_config.json",
    } <= set(files)
    card = ModelCard(plan.card.text)
    sha = json.loads((folder / "conversion.json").read_text())["source_sha256"]
    assert card.data.license == "mit" and f"| source sha256 | {sha} |" in card.text
    assert "k-means quantiser" in card.text and "102,400 possible codes" in card.text
