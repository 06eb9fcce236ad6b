"""The time-major feature encoder equals the stock one, outputs and gradients."""

import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2Model

from wav2vec_hf.pretraining.feature_encoder import feature_encoder_time_major


@pytest.mark.parametrize("norm, bias", [("group", False), ("layer", True)])
def test_matches_stock_feature_encoder(norm, bias):
    torch.manual_seed(0)
    config = Wav2Vec2Config(
        conv_dim=(16, 24, 24),
        conv_kernel=(10, 3, 2),
        conv_stride=(5, 2, 2),
        feat_extract_norm=norm,
        conv_bias=bias,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
    )
    encoder = Wav2Vec2Model(config).feature_extractor
    for parameter in encoder.parameters():  # move norms off their identity init so a swap shows
        parameter.data.add_(0.1 * torch.randn_like(parameter))
    inputs = torch.randn(3, 4001)
    ours_inputs = inputs.clone().requires_grad_(True)

    ours = feature_encoder_time_major(encoder, ours_inputs)
    ours.square().sum().backward()
    ours_grads = [p.grad.clone() for p in encoder.parameters()]
    encoder.zero_grad()
    stock = encoder(inputs).transpose(1, 2)  # the stock forward needs a leaf input
    stock.square().sum().backward()
    stock_grads = [p.grad.clone() for p in encoder.parameters()]

    assert ours.shape == stock.shape
    torch.testing.assert_close(ours, stock, atol=1e-5, rtol=1e-5)
    assert ours_inputs.grad is not None and torch.isfinite(ours_inputs.grad).all()
    for ours_grad, stock_grad in zip(ours_grads, stock_grads):
        torch.testing.assert_close(ours_grad, stock_grad, atol=1e-4, rtol=1e-4)
