"""The fairseq converter entry points: config mapping, bad input, weight-norm key styles, CTC, CLI.

Most tests start from the ``wav2vec2_base`` fixture checkpoint and change one thing in a copy
(``_write_variant``), so each failure mode is exercised on an otherwise valid checkpoint.

Sizes (channels, embedding and FFN dims, layer counts, codebook and projection sizes) are never
written here: they come from the fixture's own ``config.json`` and state dict, so the tests also
pass on another fairseq-made fixture set (``WAV2VEC_HF_FAIRSEQ_FIXTURES``) with other sizes.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor, Wav2Vec2ForCTC, Wav2Vec2ForPreTraining, Wav2Vec2Model

from tests.conftest import REPO_ROOT
from tests.helpers import fairseq_fixture_config, fairseq_layer_spec
from wav2vec_hf.convert import fairseq as fairseq_converter
from wav2vec_hf.convert.checkpoint import CheckpointError, load_fairseq_checkpoint
from wav2vec_hf.convert.fairseq import convert_fairseq_checkpoint
from wav2vec_hf.convert.wav2vec2 import (
    convert_wav2vec2_checkpoint,
    fairseq_model_options,
    options_not_in_transformers,
    wav2vec2_config_from_fairseq,
)


class NotAllowedByTheRestrictedUnpickler:
    """A custom class inside a checkpoint: only the full unpickler (--trust-pickle) can rebuild it."""

    def __init__(self, note: str = "custom") -> None:
        self.note = note


@pytest.fixture(scope="module")
def base_dir(fairseq_fixtures_dir) -> Path:
    return fairseq_fixtures_dir / "wav2vec2_base"


@pytest.fixture(scope="module")
def base_model_cfg(base_dir) -> dict:
    """The base fixture's exact fairseq model config (config.json ``model_cfg``): the expected sizes."""
    return fairseq_fixture_config(base_dir)["model_cfg"]


@pytest.fixture(scope="module")
def base_raw(base_dir) -> dict:
    """The base fixture checkpoint as torch.load returns it (never modified: tests deep-copy)."""
    return torch.load(base_dir / "model.pt", map_location="cpu", weights_only=True)


def _write_variant(base_raw: dict, path: Path, *, model=None, cfg_model=None, **extra) -> Path:
    raw = copy.deepcopy(base_raw)
    if model is not None:
        raw["model"] = model
    if cfg_model is not None:
        raw["cfg"]["model"] = cfg_model
    raw.update(extra)
    torch.save(raw, path)
    return path


# --- config mapping -------------------------------------------------------------------------


@pytest.mark.parametrize(
    (
        "folder",
        "norm",
        "stable",
        "conv_bias",
        "normalize",
        "attention_mask",
        "min_temp",
        "grad_mult",
    ),
    [
        ("wav2vec2_base", "group", False, False, False, False, 0.5, 0.1),
        ("wav2vec2_large_lv60", "layer", True, True, True, True, 0.1, 1.0),
    ],
)
def test_config_and_feature_extractor_follow_the_fairseq_config(
    fairseq_fixtures_dir,
    folder,
    norm,
    stable,
    conv_bias,
    normalize,
    attention_mask,
    min_temp,
    grad_mult,
):
    """The modes and training values per folder are the README's; every size is the fixture's own."""
    checkpoint = load_fairseq_checkpoint(fairseq_fixtures_dir / folder / "model.pt")
    fairseq = fairseq_fixture_config(fairseq_fixtures_dir / folder)["model_cfg"]
    weights = checkpoint.model
    model, feature_extractor = convert_wav2vec2_checkpoint(checkpoint)
    config = model.config
    assert (config.feat_extract_norm, config.do_stable_layer_norm, config.conv_bias) == (
        norm,
        stable,
        conv_bias,
    )

    # Conv feature extractor: (channels, kernel, stride) per layer from config.json, which the
    # state dict's conv weights (C_out, C_in, kernel) must agree with.
    conv_layers = fairseq_layer_spec(fairseq["conv_feature_layers"])
    conv_weights = [weights[f"feature_extractor.conv_layers.{i}.0.weight"] for i in range(len(conv_layers))]
    assert f"feature_extractor.conv_layers.{len(conv_layers)}.0.weight" not in weights
    assert [(w.shape[0], w.shape[2]) for w in conv_weights] == [(dim, k) for dim, k, _ in conv_layers]
    assert config.conv_dim == [dim for dim, _, _ in conv_layers]
    assert config.conv_kernel == [k for _, k, _ in conv_layers]
    assert config.conv_stride == [stride for _, _, stride in conv_layers]

    # Transformer: D, FFN, heads, layers; fc1 is (FFN, D) and pos_conv's weight_v (D, D / groups, kernel).
    hidden, ffn = fairseq["encoder_embed_dim"], fairseq["encoder_ffn_embed_dim"]
    pos_kernel, pos_groups = fairseq["conv_pos"], fairseq["conv_pos_groups"]
    assert weights["encoder.layers.0.fc1.weight"].shape == (ffn, hidden)
    assert weights["encoder.pos_conv.0.weight_v"].shape == (hidden, hidden // pos_groups, pos_kernel)
    assert (config.hidden_size, config.intermediate_size, config.num_attention_heads) == (
        hidden,
        ffn,
        fairseq["encoder_attention_heads"],
    )
    assert config.num_hidden_layers == fairseq["encoder_layers"]
    assert (config.num_conv_pos_embeddings, config.num_conv_pos_embedding_groups) == (pos_kernel, pos_groups)

    # Quantiser and heads: vars is (1, G * V, vq_dim / G), final_proj (final_dim, D).
    groups, per_group = fairseq["latent_groups"], fairseq["latent_vars"]
    final_dim = fairseq["final_dim"] or hidden
    codevectors = weights["quantizer.vars"]
    assert codevectors.shape[:2] == (1, groups * per_group)
    assert weights["final_proj.weight"].shape == (final_dim, hidden)
    assert (config.num_codevector_groups, config.num_codevectors_per_group) == (groups, per_group)
    assert config.codevector_dim == codevectors.shape[2] * groups == (fairseq["latent_dim"] or final_dim)
    assert config.proj_codevector_dim == final_dim
    assert (config.mask_time_prob, config.mask_time_length, config.num_negatives) == (0.65, 10, 100)
    assert config.contrastive_logits_temperature == 0.1 and config.diversity_loss_weight == 0.1
    assert config.feature_grad_mult == grad_mult
    assert (config.max_gumbel_temperature, config.min_gumbel_temperature) == (2.0, min_temp)
    assert config.gumbel_temperature_decay == 0.999995
    assert feature_extractor.do_normalize is normalize
    assert feature_extractor.return_attention_mask is attention_mask
    assert feature_extractor.sampling_rate == 16000
    assert not model.training


def test_base_dropouts_and_loss_weights_are_mapped(base_raw):
    options = dict(base_raw["cfg"]["model"])
    config = wav2vec2_config_from_fairseq(options, base_raw["cfg"]["criterion"])
    assert (config.hidden_dropout, config.attention_dropout, config.activation_dropout) == (0.1, 0.1, 0.0)
    assert (config.feat_proj_dropout, config.feat_quantizer_dropout, config.layerdrop) == (0.1, 0.1, 0.05)
    assert config.feature_penalty_weight == 10.0


def test_options_without_a_transformers_field_are_reported(base_raw):
    options = dict(base_raw["cfg"]["model"]) | {"mask_selection": "normal", "mask_prob": 0.0}
    notes = options_not_in_transformers(options, base_raw["cfg"]["criterion"])
    assert notes["feature_grad_mult"]["value"] == 0.1
    assert notes["feature_penalty_weight"]["value"] == 10.0
    assert notes["mask_selection"]["value"] == "normal"
    assert "mask_emb" in notes  # masking off: the mask embedding has nowhere to go


# --- the dispatcher and its output folder ----------------------------------------------------


@pytest.fixture(scope="module")
def converted_base(base_dir, tmp_path_factory):
    output = tmp_path_factory.mktemp("base_converted")
    return convert_fairseq_checkpoint(base_dir / "model.pt", output)


def test_dispatcher_writes_a_folder_stock_transformers_loads(converted_base, base_dir):
    output = converted_base.output_dir
    assert converted_base.kind == "wav2vec2"
    assert (output / "model.safetensors").is_file()
    pretraining = Wav2Vec2ForPreTraining.from_pretrained(output).eval()
    base_model = Wav2Vec2Model.from_pretrained(output).eval()
    feature_extractor = AutoFeatureExtractor.from_pretrained(output)
    assert type(feature_extractor).__name__ == "Wav2Vec2FeatureExtractor"
    assert feature_extractor.do_normalize is False

    # The quantiser and heads survived the round trip (pretraining can continue).
    source = load_fairseq_checkpoint(base_dir / "model.pt").model
    torch.testing.assert_close(pretraining.quantizer.codevectors, source["quantizer.vars"])
    torch.testing.assert_close(pretraining.project_hid.weight, source["final_proj.weight"])
    torch.testing.assert_close(pretraining.wav2vec2.masked_spec_embed, source["mask_emb"])

    x = torch.from_numpy(np.load(base_dir / "inputs.npy")[:1])
    with torch.no_grad():
        torch.testing.assert_close(base_model(x).last_hidden_state, pretraining.wav2vec2(x).last_hidden_state)


def test_conversion_json_records_the_source(converted_base, base_dir, base_model_cfg):
    info = json.loads((converted_base.output_dir / "conversion.json").read_text())
    assert info["source_file"] == "model.pt"
    assert info["source_sha256"] == hashlib.sha256((base_dir / "model.pt").read_bytes()).hexdigest()
    num_updates = fairseq_fixture_config(base_dir)["num_updates"]
    assert (info["generation"], info["num_updates"]) == ("wav2vec2", num_updates)
    assert info["fairseq_config"]["model"]["encoder_embed_dim"] == base_model_cfg["encoder_embed_dim"]
    assert info["fairseq_config"]["task"]["normalize"] is False
    assert info["not_in_transformers"]["feature_grad_mult"]["value"] == 0.1
    assert info == converted_base.info
    from wav2vec_hf.convert.run_record import ConversionRecord

    assert ConversionRecord.from_dict(info).to_dict() == info  # every key written is a field the card reads


def test_pickle_warning_is_logged_once(base_dir, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(fairseq_converter, "_pickle_warning_shown", False)
    with caplog.at_level(logging.WARNING, logger="wav2vec_hf.convert.fairseq"):
        convert_fairseq_checkpoint(base_dir / "model.pt", tmp_path / "a")
        convert_fairseq_checkpoint(base_dir / "model.pt", tmp_path / "b")
    warnings = [r for r in caplog.records if "unpickling can run arbitrary code" in r.getMessage()]
    assert len(warnings) == 1


def test_unsafe_serialization_is_refused(base_dir, tmp_path):
    with pytest.raises(ValueError, match="safetensors"):
        convert_fairseq_checkpoint(base_dir / "model.pt", tmp_path, safe_serialization=False)


# --- bad input --------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        convert_fairseq_checkpoint(tmp_path / "absent.pt", tmp_path / "out")


def test_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("this is not a torch file")
    with pytest.raises(CheckpointError, match=r"notes\.pt"):
        convert_fairseq_checkpoint(text, tmp_path / "out")
    tensor_list = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], tensor_list)
    with pytest.raises(CheckpointError, match="not a fairseq checkpoint"):
        convert_fairseq_checkpoint(tensor_list, tmp_path / "out")


def test_custom_objects_need_trust_pickle(base_raw, base_model_cfg, tmp_path):
    path = _write_variant(
        base_raw, tmp_path / "custom.pt", extra_state={"obj": NotAllowedByTheRestrictedUnpickler()}
    )
    with pytest.raises(CheckpointError, match="--trust-pickle"):
        convert_fairseq_checkpoint(path, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()

    result = convert_fairseq_checkpoint(path, tmp_path / "trusted", trust_pickle=True)
    assert result.kind == "wav2vec2"
    trusted = Wav2Vec2ForPreTraining.from_pretrained(tmp_path / "trusted")
    assert trusted.config.hidden_size == base_model_cfg["encoder_embed_dim"]


def test_unknown_key_is_listed(base_raw, tmp_path):
    model = dict(base_raw["model"]) | {"encoder.layers.0.adapter.weight": torch.zeros(3)}
    path = _write_variant(base_raw, tmp_path / "unknown.pt", model=model)
    with pytest.raises(
        CheckpointError, match=r"unknown fairseq keys: \['encoder\.layers\.0\.adapter\.weight'\]"
    ):
        convert_fairseq_checkpoint(path, tmp_path / "out")


def test_missing_keys_are_listed(base_raw, base_model_cfg, tmp_path):
    last = base_model_cfg["encoder_layers"] - 1
    dropped = (f"encoder.layers.{last}.fc1.weight", "quantizer.vars")
    assert all(key in base_raw["model"] for key in dropped)
    model = {k: v for k, v in base_raw["model"].items() if k not in dropped}
    path = _write_variant(base_raw, tmp_path / "missing.pt", model=model)
    with pytest.raises(CheckpointError) as raised:
        convert_fairseq_checkpoint(path, tmp_path / "out")
    message = str(raised.value)
    assert f"wav2vec2.encoder.layers.{last}.feed_forward.intermediate_dense.weight" in message
    assert "quantizer.codevectors" in message


def test_shape_mismatch_is_listed(base_raw, base_model_cfg, tmp_path):
    # project_q maps the codevectors (vq_dim = latent_dim or final_dim) to final_dim.
    final_dim = base_model_cfg["final_dim"] or base_model_cfg["encoder_embed_dim"]
    vq_dim = base_model_cfg["latent_dim"] or final_dim
    assert base_raw["model"]["project_q.weight"].shape == (final_dim, vq_dim)
    model = dict(base_raw["model"]) | {"project_q.weight": torch.zeros(final_dim, vq_dim - 1)}
    path = _write_variant(base_raw, tmp_path / "shape.pt", model=model)
    with pytest.raises(
        CheckpointError,
        match=rf"project_q\.weight \({final_dim}, {vq_dim - 1}\) -> project_q\.weight \({final_dim}, {vq_dim}\)",
    ):
        convert_fairseq_checkpoint(path, tmp_path / "out")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("layer_type", "conformer", "layer_type='conformer'"),
        ("pos_conv_depth", 5, "pos_conv_depth=5"),
        ("quantize_targets", False, "quantize_targets=False"),
        ("activation_fn", "made_up", "activation_fn='made_up'"),
    ],
)
def test_unsupported_architectures_are_refused(base_raw, tmp_path, key, value, message):
    cfg_model = dict(base_raw["cfg"]["model"]) | {key: value}
    path = _write_variant(base_raw, tmp_path / "variant.pt", cfg_model=cfg_model)
    with pytest.raises(CheckpointError, match=message):
        convert_fairseq_checkpoint(path, tmp_path / "out")


def test_unsupported_model_kind_is_refused(tmp_path):
    path = tmp_path / "hubert.pt"
    torch.save({"args": None, "cfg": {"model": {"_name": "hubert"}}, "model": {"w": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match="hubert"):
        convert_fairseq_checkpoint(path, tmp_path / "out")


def test_new_weight_norm_key_names_give_the_same_model(base_raw, base_dir, tmp_path):
    renames = {
        "weight_g": "parametrizations.weight.original0",
        "weight_v": "parametrizations.weight.original1",
    }
    model = {}
    for key, value in base_raw["model"].items():
        prefix, _, leaf = key.rpartition(".")
        model[f"{prefix}.{renames[leaf]}" if leaf in renames else key] = value
    assert "encoder.pos_conv.0.parametrizations.weight.original0" in model
    path = _write_variant(base_raw, tmp_path / "new_wn.pt", model=model)
    new_style = convert_wav2vec2_checkpoint(load_fairseq_checkpoint(path))[0].state_dict()
    old_style = convert_wav2vec2_checkpoint(load_fairseq_checkpoint(base_dir / "model.pt"))[0].state_dict()
    assert new_style.keys() == old_style.keys()
    for name in old_style:
        torch.testing.assert_close(new_style[name], old_style[name], rtol=0, atol=0)


def test_both_weight_norm_styles_at_once_is_an_error(base_raw, tmp_path):
    model = dict(base_raw["model"])
    model["encoder.pos_conv.0.parametrizations.weight.original0"] = model["encoder.pos_conv.0.weight_g"]
    path = _write_variant(base_raw, tmp_path / "both.pt", model=model)
    with pytest.raises(CheckpointError, match="several fairseq keys for one parameter"):
        convert_fairseq_checkpoint(path, tmp_path / "out")


def test_checkpoint_without_masking_drops_mask_emb_and_says_so(base_raw, tmp_path):
    cfg_model = dict(base_raw["cfg"]["model"]) | {"mask_prob": 0.0}
    path = _write_variant(base_raw, tmp_path / "nomask.pt", cfg_model=cfg_model)
    result = convert_fairseq_checkpoint(path, tmp_path / "out")
    assert not hasattr(result.model.wav2vec2, "masked_spec_embed")
    assert "mask_emb" in result.info["not_in_transformers"]


def test_2020_args_style_checkpoint_converts(base_raw, base_dir, tmp_path):
    """2020 releases keep an argparse Namespace in ``args`` (expression strings, criterion keys inside)."""
    options = dict(base_raw["cfg"]["model"])
    options.pop("_name")
    options |= {"latent_temp": "(2,0.5,0.999995)", "loss_weights": "[0.1, 10]", "normalize": False}
    options |= {"arch": "wav2vec2", "sample_rate": 16000}
    for newer_key in ("layer_type", "pos_conv_depth", "required_seq_len_multiple", "crop_seq_to_multiple"):
        options.pop(newer_key)  # absent in 2020: fairseq's defaults apply
    path = _write_variant(base_raw, tmp_path / "args.pt", args=argparse.Namespace(**options), cfg=None)

    model, feature_extractor = convert_wav2vec2_checkpoint(load_fairseq_checkpoint(path))
    assert model.config.feature_penalty_weight == 10.0 and model.config.min_gumbel_temperature == 0.5
    assert feature_extractor.do_normalize is False
    inputs = np.load(base_dir / "inputs.npy")
    with np.load(base_dir / "expected.npz") as expected, torch.no_grad():
        hidden = model.wav2vec2(torch.from_numpy(inputs[:1])).last_hidden_state
        np.testing.assert_allclose(hidden.numpy(), expected["encoder_out_0"], atol=1e-4, rtol=1e-4)


# --- wav2vec 1.0 / vq-wav2vec through the dispatcher -----------------------------------------


def test_wav2vec1_dispatch_reports_a_missing_converter(fairseq_fixtures_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wav2vec_hf.convert.wav2vec1", None)  # import now raises ImportError
    with pytest.raises(CheckpointError, match=r"no wav2vec 1\.0 converter"):
        convert_fairseq_checkpoint(fairseq_fixtures_dir / "wav2vec" / "model.pt", tmp_path / "out")


@pytest.mark.parametrize("folder", ["wav2vec", "vq_wav2vec_gumbel"])
def test_wav2vec1_checkpoints_are_converted_through_the_dispatcher(fairseq_fixtures_dir, tmp_path, folder):
    pytest.importorskip("wav2vec_hf.convert.wav2vec1", reason="wav2vec 1.0 converter not written yet")
    result = convert_fairseq_checkpoint(fairseq_fixtures_dir / folder / "model.pt", tmp_path)
    assert result.kind == ("wav2vec" if folder == "wav2vec" else "vq-wav2vec")
    assert (tmp_path / "conversion.json").is_file()
    assert AutoFeatureExtractor.from_pretrained(tmp_path).do_normalize is False


# --- CTC fine-tuned checkpoints (synthetic: no fairseq fixture exists) ------------------------


def test_ctc_checkpoint_converts_to_wav2vec2_for_ctc(base_raw, base_dir, base_model_cfg, tmp_path):
    """A fine-tuned layout built from the base fixture: ``w2v_encoder.w2v_model.*`` + a random ``proj``.

    The body weights are the fixture's, so fairseq's ``encoder_out`` arrays give the exact
    expected logits: ``encoder_out @ proj.weight.T + proj.bias``. ``proj`` maps the fixture's
    encoder dim to a letter vocabulary of ``vocab_size`` (the test's choice, not a fixture size).
    """
    pretraining_only = ("quantizer.", "project_q.", "final_proj.")
    vocab_size, hidden = 32, base_model_cfg["encoder_embed_dim"]
    generator = torch.Generator().manual_seed(0)
    proj_weight = torch.randn(vocab_size, hidden, generator=generator)
    proj_bias = torch.randn(vocab_size, generator=generator)
    model = {
        f"w2v_encoder.w2v_model.{k}": v
        for k, v in base_raw["model"].items()
        if not k.startswith(pretraining_only)
    }
    model |= {"w2v_encoder.proj.weight": proj_weight, "w2v_encoder.proj.bias": proj_bias}
    cfg_model = {
        "_name": "wav2vec_ctc",
        "w2v_path": "/pretrained/wav2vec_small.pt",
        "w2v_args": copy.deepcopy({k: base_raw["cfg"][k] for k in ("model", "task", "criterion")}),
        "apply_mask": True,
        "mask_prob": 0.5,
        "mask_channel_prob": 0.25,
        "mask_channel_length": 64,
        "layerdrop": 0.1,
        "dropout": 0.0,
        "attention_dropout": 0.0,
        "activation_dropout": 0.1,
        "dropout_input": 0.0,
        "final_dropout": 0.05,
        "feature_grad_mult": 0.0,
    }
    path = _write_variant(base_raw, tmp_path / "ctc.pt", model=model, cfg_model=cfg_model)

    result = convert_fairseq_checkpoint(path, tmp_path / "out")
    assert result.kind == "wav2vec2-ctc"
    ctc = Wav2Vec2ForCTC.from_pretrained(tmp_path / "out").eval()
    config = ctc.config
    assert (config.vocab_size, config.pad_token_id) == (vocab_size, 0)
    assert config.hidden_size == hidden
    assert (config.mask_time_prob, config.mask_feature_prob, config.mask_feature_length) == (0.5, 0.25, 64)
    assert (config.layerdrop, config.final_dropout, config.activation_dropout) == (0.1, 0.05, 0.1)
    assert config.feature_grad_mult == 0.0

    inputs = np.load(base_dir / "inputs.npy")
    with np.load(base_dir / "expected.npz") as expected:
        for i, length in enumerate(expected["input_lengths"]):
            with torch.no_grad():
                logits = ctc(torch.from_numpy(inputs[i : i + 1, :length])).logits
            want = torch.from_numpy(expected[f"encoder_out_{i}"]) @ proj_weight.T + proj_bias
            torch.testing.assert_close(logits, want, atol=2e-4, rtol=1e-4)

    options = fairseq_model_options(load_fairseq_checkpoint(path))
    assert options["encoder_layerdrop"] == 0.1 and options["extractor_mode"] == "default"


def test_ctc_checkpoint_without_body_config_is_refused(base_raw, tmp_path):
    model = {f"w2v_encoder.w2v_model.{k}": v for k, v in base_raw["model"].items()}
    path = _write_variant(
        base_raw,
        tmp_path / "ctc.pt",
        model=model,
        cfg_model={"_name": "wav2vec_ctc", "w2v_args": None, "w2v_path": "x.pt"},
    )
    with pytest.raises(CheckpointError, match="w2v_args is empty"):
        convert_fairseq_checkpoint(path, tmp_path / "out")


# --- command line ----------------------------------------------------------------------------


def test_cli_converts_the_base_fixture(base_dir, base_model_cfg, tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "wav2vec_hf.cli", "convert-fairseq", "--checkpoint", str(base_dir / "model.pt"),
         "--output", str(tmp_path / "cli")],
        capture_output=True, text=True, timeout=300, env={**_offline_env()},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert "wav2vec2: Wav2Vec2ForPreTraining" in completed.stdout
    assert "unpickling can run arbitrary code" in completed.stderr
    converted = Wav2Vec2ForPreTraining.from_pretrained(tmp_path / "cli")
    assert converted.config.num_hidden_layers == base_model_cfg["encoder_layers"]


def test_script_is_the_same_command(base_dir, tmp_path, monkeypatch, capsys):
    script = REPO_ROOT / "scripts" / "convert_fairseq.py"
    argv = [str(script), "--checkpoint", str(base_dir / "model.pt"), "--output", str(tmp_path / "script")]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(script), run_name="__main__")
    assert exited.value.code == 0
    assert "Wav2Vec2ForPreTraining" in capsys.readouterr().out
    assert (tmp_path / "script" / "conversion.json").is_file()

    monkeypatch.setattr(
        sys, "argv", [str(script), "--checkpoint", str(tmp_path / "nope.pt"), "--output", "x"]
    )
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(script), run_name="__main__")
    assert exited.value.code == 2
    assert "no such checkpoint file" in capsys.readouterr().err


def _offline_env() -> dict[str, str]:
    import os

    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
