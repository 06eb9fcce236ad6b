"""Wav2VecModel / VQWav2VecModel with transformers' conventions, in the style of ModelTesterMixin.

last_hidden_state / extract_features / hidden_states, return_dict=False order, save_pretrained and
from_pretrained (safetensors), eval determinism, gradient checkpointing, and padded batches: each
utterance's valid frames equal its frames alone (to 1e-5; the masked norm sums in another order),
padded frames are zero, codes are identical.
"""

from __future__ import annotations

import pytest
import torch

from wav2vec_hf.models.wav2vec import VQWav2VecModel, Wav2VecConfig, Wav2VecModel
from wav2vec_hf.models.wav2vec.modeling_wav2vec import _code_perplexity, _perplexity
from wav2vec_hf.presets import get_preset

TINY = ["wav2vec-tiny", "vq-wav2vec-gumbel-tiny", "vq-wav2vec-kmeans-tiny"]
# Skip connections in the encoder (stride picked per utterance) and in the context network.
SKIP = {
    "conv_feature_layers": [(16, 10, 5), (16, 8, 4), (16, 4, 2), (16, 4, 2), (16, 4, 2), (16, 1, 1)],
    "conv_aggregator_layers": [(24, 2, 1), (24, 3, 1)],
    "skip_connections_feat": True,
    "skip_connections_agg": True,
    "log_compression": True,
}
VARIANTS = {
    "skip": SKIP,
    "zero_pad": {**SKIP, "agg_zero_pad": True, "non_affine_group_norm": True},
    "gru": {"conv_feature_layers": [(16, 10, 5), (16, 8, 4), (16, 4, 2)], "aggregator": "gru", "gru_dim": 20},
}
ALL = TINY + list(VARIANTS)
TOLERANCE = {"atol": 1e-5, "rtol": 1e-5}


def _model(name: str, seed: int = 0, **overrides) -> Wav2VecModel:
    torch.manual_seed(seed)
    config = Wav2VecConfig(**VARIANTS[name]) if name in VARIANTS else get_preset(name)
    for key, value in overrides.items():
        setattr(config, key, value)
    model_class = Wav2VecModel if config.vq_type == "none" else VQWav2VecModel
    return model_class(config).eval()


def _padded(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Audio ``(B, max(lengths))`` right-padded with a loud constant (not zeros: padding must not
    matter whatever it holds), and its attention mask."""
    generator = torch.Generator().manual_seed(seed)
    audio = torch.randn(len(lengths), max(lengths), generator=generator)
    mask = torch.zeros(audio.shape, dtype=torch.long)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
        audio[row, length:] = 3.0
    return audio, mask


@pytest.mark.parametrize("name", ALL)
def test_output_shapes_and_hidden_states(name):
    model = _model(name)
    config = model.config
    out = model(torch.randn(2, 4000), output_hidden_states=True)
    frames = config.num_frames(4000)
    assert out.last_hidden_state.shape == (2, frames, config.context_dim)
    assert out.extract_features.shape == (2, frames, config.encoder_dim)
    assert torch.equal(out.last_hidden_state, out.context.transpose(1, 2))
    assert torch.equal(out.extract_features, out.features.transpose(1, 2))
    layers = 1 if config.aggregator == "gru" else len(config.conv_aggregator_layers)
    assert len(out.hidden_states) == layers + 1  # the context network's input, then each layer
    first = out.features if out.quantized_features is None else out.quantized_features
    assert torch.equal(out.hidden_states[0], first.transpose(1, 2))  # eval: dropout_features is identity
    assert torch.equal(out.hidden_states[-1], out.last_hidden_state)  # eval: dropout_agg is identity
    for hidden in out.hidden_states:
        assert hidden.shape[:2] == (2, frames) and hidden.is_contiguous()
    assert model(torch.randn(2, 4000)).hidden_states is None


def test_config_output_hidden_states_is_the_default():
    model = _model("wav2vec-tiny", output_hidden_states=True)
    audio = torch.randn(1, 3000)
    assert len(model(audio).hidden_states) == 4
    assert model(audio, output_hidden_states=False).hidden_states is None


@pytest.mark.parametrize("name", TINY)
def test_return_dict_false_is_the_dict_in_transformers_order(name):
    model = _model(name)
    audio = torch.randn(2, 3000)
    for hidden in (False, True):
        out = model(audio, output_hidden_states=hidden)
        as_tuple = model(audio, output_hidden_states=hidden, return_dict=False)
        expected = out.to_tuple()
        assert len(as_tuple) == len(expected)
        assert torch.equal(as_tuple[0], out.last_hidden_state)
        assert torch.equal(as_tuple[1], out.extract_features)
        if hidden:
            assert all(torch.equal(a, b) for a, b in zip(as_tuple[2], out.hidden_states))
        assert torch.equal(as_tuple[3 if hidden else 2], out.context)  # then fairseq's fields


@pytest.mark.parametrize("name", TINY)
def test_save_and_load_in_safetensors(name, tmp_path):
    model = _model(name)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert not (tmp_path / "pytorch_model.bin").exists()
    reloaded = type(model).from_pretrained(tmp_path).eval()
    audio, mask = _padded([3000, 2000])
    first = model(audio, attention_mask=mask, output_hidden_states=True)
    second = reloaded(audio, attention_mask=mask, output_hidden_states=True)
    assert torch.equal(first.last_hidden_state, second.last_hidden_state)
    assert all(torch.equal(a, b) for a, b in zip(first.hidden_states, second.hidden_states))


@pytest.mark.parametrize("name", ALL)
def test_eval_mode_is_deterministic(name):
    model = _model(name)
    audio, mask = _padded([3000, 2500])
    for kwargs in ({}, {"attention_mask": mask}):
        first, second = model(audio, **kwargs), model(audio, **kwargs)
        assert torch.equal(first.last_hidden_state, second.last_hidden_state)


@pytest.mark.parametrize("name", ALL)
def test_padded_batch_gives_each_utterance_its_frames_alone(name):
    model = _model(name)
    config = model.config
    # 625 samples: with SKIP's encoder, the 5th layer has 6 frames in and 2 out (residual step 3),
    # where the 5000-sample row has step 2; a receptive field's worth gives exactly one frame.
    lengths = [5000, 3111, 625, config.receptive_field]
    audio, mask = _padded(lengths)
    with torch.no_grad():
        batch = model(audio, attention_mask=mask, output_hidden_states=True)
        frame_mask = model._get_feature_vector_attention_mask(batch.last_hidden_state.shape[1], mask)
        for row, length in enumerate(lengths):
            alone = model(audio[row : row + 1, :length], output_hidden_states=True)
            frames = alone.last_hidden_state.shape[1]
            assert frames == model._get_feat_extract_output_lengths(length) == int(frame_mask[row].sum())
            pairs = [(batch.last_hidden_state, alone.last_hidden_state)]
            pairs += [(batch.extract_features, alone.extract_features)]
            pairs += list(zip(batch.hidden_states, alone.hidden_states))
            pairs += [(b.transpose(1, 2), a.transpose(1, 2)) for b, a in zip(batch.encoder_hidden_states[-1:], alone.encoder_hidden_states[-1:])]  # fmt: skip
            for padded, single in pairs:
                torch.testing.assert_close(padded[row, :frames], single[0], **TOLERANCE)
                assert not padded[row, frames:].any(), "padded frames must be zero"
            if alone.codevector_indices is not None:
                assert torch.equal(batch.codevector_indices[row, :frames], alone.codevector_indices[0])
                torch.testing.assert_close(batch.quantized_features[row, :, :frames], alone.quantized_features[0], **TOLERANCE)  # fmt: skip


def test_quantizer_statistics_count_valid_frames_only():
    lengths = [4000, 2500, 1000]
    audio, mask = _padded(lengths)
    for name in ("vq-wav2vec-gumbel-tiny", "vq-wav2vec-kmeans-tiny"):
        model = _model(name)
        with torch.no_grad():
            batch = model(audio, attention_mask=mask)
            alone = [model(audio[row : row + 1, :length]) for row, length in enumerate(lengths)]
        codes = torch.cat([out.codevector_indices[0] for out in alone])  # (sum T, G)
        torch.testing.assert_close(batch.code_perplexity, _code_perplexity(codes, model.config.vq_vars))
        if name.endswith("gumbel-tiny"):
            logits = torch.cat([out.codevector_logits[0] for out in alone])  # (sum T, G V)
            probs = torch.softmax(logits.view(len(logits), model.config.vq_groups, -1), dim=-1).mean(0)
            torch.testing.assert_close(batch.prob_perplexity, _perplexity(probs), **TOLERANCE)
        else:
            frames = torch.tensor([float(out.context.shape[-1]) for out in alone])
            losses = torch.stack([out.kmeans_loss for out in alone])
            expected = (losses * frames).sum() / frames.sum()  # a mean over every valid frame
            torch.testing.assert_close(batch.kmeans_loss, expected, **TOLERANCE)
            assert not batch.kmeans_projection[2, :, alone[2].context.shape[-1] :].any()


@pytest.mark.parametrize("name", TINY)
def test_a_mask_without_padding_is_the_fairseq_path_exactly(name):
    model = _model(name)
    audio = torch.randn(2, 3000)
    plain = model(audio)
    ones = model(audio, attention_mask=torch.ones(2, 3000, dtype=torch.long))
    assert torch.equal(plain.context, ones.context) and torch.equal(plain.features, ones.features)


def test_bad_masks_name_the_fix():
    model = _model("wav2vec-tiny")
    audio, mask = _padded([3000, 2000])
    with pytest.raises(ValueError, match="same padded batch"):
        model(audio, attention_mask=mask[:, :-1])
    left = mask.flip(-1)
    with pytest.raises(ValueError, match="right padding"):
        model(audio, attention_mask=left)
    short = mask.clone()
    short[1, 400:] = 0
    with pytest.raises(ValueError, match=r"utterance 1 of the batch has 400 samples .* at least 465 samples"):
        model(audio, attention_mask=short)


def _gradients(model: Wav2VecModel, audio: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad()
    torch.manual_seed(3)  # the same dropout masks / Gumbel noise in both runs
    model(audio, attention_mask=mask).last_hidden_state.pow(2).sum().backward()
    return {
        key: parameter.grad.clone()
        for key, parameter in model.named_parameters()
        if parameter.grad is not None
    }


@pytest.mark.parametrize("name", ["skip", "vq-wav2vec-gumbel-tiny"])
def test_gradient_checkpointing_gives_the_same_gradients(name):
    model = _model(name, dropout=0.1)
    assert model.supports_gradient_checkpointing
    model.train()
    audio, mask = _padded([3000, 2200])
    expected = _gradients(model, audio, mask)
    calls, block = [], model.context_network.layers[0]
    block_forward = block.forward

    def counted_forward(*args, **kwargs):  # forward hooks do not fire on the recompute: count calls
        calls.append(1)
        return block_forward(*args, **kwargs)

    block.forward = counted_forward
    # transformers renamed gradient_checkpointing_* to activation_checkpointing_* (the old names warn).
    enable = getattr(model, "activation_checkpointing_enable", model.gradient_checkpointing_enable)
    disable = getattr(model, "activation_checkpointing_disable", model.gradient_checkpointing_disable)
    for reentrant in (False, True):
        enable({"use_reentrant": reentrant})
        calls.clear()
        got = _gradients(model, audio, mask)
        assert len(calls) == 2, "the checkpointed block runs again in backward"
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            torch.testing.assert_close(got[key], value, msg=key)
    disable()
    calls.clear()
    _gradients(model, audio, mask)
    assert len(calls) == 1
