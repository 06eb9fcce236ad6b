"""The blocked-GEMM positional conv equals the stock one, outputs and gradients."""

import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2Model

from wav2vec_hf.pretraining.positional_conv import positional_conv_time_major


@pytest.mark.parametrize("kernel, taps_per_block", [(16, 5), (15, 4), (16, 16)])
def test_matches_stock_positional_embedding(kernel, taps_per_block):
    torch.manual_seed(0)
    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_conv_pos_embeddings=kernel,
        num_conv_pos_embedding_groups=4,
    )
    embedding = Wav2Vec2Model(config).encoder.pos_conv_embed
    hidden = torch.randn(2, 37, 32)
    ours_input = hidden.clone().requires_grad_(True)
    stock_input = hidden.clone().requires_grad_(True)

    ours = positional_conv_time_major(embedding, ours_input, taps_per_block=taps_per_block)
    ours.square().sum().backward()
    ours_grads = [p.grad.clone() for p in embedding.parameters()]
    embedding.zero_grad()
    stock = embedding(stock_input)
    stock.square().sum().backward()
    stock_grads = [p.grad.clone() for p in embedding.parameters()]

    torch.testing.assert_close(ours, stock, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours_input.grad, stock_input.grad, atol=1e-5, rtol=1e-5)
    for ours_grad, stock_grad in zip(ours_grads, stock_grads):
        torch.testing.assert_close(ours_grad, stock_grad, atol=1e-4, rtol=1e-4)
