"""CTCTrainer wiring: optimiser groups, the two-phase schedule, the head-first freeze, short batches."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

from wav2vec_hf.finetuning.arguments import parse_args
from wav2vec_hf.finetuning.ctc import CTCTrainer, HeadFirstCallback, _time_mask_that_fits
from wav2vec_hf.finetuning.models import body_parameter_names, head_parameter_names
from wav2vec_hf.finetuning.schedule import TwoPhaseSchedule


def _model() -> Wav2Vec2ForCTC:
    torch.manual_seed(0)
    config = Wav2Vec2Config(
        vocab_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8,) * 7, num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2,
        mask_time_prob=0.05, mask_time_length=10, mask_time_min_masks=0, pad_token_id=0,
    )  # fmt: skip
    model = Wav2Vec2ForCTC(config)
    model.freeze_feature_encoder()
    return model


@pytest.mark.filterwarnings(
    "ignore:Detected call of `lr_scheduler.step\\(\\)` before"
)  # no optimizer steps here
def test_head_and_body_get_their_own_rates_and_the_feature_encoder_none(tmp_path):
    model = _model()
    head, body = head_parameter_names(model), body_parameter_names(model)
    assert head == ["lm_head.weight", "lm_head.bias"]
    assert not any(name.startswith("wav2vec2.feature_extractor.") for name in body)
    *_, args = parse_args(
        [
            "--model",
            "m",
            "--train",
            "t",
            "--output_dir",
            str(tmp_path),
            "--learning_rate",
            "1e-3",
            "--eval_strategy",
            "no",
        ]
    )
    schedule = TwoPhaseSchedule(
        head_steps=10, total_steps=0, peak_learning_rate=1e-3, head_learning_rate=1e-2
    )
    trainer = CTCTrainer(model=model, args=args, schedule=schedule, head_names=head, body_names=body)
    trainer.create_optimizer_and_scheduler(num_training_steps=110)
    groups = trainer.optimizer.param_groups
    in_optimizer = {id(p) for group in groups for p in group["params"]}
    named = dict(model.named_parameters())
    assert in_optimizer == {id(named[n]) for n in head + body}
    first = {group["phase"]: group for group in reversed(groups)}  # one group per phase (decay or not)
    rates = {"head": [], "body": []}
    for _ in range(110):
        for phase in rates:
            rates[phase].append(first[phase]["lr"])
        trainer.lr_scheduler.step()
    assert rates["head"][:10] == [pytest.approx(1e-2)] * 10 and rates["body"][:10] == [0.0] * 10
    assert max(rates["body"][10:]) == pytest.approx(1e-3) and rates["head"][10:] == rates["body"][10:]


def test_head_first_callback_freezes_the_body_in_one_process_only():
    model = _model()
    body = body_parameter_names(model)
    callback = HeadFirstCallback(model, body, head_steps=5)
    parameters = dict(model.named_parameters())
    single, state = SimpleNamespace(world_size=1), SimpleNamespace(global_step=0)
    callback.on_train_begin(single, state, None)
    assert not any(parameters[n].requires_grad for n in body) and parameters["lm_head.weight"].requires_grad
    state.global_step = 5
    callback.on_step_begin(single, state, None)
    assert all(parameters[n].requires_grad for n in body)
    assert not parameters["wav2vec2.feature_extractor.conv_layers.0.conv.weight"].requires_grad
    callback.on_train_begin(SimpleNamespace(world_size=2), SimpleNamespace(global_step=0), None)
    assert all(parameters[n].requires_grad for n in body)  # DDP: same parameters throughout, rate 0


def test_batches_shorter_than_a_time_mask_span_are_trained_without_one():
    model = _model().train()
    short = torch.randn(2, 2400)  # 7 frames < mask_time_length 10
    with pytest.raises(ValueError, match="mask_length"):
        model(short, labels=torch.tensor([[1, 2], [3, -100]]))
    mask = _time_mask_that_fits(model, short)
    assert mask.shape == (2, 7) and not mask.any()
    assert torch.isfinite(model(short, labels=torch.tensor([[1, 2], [3, -100]]), mask_time_indices=mask).loss)
    assert _time_mask_that_fits(model, torch.randn(2, 16000)) is None
    assert _time_mask_that_fits(model.eval(), short) is None


def test_random_weights_train_the_feature_encoder_and_pretrained_ones_keep_it_frozen(tmp_path):
    from tests.finetuning.fixtures import pretrained_folder
    from wav2vec_hf.finetuning.models import CTCModelOptions, build_ctc_model
    from wav2vec_hf.finetuning.vocabulary import Vocabulary

    vocabulary = Vocabulary.from_transcripts(["ONE TWO", "THREE"])
    pretrained = str(pretrained_folder(tmp_path, "wav2vec2"))
    for source, options, trained in (
        ("wav2vec2-tiny", CTCModelOptions(), True),  # a preset name: random weights
        (pretrained, CTCModelOptions(from_scratch=True), True),
        (pretrained, CTCModelOptions(), False),  # the paper's recipe
    ):
        model, _ = build_ctc_model(source, vocabulary, options)
        encoder = [
            p.requires_grad
            for n, p in model.named_parameters()
            if n.startswith("wav2vec2.feature_extractor.")
        ]
        assert encoder and all(encoder) == trained and any(encoder) == trained
        body = body_parameter_names(model, options.resolved(source))
        assert any(name.startswith("wav2vec2.feature_extractor.") for name in body) == trained
