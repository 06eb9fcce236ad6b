"""Wav2VecModel / VQWav2VecModel: shapes, input checks, quantisers, fp32 group norm, quantize()."""

from __future__ import annotations

import math

import pytest
import torch

from wav2vec_hf.models.wav2vec import (
    VQWav2VecModel,
    Wav2VecConfig,
    Wav2VecForPreTraining,
    Wav2VecModel,
    gumbel_temperature_at_step,
)
from wav2vec_hf.models.wav2vec.modeling_wav2vec import Fp32GroupNorm
from wav2vec_hf.presets import get_preset

TINY = ["wav2vec-tiny", "vq-wav2vec-gumbel-tiny", "vq-wav2vec-kmeans-tiny"]


def _model(name: str, seed: int = 0) -> Wav2VecModel:
    torch.manual_seed(seed)
    config = get_preset(name)
    model_class = Wav2VecModel if config.vq_type == "none" else VQWav2VecModel
    return model_class(config).eval()


@pytest.mark.parametrize("name", TINY)
def test_output_shapes(name):
    model = _model(name)
    config = model.config
    audio = torch.randn(2, 4000)
    out = model(audio, output_hidden_states=True)
    frames = config.num_frames(4000)
    assert frames == 23  # floor((4000 - 465) / 160) + 1
    assert out.features.shape == (2, config.encoder_dim, frames)
    assert out.context.shape == (2, config.context_dim, frames)
    assert len(out.encoder_hidden_states) == len(config.conv_feature_layers)
    assert len(out.context_hidden_states) == len(config.conv_aggregator_layers)
    assert torch.equal(out.context_hidden_states[-1], out.context)  # eval: dropout_agg is identity
    if config.vq_type == "none":
        assert out.quantized_features is None and out.codevector_indices is None
        return
    assert out.quantized_features.shape == (2, config.quantized_dim, frames)
    assert out.codevector_indices.shape == (2, frames, config.vq_groups)
    assert int(out.codevector_indices.min()) >= 0 and int(out.codevector_indices.max()) < config.vq_vars
    assert 1.0 <= float(out.code_perplexity) <= config.vq_groups * config.vq_vars


def test_tuple_output_and_return_dict():
    model = _model("wav2vec-tiny")
    audio = torch.randn(1, 2000)
    as_tuple = model(audio, return_dict=False)
    assert isinstance(as_tuple, tuple)
    out = model(audio)
    # transformers' order first: last_hidden_state (B, T, C), extract_features, then fairseq's context
    assert torch.equal(as_tuple[0], out.last_hidden_state)
    assert torch.equal(as_tuple[2], out.context)


@pytest.mark.parametrize("name", TINY)
def test_eval_mode_is_deterministic_and_quantize_matches_forward(name):
    model = _model(name)
    audio = torch.randn(2, 3000)
    first, second = model(audio), model(audio)
    assert torch.equal(first.context, second.context)
    if model.quantizer is not None:
        assert torch.equal(first.codevector_indices, second.codevector_indices)
        codes = model.quantize(audio)
        assert codes.dtype == torch.long and torch.equal(codes, first.codevector_indices)
        model.train()
        assert torch.equal(model.quantize(audio), codes)  # quantize is argmax / nearest in any mode


def test_quantized_vectors_are_the_chosen_codewords():
    gumbel, kmeans = _model("vq-wav2vec-gumbel-tiny"), _model("vq-wav2vec-kmeans-tiny")
    audio = torch.randn(1, 3000)
    for model in (gumbel, kmeans):
        out = model(audio)
        codes = out.codevector_indices[0]  # (T, G)
        quantizer = model.quantizer
        if quantizer is gumbel.quantizer:
            books = quantizer.codebook()  # (G, V, d)
            expected = torch.cat([books[g][codes[:, g]] for g in range(codes.shape[1])], dim=-1)
            # eval codes are the argmax of the logits, group g in columns g V .. g V + V - 1
            logits = out.codevector_logits[0].view(-1, quantizer.num_groups, quantizer.num_vars)
            assert torch.equal(logits.argmax(-1), codes)
        else:
            books = quantizer.expanded_codebook()  # (V, G, d)
            expected = torch.cat([books[codes[:, g], g] for g in range(codes.shape[1])], dim=-1)
            # each group's slice of ze is nearest to its chosen codeword
            ze = out.kmeans_projection[0].T.reshape(codes.shape[0], quantizer.num_groups, -1)
            distances = ((ze.unsqueeze(2) - books.transpose(0, 1).unsqueeze(0)) ** 2).sum(-1)  # (T, G, V)
            assert torch.equal(distances.argmin(-1), codes)
        assert torch.equal(out.quantized_features[0].T, expected)


def test_gumbel_training_samples_codes_and_passes_gradients_straight_through():
    model = _model("vq-wav2vec-gumbel-tiny")
    model.set_gumbel_temperature(2.0)
    model.train()
    audio = torch.randn(2, 8000)
    torch.manual_seed(1)
    out = model(audio)
    argmax = model.quantize(audio)
    assert not torch.equal(out.codevector_indices, argmax)  # tau = 2: Gumbel noise changes some codes
    out.quantized_features.sum().backward()
    assert model.quantizer.logit_projection.weight.grad.abs().sum() > 0
    assert model.quantizer.codevectors.grad.abs().sum() > 0


def test_kmeans_straight_through_and_loss():
    model = _model("vq-wav2vec-kmeans-tiny")
    model.train()
    out = model(torch.randn(2, 8000))
    ze, zq = out.kmeans_projection, out.quantized_features
    assert torch.allclose(zq, zq.detach())
    # forward values: mse(zq, sg(ze)) + gamma * mse(ze, sg(zq)) = (1 + gamma) * mse
    expected = (1 + model.config.vq_gamma) * ((zq.detach() - ze.detach()) ** 2).mean()
    assert torch.allclose(out.kmeans_loss, expected)
    out.context.sum().backward()
    # the context network reads zq, whose gradient goes straight to ze, hence to the encoder ...
    assert model.feature_extractor.conv_layers[0].conv.weight.grad.abs().sum() > 0
    # ... while the codebook learns only from the k-means loss
    assert model.quantizer.codebook.grad is None or model.quantizer.codebook.grad.abs().sum() == 0
    model.zero_grad()
    model(torch.randn(2, 8000)).kmeans_loss.backward()
    assert model.quantizer.codebook.grad.abs().sum() > 0


def test_gumbel_temperature_schedule():
    assert gumbel_temperature_at_step(2.0, 0.5, 0.999995, 0) == 2.0
    assert gumbel_temperature_at_step(2.0, 0.5, 0.999995, 100_000) == pytest.approx(
        2 * math.exp(-0.5), rel=1e-5
    )
    assert gumbel_temperature_at_step(2.0, 0.5, 0.999995, 400_000) == 0.5
    model = Wav2VecForPreTraining(get_preset("vq-wav2vec-gumbel-tiny"))
    assert model.set_gumbel_temperature_for_step(50_000) == pytest.approx(2 * 0.999995**50_000)
    assert model.wav2vec.quantizer.temperature == pytest.approx(2 * 0.999995**50_000)
    with pytest.raises(ValueError, match="Gumbel"):
        Wav2VecForPreTraining(get_preset("vq-wav2vec-kmeans-tiny")).set_gumbel_temperature(1.0)


def test_group_norm_runs_in_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    norm = Fp32GroupNorm(1, 8)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    hidden = torch.randn(2, 8, 50).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = norm(hidden)
    assert out.dtype == torch.bfloat16
    reference = torch.nn.functional.group_norm(hidden.float(), 1, norm.weight, norm.bias, norm.eps)
    assert torch.equal(out, reference.bfloat16())


def test_too_short_input_names_the_minimum_in_samples_and_seconds():
    model = _model("wav2vec-tiny")
    receptive_field = model.config.receptive_field
    model(torch.randn(1, receptive_field))  # exactly one frame is fine
    with pytest.raises(ValueError, match=rf"{receptive_field} samples \(0\.0291 s\)"):
        model(torch.randn(1, receptive_field - 1))
    pretraining = Wav2VecForPreTraining(get_preset("wav2vec-tiny"))
    needed = pretraining.config.min_input_length(pretraining.config.resolved_offset + 4)  # offset + K frames
    assert needed == 465 + 6 * 160
    pretraining(torch.randn(1, needed))
    with pytest.raises(ValueError, match=rf"at least {needed} samples \(0\.0891 s\)"):
        pretraining(torch.randn(1, needed - 1))


def test_bad_input_shapes_and_pretraining_padding_are_refused():
    model = _model("wav2vec-tiny")
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        model(torch.randn(2000))
    audio = torch.randn(2, 2000)
    model(audio, attention_mask=torch.ones(2, 2000, dtype=torch.long))
    mask = torch.ones(2, 2000, dtype=torch.long)
    mask[1, 1500:] = 0
    model(audio, attention_mask=mask)  # the base model takes padding (test_wav2vec_model_outputs.py)
    pretraining = Wav2VecForPreTraining(get_preset("wav2vec-tiny"))
    with pytest.raises(ValueError, match="no padding mask"):
        pretraining(audio, attention_mask=mask)
    with pytest.raises(ValueError, match="no quantiser"):
        model.quantize(audio)


@pytest.mark.parametrize("option", ["skip_connections_feat", "agg_zero_pad", "non_affine_group_norm", "gru"])
def test_structural_options_build_and_run(option):
    kwargs = {
        "conv_feature_layers": [(16, 10, 5), (16, 8, 4), (16, 4, 2), (16, 4, 2), (16, 4, 2), (16, 1, 1)],
        "conv_aggregator_layers": [(24, 2, 1), (24, 3, 1)],
        "skip_connections_agg": True,
        "prediction_steps": 3,
        "num_negatives": 2,
    }
    if option == "gru":
        kwargs |= {"aggregator": "gru", "gru_dim": 20}
    else:
        kwargs[option] = True
    torch.manual_seed(0)
    model = Wav2VecForPreTraining(Wav2VecConfig(**kwargs)).eval()
    out = model(torch.randn(2, 3000))
    assert torch.isfinite(out.loss)
    assert out.context.shape[1] == (20 if option == "gru" else 24)
    names = dict(model.named_parameters())
    if option == "non_affine_group_norm":
        assert not any(".norm." in name for name in names)
    if option != "gru":
        # 16 -> 24 channels with skip connections: a 1x1 residual projection on the first layer only
        assert "wav2vec.context_network.layers.0.residual_projection.weight" in names
        assert "wav2vec.context_network.layers.1.residual_projection.weight" not in names


def test_context_network_is_causal():
    """Context blocks pad kernel - 1 frames on the left only: frame t never sees frame t + 1.

    (The one-group norm mixes statistics over the whole utterance, so the check is on the convs.)
    """
    model = _model("wav2vec-tiny")
    features = model.feature_extractor(torch.randn(1, 6000))[0]
    changed = features.clone()
    changed[..., 20:] += 1.0  # change only the future of frame 19
    for block in model.context_network.layers:
        assert block.left_padding == block.conv.kernel_size[0] - 1
        before = block.conv(torch.nn.functional.pad(features, (block.left_padding, 0), mode="replicate"))
        after = block.conv(torch.nn.functional.pad(changed, (block.left_padding, 0), mode="replicate"))
        assert before.shape[-1] == features.shape[-1]
        assert torch.equal(before[..., :20], after[..., :20])
        assert not torch.equal(before[..., 20:], after[..., 20:])
        features, changed = before, after
