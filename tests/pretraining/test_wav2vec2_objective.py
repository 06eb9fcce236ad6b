"""Our wav2vec 2.0 pretraining objective against stock transformers on the same mask and negatives."""

import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

from wav2vec_hf.pretraining.masking import compute_span_mask, sample_negatives
from wav2vec_hf.pretraining.wav2vec2_objective import Wav2Vec2PretrainingObjective, gumbel_temperature


def tiny_config(**overrides) -> Wav2Vec2Config:
    options = dict(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        conv_dim=(32,) * 7,
        codevector_dim=32,
        proj_codevector_dim=24,
        num_negatives=10,
        num_codevectors_per_group=16,
        mask_time_prob=0.65,
        mask_time_length=4,
        layerdrop=0.0,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    options.update(overrides)
    return Wav2Vec2Config(**options)


@pytest.mark.parametrize("norm", ["group", "layer"])
def test_contrastive_loss_equals_stock_on_same_mask_and_negatives(norm):
    torch.manual_seed(0)
    config = tiny_config(feat_extract_norm=norm, do_stable_layer_norm=norm == "layer")
    model = Wav2Vec2ForPreTraining(config).eval()
    objective = Wav2Vec2PretrainingObjective(model).eval()
    inputs = torch.randn(3, 16000)
    frames = int(model._get_feat_extract_output_lengths(16000))
    generator = torch.Generator().manual_seed(1)
    mask = compute_span_mask(torch.full((3,), frames), frames, 0.65, 4, generator=generator)
    negatives, valid = sample_negatives(mask, config.num_negatives, generator=generator)
    assert valid[mask].all()

    with torch.no_grad():
        ours = objective(inputs, mask_time_indices=mask, negatives=(negatives, valid))
        stock = model(inputs, mask_time_indices=mask, sampled_negative_indices=negatives)
        # the quantised targets are the same vectors
        features = model.wav2vec2.feature_extractor(inputs).transpose(1, 2)
        quantized = objective._quantize(model.wav2vec2.feature_projection.layer_norm(features))[0]
        assert torch.allclose(model.project_q(quantized), stock.projected_quantized_states, atol=1e-5)
    num_masked = mask.sum()
    assert ours.num_masked == num_masked
    assert torch.allclose(ours.contrastive_loss, stock.contrastive_loss / num_masked, atol=1e-4, rtol=1e-4)


def test_gradient_scale_on_the_feature_encoder():
    torch.manual_seed(0)
    config = tiny_config(
        hidden_dropout=0.0,
        attention_dropout=0.0,
        feat_proj_dropout=0.0,
        feat_quantizer_dropout=0.0,
        activation_dropout=0.0,
    )
    inputs = torch.randn(2, 8000)
    grads = {}
    for scale in (1.0, 0.1):
        torch.manual_seed(5)
        model = Wav2Vec2ForPreTraining(config)
        model.eval()  # deterministic codes; the scale acts in training mode only, so set the flag by hand
        objective = Wav2Vec2PretrainingObjective(model, feature_grad_mult=scale)
        objective.training = True
        frames = int(model._get_feat_extract_output_lengths(8000))
        mask = compute_span_mask(
            torch.full((2,), frames), frames, 0.65, 4, generator=torch.Generator().manual_seed(2)
        )
        torch.manual_seed(9)
        objective(inputs, mask_time_indices=mask).loss.backward()
        grads[scale] = model.wav2vec2.feature_extractor.conv_layers[0].conv.weight.grad.clone()
    assert torch.allclose(grads[0.1], grads[1.0] * 0.1, rtol=1e-4, atol=1e-8)


def test_training_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(tiny_config())
    objective = Wav2Vec2PretrainingObjective(model, feature_grad_mult=1.0).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    inputs = torch.randn(4, 16000)
    losses = []
    for step in range(25):
        torch.manual_seed(100 + step)
        objective.set_gumbel_temperature(gumbel_temperature(step, 2.0, 0.5, 0.95))
        out = objective(inputs)
        assert torch.isfinite(out.loss)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.contrastive_loss.item())
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.2, losses


def test_gumbel_schedule():
    assert gumbel_temperature(0, 2.0, 0.5, 0.999995) == 2.0
    assert gumbel_temperature(10**7, 2.0, 0.5, 0.999995) == 0.5
    assert abs(gumbel_temperature(1000, 2.0, 0.5, 0.999995) - 2.0 * 0.999995**1000) < 1e-12


def test_forward_with_same_masks_masks_equally_many_frames_per_utterance():
    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(tiny_config(mask_time_length=2)).eval()
    objective = Wav2Vec2PretrainingObjective(model, require_same_masks=True).eval()
    inputs = torch.randn(4, 12000)
    attention_mask = torch.ones(4, 12000, dtype=torch.long)
    attention_mask[1, 9000:] = 0
    attention_mask[2, 6000:] = 0
    with torch.no_grad():
        out = objective(inputs, attention_mask=attention_mask)
    counts = out.mask.sum(dim=1)
    assert (counts == counts[0]).all() and counts[0] > 0
    assert out.num_masked == 4 * counts[0]
    assert torch.isfinite(out.loss)
    lengths = objective.frame_lengths(inputs, attention_mask)
    for row, length in enumerate(lengths.tolist()):
        assert not out.mask[row, length:].any()


def test_recipes_turn_same_masks_on_for_the_paper_presets_and_the_option_overrides(tmp_path):
    from wav2vec_hf.pretraining.arguments import (
        PretrainingDataArguments,
        PretrainingModelArguments,
        PretrainingTrainingArguments,
        parse_arguments,
        resolve_arguments,
    )
    from wav2vec_hf.pretraining.tasks import Wav2Vec2Task

    def resolve(preset: str, **training):
        return resolve_arguments(
            PretrainingModelArguments(model_type="wav2vec2", preset=preset),
            PretrainingDataArguments(train="train.tsv"),
            PretrainingTrainingArguments(output_dir=str(tmp_path), **training),
        )

    assert resolve("wav2vec2-base").recipe.require_same_masks is True
    assert resolve("wav2vec2-large-lv60").recipe.require_same_masks is True
    assert resolve("wav2vec2-small-cpu").recipe.require_same_masks is False
    assert resolve("wav2vec2-tiny").recipe.require_same_masks is False
    assert resolve("wav2vec2-base", require_same_masks=False).recipe.require_same_masks is False
    assert resolve("wav2vec2-small-cpu", require_same_masks=True).recipe.require_same_masks is True
    common = ["--model_type", "wav2vec2", "--train", "train.tsv", "--output_dir", str(tmp_path)]
    parsed = parse_arguments([*common, "--preset", "wav2vec2-base", "--require-same-masks", "false"])
    assert parsed.recipe.require_same_masks is False
    parsed = parse_arguments([*common, "--preset", "wav2vec2-tiny", "--require_same_masks", "true"])
    assert parsed.recipe.require_same_masks is True
    assert Wav2Vec2Task(parsed).build_module().require_same_masks is True
