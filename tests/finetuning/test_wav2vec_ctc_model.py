"""Wav2VecForCTC / VQWav2VecForCTC: frozen pretrained network, wav2letter head, padding-free batches, loading."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCTC

from wav2vec_hf.models.wav2vec import (
    VQWav2VecForCTC,
    VQWav2VecForPreTraining,
    Wav2VecConfig,
    Wav2VecForCTC,
    Wav2VecForPreTraining,
)
from wav2vec_hf.presets import get_preset

HEAD = {"vocab_size": 12, "pad_token_id": 0, "ctc_head_layers": [(24, 5), (24, 4)], "ctc_head_dropout": 0.0}


def _ctc_model(preset: str = "wav2vec-tiny", **overrides) -> Wav2VecForCTC:
    torch.manual_seed(0)
    config = get_preset(preset)
    for key, value in {**HEAD, **overrides}.items():
        setattr(config, key, value)
    config.__post_init__()  # normalise the head spec as loading would
    model_class = VQWav2VecForCTC if config.model_type == "vq-wav2vec" else Wav2VecForCTC
    return model_class(config).eval()


@pytest.mark.parametrize("preset", ["wav2vec-tiny", "vq-wav2vec-kmeans-tiny", "vq-wav2vec-gumbel-tiny"])
def test_a_padded_batch_gives_each_utterance_its_own_logits(preset):
    model = _ctc_model(preset)
    generator = torch.Generator().manual_seed(1)
    lengths = [4000, 2500, 1337]
    audio = [torch.randn(n, generator=generator) for n in lengths]
    batch = torch.zeros(3, max(lengths))
    mask = torch.zeros(3, max(lengths), dtype=torch.long)
    for row, wave in enumerate(audio):
        batch[row, : len(wave)] = wave
        mask[row, : len(wave)] = 1
    with torch.no_grad():
        out = model(batch, attention_mask=mask)
        for row, wave in enumerate(audio):
            alone = model(wave[None])
            frames = int(out.logit_lengths[row])
            assert frames == alone.logits.shape[1] == model.config.num_frames(len(wave))
            torch.testing.assert_close(out.logits[row, :frames], alone.logits[0], rtol=1e-5, atol=1e-5)


def test_the_pretrained_network_is_frozen_by_default_and_can_be_unfrozen():
    model = _ctc_model().train()
    assert not model.wav2vec.training  # frozen: eval mode, no dropout, even while training
    labels = torch.tensor([[3, 4, 5], [6, 6, -100]])
    model(torch.randn(2, 3000), labels=labels).loss.backward()
    assert all(p.grad is None for p in model.wav2vec.parameters())
    assert all(p.grad is not None for p in model.acoustic_model.parameters())
    model.zero_grad(set_to_none=True)
    model.unfreeze_pretrained()
    model.train()
    assert model.wav2vec.training and not model.config.freeze_pretrained
    model(torch.randn(2, 3000), labels=labels).loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.wav2vec.parameters())


def test_ctc_loss_is_finite_even_when_labels_cannot_fit_the_audio():
    model = _ctc_model()
    audio = torch.randn(2, 1200)  # 5 frames each
    feasible = torch.tensor([[3, 4], [5, -100]])
    assert torch.isfinite(model(audio, labels=feasible).loss)
    impossible = torch.tensor([[3, 3, 3, 3, 3, 3, 3, 3], [4, 5, 6, 7, 8, 9, 10, 11]])
    assert model(audio, labels=impossible).loss.item() == 0.0  # ctc_zero_infinity
    with pytest.raises(ValueError, match="tokenizer does not match"):
        model(audio, labels=torch.tensor([[99, 1], [2, 3]]))


@pytest.mark.parametrize("activation", ["prelu", "relu", "glu"])
def test_head_activations_keep_one_output_per_frame(activation):
    model = _ctc_model(ctc_head_activation=activation)
    logits = model(torch.randn(1, 3200)).logits
    assert logits.shape == (1, model.config.num_frames(3200), 12)


def test_missing_vocabulary_size_is_explained():
    with pytest.raises(ValueError, match="vocab_size"):
        Wav2VecForCTC(get_preset("wav2vec-tiny"))
    with pytest.raises(ValueError, match="ctc_head_layers"):
        Wav2VecConfig(ctc_head_layers=[(8,)])


@pytest.mark.parametrize(
    "preset, pretraining_class, ctc_class",
    [
        ("wav2vec-tiny", Wav2VecForPreTraining, Wav2VecForCTC),
        ("vq-wav2vec-gumbel-tiny", VQWav2VecForPreTraining, VQWav2VecForCTC),
    ],
)
def test_auto_model_for_ctc_loads_a_pretraining_folder_and_saves_remote_code(
    tmp_path, preset, pretraining_class, ctc_class
):
    torch.manual_seed(0)
    pretrained = pretraining_class(get_preset(preset))
    pretrained.save_pretrained(tmp_path / "pretrained")
    model = AutoModelForCTC.from_pretrained(tmp_path / "pretrained", **HEAD)
    assert type(model) is ctc_class
    for name, value in pretrained.wav2vec.state_dict().items():
        assert torch.equal(model.wav2vec.state_dict()[name], value), name
    model.save_pretrained(tmp_path / "ctc")
    config = json.loads((tmp_path / "ctc" / "config.json").read_text())
    assert config["auto_map"]["AutoModelForCTC"] == f"modeling_wav2vec.{ctc_class.__name__}"
    assert (tmp_path / "ctc" / "modeling_wav2vec.py").is_file()
    again = AutoModelForCTC.from_pretrained(tmp_path / "ctc").eval()
    audio = torch.randn(1, 2000)
    with torch.no_grad():
        torch.testing.assert_close(again(audio).logits, model.eval()(audio).logits)
