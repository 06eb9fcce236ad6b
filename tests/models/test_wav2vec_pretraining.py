"""The wav2vec pretraining objective: negatives, the K-step loss (checked by hand), training on real speech."""

from __future__ import annotations

import pytest
import soundfile
import torch
import torch.nn.functional as F

from wav2vec_hf.models.wav2vec import Wav2VecConfig, Wav2VecForPreTraining, sample_negative_indices
from wav2vec_hf.presets import get_preset

TINY = ["wav2vec-tiny", "vq-wav2vec-gumbel-tiny", "vq-wav2vec-kmeans-tiny"]


# --- negatives ----------------------------------------------------------------------------------


def test_same_utterance_negatives_exclude_the_target_and_cover_the_rest():
    generator = torch.Generator().manual_seed(0)
    indices = sample_negative_indices(3, 6, 400, generator=generator)
    assert indices.shape == (3, 6, 400) and indices.dtype == torch.long
    utterance = indices // 6
    frame = indices % 6
    assert torch.equal(utterance, torch.arange(3).view(3, 1, 1).expand_as(utterance))
    assert not (frame == torch.arange(6).view(1, 6, 1)).any()  # never the positive
    for t in range(6):  # uniform over the 5 other frames
        counts = torch.bincount(frame[:, t].reshape(-1), minlength=6).float()
        others = torch.cat([counts[:t], counts[t + 1 :]])
        assert counts[t] == 0 and others.min() > 0.15 * others.sum()


def test_cross_sample_negatives_come_from_the_whole_batch_but_never_the_target():
    generator = torch.Generator().manual_seed(1)
    indices = sample_negative_indices(2, 5, 3, cross_sample_negatives=200, generator=generator)
    assert indices.shape == (2, 5, 203)
    own = torch.arange(10).view(2, 5, 1)
    assert not (indices == own).any()
    cross = indices[..., 3:]
    assert ((cross // 5) == 0).any() and ((cross // 5) == 1).any()  # both utterances are used
    assert set(cross.unique().tolist()) == set(range(10))


def test_sample_distance_keeps_negatives_near_the_target():
    indices = sample_negative_indices(
        1, 50, 300, sample_distance=3, generator=torch.Generator().manual_seed(2)
    )
    offsets = indices[0] - torch.arange(50).view(50, 1)
    assert offsets.abs().max() == 3 and not (offsets == 0).any()
    assert set(offsets[25].tolist()) == {-3, -2, -1, 1, 2, 3}
    assert set(offsets[0].tolist()) == {1, 2, 3}


def test_negatives_are_reproducible_with_a_generator():
    first = sample_negative_indices(2, 30, 10, 2, generator=torch.Generator().manual_seed(5))
    second = sample_negative_indices(2, 30, 10, 2, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first, second)


# --- the loss by hand ---------------------------------------------------------------------------


def _hand_loss(out, config, negatives):
    """The paper's loss written out frame by frame from the model's own y, c and step weights.

    L = sum_k sum_(b,t) [ -log sigmoid(z_{t+s}.h_k(c_t)) - sum_n log sigmoid(-z~_n . h_k(c_t)) ] / #positives,
    s = offset + k (fairseq's normalisation by the number of positives).
    """
    y = out.quantized_features if out.quantized_features is not None else out.features  # (B, C, T)
    batch, channels, frames = y.shape
    flat = y.transpose(0, 1).reshape(channels, -1)
    total, count, per_step, correct = 0.0, 0, [], 0
    for k in range(config.prediction_steps):
        shift = config.resolved_offset + k
        step_sum, step_count = 0.0, 0
        for b in range(batch):
            for t in range(frames - shift):
                h = out.step_predictions[b, :, t, k]
                positive = torch.dot(h, y[b, :, t + shift])
                distractors = torch.stack([torch.dot(h, flat[:, n]) for n in negatives[b, t + shift]])
                if config.infonce:
                    term = -torch.log_softmax(torch.cat([positive.view(1), distractors]), dim=0)[0]
                else:
                    weight = 1.0 / config.num_negatives if config.balanced_classes else 1.0
                    term = -F.logsigmoid(positive) - weight * F.logsigmoid(-distractors).sum()
                step_sum = step_sum + term
                step_count += 1
                correct += int(positive > distractors.max())
        per_step.append(step_sum / step_count)
        total, count = total + step_sum, count + step_count
    return total / count, torch.stack(per_step), correct / count


@pytest.mark.parametrize(
    "variant", [{}, {"infonce": True}, {"balanced_classes": True}, {"cross_sample_negatives": 2}]
)
def test_contrastive_loss_equals_a_hand_computation(variant):
    config = Wav2VecConfig(
        conv_feature_layers=[(8, 10, 5), (8, 8, 4), (8, 4, 2), (8, 4, 2), (8, 4, 2)],
        conv_aggregator_layers=[(6, 2, 1), (6, 3, 1)],
        prediction_steps=3,
        num_negatives=3,
        **variant,
    )
    torch.manual_seed(0)
    model = Wav2VecForPreTraining(config).eval()
    audio = torch.randn(2, config.min_input_length(9))
    negatives = sample_negative_indices(
        2, 9, 3, config.cross_sample_negatives, generator=torch.Generator().manual_seed(3)
    )
    out = model(audio, negative_indices=negatives)

    # the step projections are h_k(c) = W_k c + b: check them against the weights first
    weight, bias = model.step_projection.weight[:, :, 0, :], model.step_projection.bias  # (C_ctx, C, K), (C,)
    steps = torch.einsum("bit,iok->botk", out.context, weight) + bias.view(1, -1, 1, 1)
    torch.testing.assert_close(out.step_predictions, steps)

    loss, per_step, accuracy = _hand_loss(out, config, negatives)
    torch.testing.assert_close(out.contrastive_loss, loss)
    torch.testing.assert_close(out.loss, loss)  # wav2vec: no quantiser term
    torch.testing.assert_close(out.per_step_loss, per_step)
    assert float(out.accuracy) == pytest.approx(accuracy)
    assert torch.equal(out.negative_indices, negatives)
    positives = 2 * (6 + 5 + 4)  # T - offset - k positions for T = 9, offset 3, k = 0, 1, 2
    copies = 1 + 3 + config.cross_sample_negatives
    if config.infonce:
        assert out.logits.shape == (positives, copies) and not out.targets.any()
    else:
        assert out.logits.shape == (positives * copies,) and int(out.targets.sum()) == positives


@pytest.mark.parametrize("name", ["vq-wav2vec-gumbel-tiny", "vq-wav2vec-kmeans-tiny"])
def test_vq_loss_adds_the_weighted_quantiser_term(name):
    config = get_preset(name)
    torch.manual_seed(0)
    model = Wav2VecForPreTraining(config).eval()
    audio = torch.randn(1, config.min_input_length(12))
    negatives = sample_negative_indices(
        1, 12, config.num_negatives, generator=torch.Generator().manual_seed(4)
    )
    out = model(audio, negative_indices=negatives)
    contrastive, _, _ = _hand_loss(out, config, negatives)
    torch.testing.assert_close(out.contrastive_loss, contrastive)
    if config.vq_type == "gumbel":
        # diversity = (G V - prob perplexity) / (G V), prob perplexity from the softmax of the logits
        encoded = model.wav2vec(audio)
        probs = torch.softmax(encoded.codevector_logits.view(-1, 2, config.vq_vars), dim=-1).mean(0)
        perplexity = torch.exp(-(probs * torch.log(probs + 1e-7)).sum(-1)).sum()
        diversity = (2 * config.vq_vars - perplexity) / (2 * config.vq_vars)
        torch.testing.assert_close(out.diversity_loss, diversity)
        torch.testing.assert_close(out.loss, contrastive + config.diversity_loss_weight * diversity)
        assert out.gumbel_temperature == 2.0
    else:
        torch.testing.assert_close(out.loss, contrastive + config.kmeans_loss_weight * out.kmeans_loss)


def test_pretraining_refuses_a_model_without_negatives():
    with pytest.raises(ValueError, match="num_negatives"):
        Wav2VecForPreTraining(Wav2VecConfig(num_negatives=0, cross_sample_negatives=0))


def test_negative_indices_of_the_wrong_shape_are_refused():
    model = Wav2VecForPreTraining(get_preset("wav2vec-tiny")).eval()
    with pytest.raises(ValueError, match="negative_indices"):
        model(torch.randn(1, 3000), negative_indices=torch.zeros(1, 5, 4, dtype=torch.long))


# --- training on real speech --------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech_batch(real_data_dir):
    """Two 1 s crops of LibriSpeech (16 kHz), shape (2, 16000)."""
    files = sorted((real_data_dir / "librispeech").glob("*.flac"))[:2]
    assert len(files) == 2, f"expected LibriSpeech flac files under {real_data_dir / 'librispeech'}"
    crops = []
    for path in files:
        audio, rate = soundfile.read(path, dtype="float32")
        assert rate == 16000
        crops.append(torch.from_numpy(audio[16000:32000]))
    return torch.stack(crops)


@pytest.mark.parametrize("name", TINY)
def test_loss_is_finite_and_decreases_on_real_speech(name, speech_batch):
    config = get_preset(name)
    torch.manual_seed(0)
    model = Wav2VecForPreTraining(config)
    frames = config.num_frames(speech_batch.shape[1])
    evaluation_negatives = sample_negative_indices(
        2, frames, config.num_negatives, generator=torch.Generator().manual_seed(0)
    )

    def evaluate() -> float:
        model.eval()
        with torch.no_grad():
            return float(model(speech_batch, negative_indices=evaluation_negatives).loss)

    before = evaluate()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    generator = torch.Generator().manual_seed(1)
    for step in range(6):
        if config.vq_type == "gumbel":
            model.set_gumbel_temperature_for_step(step)
        out = model(speech_batch, generator=generator)
        assert torch.isfinite(out.loss), f"step {step}: loss {out.loss}"
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    after = evaluate()
    # measured: wav2vec 3.76 -> 2.53, Gumbel 3.34 -> 2.71, k-means 4.71 -> 4.41
    assert after < before - 0.1, f"{name}: loss {before:.4f} -> {after:.4f}"
