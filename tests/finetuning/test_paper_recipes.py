"""The wav2vec 2.0 paper's fine-tuning recipes: every value against fairseq's yaml files, fairseq's
learning rate and freeze formulas, overrides, batch plans, ``--print_recipe`` and the CLI's errors."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch
from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

from wav2vec_hf.cli import main
from wav2vec_hf.finetuning.arguments import parse_args
from wav2vec_hf.finetuning.ctc import CTCTrainer, HeadFirstCallback
from wav2vec_hf.finetuning.data import ctc_frames_needed
from wav2vec_hf.finetuning.models import body_parameter_names, head_parameter_names
from wav2vec_hf.finetuning.paper_recipes import RECIPES, BatchPlan, RecipeError, get_recipe
from wav2vec_hf.finetuning.recipe_resolution import parse_finetune_arguments
from wav2vec_hf.finetuning.vocabulary import Vocabulary

REQUIRED = ["--model", "folder", "--train", "train.tsv", "--output_dir", "out"]

# fairseq examples/wav2vec/config/finetuning/<name>.yaml (facebookresearch/fairseq main, 2025):
# lr, max_update, freeze_finetune_updates, mask_prob, mask_channel_prob, layerdrop, max_tokens,
# distributed_world_size, update_freq (absent = 1), task.normalize.
FAIRSEQ_YAML = {
    "base_10m": (5e-5, 13_000, 10_000, 0.65, 0.25, 0.1, 3_200_000, 2, 4, False),
    "base_1h": (5e-5, 13_000, 10_000, 0.65, 0.25, 0.1, 3_200_000, 2, 4, False),
    "base_10h": (5e-5, 20_000, 10_000, 0.65, 0.5, 0.05, 3_200_000, 2, 4, False),
    "base_100h": (3e-5, 80_000, 0, 0.65, 0.5, 0.1, 3_200_000, 2, 4, False),
    "base_960h": (1e-4, 320_000, 0, 0.5, 0.1, 0.1, 3_200_000, 8, 1, False),
    "vox_10m": (1e-4, 13_000, 10_000, 0.65, 0.25, 0.1, 1_280_000, 4, 5, True),
    "vox_1h": (3e-4, 13_000, 10_000, 0.75, 0.25, 0.1, 1_280_000, 4, 5, True),
    "vox_10h": (1e-4, 20_000, 10_000, 0.75, 0.25, 0.1, 1_280_000, 4, 5, True),
    "vox_100h": (3e-5, 80_000, 10_000, 0.5, 0.5, 0.1, 1_280_000, 4, 5, True),
    "vox_960h": (3e-5, 320_000, 10_000, 0.5, 0.25, 0.1, 1_280_000, 24, 1, True),
}
# The same in all ten files, or Wav2Vec2AsrConfig / tri_stage / wav2vec2 defaults they rely on.
FAIRSEQ_COMMON = {
    "mask_length": 10,  # Wav2Vec2AsrConfig default
    "mask_min_masks": 2,  # wav2vec2.py apply_mask: compute_mask_indices(..., min_masks=2)
    "mask_channel_length": 64,
    "dropout": 0.0,
    "attention_dropout": 0.0,
    "dropout_input": 0.0,
    "final_dropout": 0.0,
    "activation_dropout": 0.1,
    "feature_grad_mult": 0.0,
    "adam_betas": (0.9, 0.98),
    "adam_eps": 1e-8,
    "clip_norm": 0.0,  # optimization.clip_norm default
    "phase_ratio": (0.1, 0.4, 0.5),
    "init_lr_scale": 0.01,  # tri_stage default
    "final_lr_scale": 0.05,
    "sentence_avg": True,
    "zero_infinity": True,
    "labels": "ltr",
    "best_checkpoint_metric": "wer",
}


def fairseq_lr(num_updates: int, peak: float, max_update: int) -> float:
    """fairseq's TriStageLRSchedule.step_update with phase_ratio (0.1, 0.4, 0.5), scales 0.01 / 0.05."""
    warmup, hold, decay = (int(max_update * ratio) for ratio in FAIRSEQ_COMMON["phase_ratio"])
    init_lr = FAIRSEQ_COMMON["init_lr_scale"] * peak
    warmup_rate = (peak - init_lr) / warmup if warmup else 0
    decay_factor = -math.log(FAIRSEQ_COMMON["final_lr_scale"]) / decay
    if num_updates < warmup:
        return init_lr + warmup_rate * num_updates
    if num_updates < warmup + hold:
        return peak
    if num_updates <= warmup + hold + decay:
        return peak * math.exp(-decay_factor * (num_updates - warmup - hold))
    return peak * FAIRSEQ_COMMON["final_lr_scale"]


def fairseq_transformer_trains(num_updates: int, freeze_finetune_updates: int) -> bool:
    """Wav2VecEncoder.forward: ``ft = self.freeze_finetune_updates <= self.num_updates``."""
    return freeze_finetune_updates <= num_updates


def _resolved(name: str, *extra: str):
    command = parse_finetune_arguments([*REQUIRED, "--recipe", name, *extra])
    return (*command.arguments, command.recipe)


def test_the_table_holds_the_ten_fairseq_configs():
    assert list(RECIPES) == list(FAIRSEQ_YAML)
    with pytest.raises(RecipeError, match="base_10m, base_1h"):
        get_recipe("base_5m")


@pytest.mark.parametrize("name", list(FAIRSEQ_YAML))
def test_every_resolved_setting_equals_the_fairseq_yaml(name):
    lr, max_update, freeze, mask_prob, channel_prob, layerdrop, max_tokens, gpus, update_freq, normalize = (
        FAIRSEQ_YAML[name]
    )
    common = FAIRSEQ_COMMON
    model, data, recipe, training, resolved = _resolved(name)
    assert (model.mask_time_prob, model.mask_time_length, model.mask_time_min_masks) == (
        mask_prob,
        common["mask_length"],
        common["mask_min_masks"],
    )
    assert (model.mask_feature_prob, model.mask_feature_length) == (
        channel_prob,
        common["mask_channel_length"],
    )
    assert model.layerdrop == layerdrop
    assert (model.hidden_dropout, model.attention_dropout, model.feat_proj_dropout, model.final_dropout) == (
        common["dropout"],
        common["attention_dropout"],
        common["dropout_input"],
        common["final_dropout"],
    )
    assert model.activation_dropout == common["activation_dropout"]
    assert model.freeze_feature_encoder is (common["feature_grad_mult"] == 0.0)
    assert model.ctc_loss_reduction == "sentence" and common["sentence_avg"]
    assert model.ctc_zero_infinity is common["zero_infinity"]
    assert data.trailing_word_delimiter is (common["labels"] == "ltr")
    assert (recipe.schedule, recipe.freeze_finetune_updates) == ("fairseq", freeze)
    tri_stage = recipe.tri_stage()
    assert tri_stage.ratios == common["phase_ratio"]
    assert (tri_stage.init_scale, tri_stage.final_scale) == (
        common["init_lr_scale"],
        common["final_lr_scale"],
    )
    assert (training.learning_rate, training.max_steps) == (lr, max_update)
    assert (training.adam_beta1, training.adam_beta2, training.adam_epsilon) == (
        *common["adam_betas"],
        common["adam_eps"],
    )
    assert training.weight_decay == 0.0 and training.max_grad_norm == common["clip_norm"]
    assert (
        training.metric_for_best_model == common["best_checkpoint_metric"]
        and training.greater_is_better is False
    )
    # fairseq's max_tokens counts 16 kHz samples: seconds per update = max_tokens x GPUs x update_freq / 16000
    update_seconds = max_tokens * gpus * update_freq / 16_000
    assert resolved.batch.update_seconds == pytest.approx(update_seconds)
    assert recipe.batch_seconds == max_tokens / 16_000 and recipe.num_devices == 1
    assert training.gradient_accumulation_steps == gpus * update_freq  # one device with fairseq's GPU batch
    facts = resolved.to_json()["fairseq"]
    assert (facts["max_tokens"], facts["distributed_world_size"], facts["update_freq"]) == (
        max_tokens,
        gpus,
        update_freq,
    )
    assert facts["normalize"] is normalize and resolved.overrides == {}


@pytest.mark.parametrize("name", list(FAIRSEQ_YAML))
def test_learning_rate_and_freeze_follow_fairseq_formulas(name):
    lr, max_update, freeze = FAIRSEQ_YAML[name][:3]
    _, _, recipe, training, _ = _resolved(name)
    schedule = recipe.learning_rate_schedule(training.max_steps, training.learning_rate)
    for fraction in (0.0, 0.1, 0.5, 1.0):
        step = int(fraction * max_update)
        head, body = schedule.learning_rates(step)
        assert head == pytest.approx(fairseq_lr(step, lr, max_update), rel=1e-12, abs=0)
        trains = fairseq_transformer_trains(step, freeze)
        assert body == (pytest.approx(head, rel=1e-12, abs=0) if trains else 0.0)
    assert fairseq_lr(0, lr, max_update) == pytest.approx(0.01 * lr)
    assert fairseq_lr(max_update, lr, max_update) == pytest.approx(0.05 * lr)
    for step in (freeze - 1, freeze, freeze + 1):
        if step < 0:
            continue
        assert (schedule.body_factor(step) > 0) == fairseq_transformer_trains(step, freeze)


def _tiny_model() -> Wav2Vec2ForCTC:
    torch.manual_seed(0)
    config = Wav2Vec2Config(
        vocab_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        conv_dim=(8,) * 7, num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2,
        mask_time_prob=0.0, pad_token_id=0, ctc_loss_reduction="sum",
    )  # fmt: skip
    model = Wav2Vec2ForCTC(config)
    model.freeze_feature_encoder()
    return model


@pytest.mark.parametrize("name", ["base_10m", "base_100h"])
def test_the_freeze_callback_releases_the_transformer_at_freeze_finetune_updates(name):
    freeze = FAIRSEQ_YAML[name][2]
    _, _, recipe, training, _ = _resolved(name)
    schedule = recipe.learning_rate_schedule(training.max_steps, training.learning_rate)
    model = _tiny_model()
    body = body_parameter_names(model)
    parameters = dict(model.named_parameters())
    callback = HeadFirstCallback(model, body, schedule.frozen_steps, drop_frozen_gradients=True)
    for step in (freeze - 1, freeze, freeze + 1):
        if step < 0:
            continue
        callback.on_train_begin(SimpleNamespace(world_size=1), SimpleNamespace(global_step=step), None)
        assert all(parameters[n].requires_grad for n in body) == fairseq_transformer_trains(step, freeze)
        assert parameters["lm_head.weight"].requires_grad  # the head trains from update 0


def test_frozen_gradients_are_dropped_under_ddp_so_adam_starts_at_the_release():
    model = _tiny_model()
    body = body_parameter_names(model)
    callback = HeadFirstCallback(model, body, 5, drop_frozen_gradients=True)
    ddp = SimpleNamespace(world_size=2)
    callback.on_train_begin(ddp, SimpleNamespace(global_step=0), None)
    model(torch.randn(2, 4000), labels=torch.tensor([[1, 2], [3, 4]])).loss.backward()
    parameters = dict(model.named_parameters())
    assert parameters[body[0]].grad is not None  # DDP keeps the body in the graph
    callback.on_pre_optimizer_step(ddp, SimpleNamespace(global_step=4), None)
    assert all(parameters[n].grad is None for n in body) and parameters["lm_head.weight"].grad is not None
    model.zero_grad()
    model(torch.randn(2, 4000), labels=torch.tensor([[1, 2], [3, 4]])).loss.backward()
    callback.on_pre_optimizer_step(ddp, SimpleNamespace(global_step=5), None)
    assert parameters[body[0]].grad is not None


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")
def test_the_trainer_runs_fairseq_rates_for_the_head_and_zero_for_the_frozen_body(tmp_path):
    model = _tiny_model()
    head, body = head_parameter_names(model), body_parameter_names(model)
    argv = ["--output_dir", str(tmp_path), "--max_steps", "100", "--freeze_finetune_updates", "30"]
    _, _, recipe, training, _ = _resolved("base_10m", *argv, "--eval_strategy", "no")
    schedule = recipe.learning_rate_schedule(training.max_steps, training.learning_rate)
    trainer = CTCTrainer(model=model, args=training, schedule=schedule, head_names=head, body_names=body)
    trainer.create_optimizer_and_scheduler(num_training_steps=100)
    first = {group["phase"]: group for group in reversed(trainer.optimizer.param_groups)}
    assert trainer.optimizer.defaults["betas"] == (0.9, 0.98)
    for step in range(101):
        expected = fairseq_lr(step, 5e-5, 100)
        assert first["head"]["lr"] == pytest.approx(expected, rel=1e-12)
        assert first["body"]["lr"] == (pytest.approx(expected, rel=1e-12) if step >= 30 else 0.0)
        trainer.lr_scheduler.step()


def test_sentence_reduction_is_the_summed_ctc_loss_over_the_number_of_utterances(tmp_path):
    model = _tiny_model().eval()  # no dropout: the same loss twice
    *_, args = parse_args([*REQUIRED[:4], "--output_dir", str(tmp_path), "--eval_strategy", "no"])
    trainer = CTCTrainer(
        model=model, args=args, schedule=None, head_names=[], body_names=[], sentence_average=True
    )
    values, labels = torch.randn(3, 8000), torch.tensor([[1, 2, 3], [4, -100, -100], [5, 6, -100]])
    loss = trainer.compute_loss(model, {"input_values": values, "labels": labels})
    logits = model(values).logits
    log_probs = torch.log_softmax(logits.float(), -1).transpose(0, 1)
    per_utterance = torch.nn.functional.ctc_loss(
        log_probs,
        labels[labels > 0],
        torch.full((3,), logits.shape[1]),
        (labels > 0).sum(-1),
        reduction="none",
    )
    assert loss.item() == pytest.approx(per_utterance.sum().item() / 3, rel=1e-5)


def test_options_given_override_the_recipe_and_are_reported():
    model, _, _, training, resolved = _resolved("vox_1h", "--mask_time_prob", "0.3", "--no_ctc_zero_infinity")
    assert model.mask_time_prob == 0.3 and not model.ctc_zero_infinity
    assert training.learning_rate == 3e-4  # the rest stays the recipe's
    assert resolved.overrides == {
        "mask_time_prob": {"recipe": 0.75, "given": 0.3},
        "ctc_zero_infinity": {"recipe": True, "given": False},
    }
    assert any("--mask_time_prob 0.3 overrides the recipe's 0.75" in line for line in resolved.report_lines())
    _, _, recipe, training, resolved = _resolved("base_10m", "--schedule", "head_first", "--head_steps", "50")
    assert recipe.schedule == "head_first" and recipe.head_steps == 50
    assert resolved.overrides["schedule"] == {"recipe": "fairseq", "given": "head_first"}


def test_the_batch_plan_turns_fairseq_tokens_into_accumulation_on_the_users_devices():
    recipe = get_recipe("base_10m")  # 3.2M samples x 2 GPUs x update_freq 4 = 1600 s per update
    assert recipe.update_seconds == 1600.0
    assert recipe.batch_plan(batch_seconds=100, num_devices=4).gradient_accumulation_steps == 4
    plan = recipe.batch_plan(batch_seconds=150, num_devices=1)  # 1600 / 150 -> 11 steps of 145.5 s
    assert plan.gradient_accumulation_steps == 11 and plan.device_batch_seconds == pytest.approx(1600 / 11)
    assert plan.per_device_utterances(12.5) == round(1600 / 11 / 12.5)
    assert get_recipe("vox_960h").update_seconds == 24 * 80.0
    assert BatchPlan.for_update(10, batch_seconds=100, num_devices=1).gradient_accumulation_steps == 1
    with pytest.raises(RecipeError, match="batch_seconds"):
        recipe.batch_plan(batch_seconds=0)
    _, _, recipe_args, training, resolved = _resolved(
        "vox_10m", "--batch_seconds", "40", "--num_devices", "2"
    )
    assert training.gradient_accumulation_steps == 20 and recipe_args.num_devices == 2
    assert resolved.batch_size_from_data() and "per_device_train_batch_size" not in resolved.overrides
    settled = resolved.with_train_batch(resolved.batch.per_device_utterances(10.0), 10.0)
    assert settled.settings["per_device_train_batch_size"] == 4  # 40 s of 10 s utterances


def test_without_a_recipe_every_default_stays():
    command = parse_finetune_arguments(REQUIRED)
    assert command.recipe is None
    for ours, plain in zip(command.arguments, parse_args(REQUIRED), strict=True):
        assert ours == plain
    model, data, recipe, _ = command.arguments
    assert (recipe.schedule, model.ctc_loss_reduction, data.trailing_word_delimiter) == (
        "head_first",
        "mean",
        False,
    )
    assert model.hidden_dropout is None  # the pretrained config's dropouts are kept


def test_print_recipe_prints_one_json_object_without_model_or_data(capsys):
    assert main(["finetune", "--recipe", "vox_10h", "--print_recipe", "--learning_rate", "2e-4"]) == 0
    printed = json.loads(capsys.readouterr().out)
    for key in (
        "mask_time_prob", "mask_time_length", "mask_feature_prob", "mask_feature_length", "layerdrop",
        "activation_dropout", "hidden_dropout", "attention_dropout", "adam_beta2", "max_grad_norm",
        "learning_rate", "max_steps", "freeze_finetune_updates", "tri_stage_ratios", "ctc_loss_reduction",
        "gradient_accumulation_steps", "batch_seconds", "num_devices",
    ):  # fmt: skip
        assert key in printed, key
    assert printed["recipe"] == "vox_10h" and printed["tri_stage_ratios"] == [0.1, 0.4, 0.5]
    assert printed["learning_rate"] == 2e-4 and printed["overrides"]["learning_rate"]["recipe"] == 1e-4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--recipe", "base_5m", "--print_recipe"], "unknown recipe 'base_5m'; choose one of: base_10m"),
        (["--print_recipe"], "add --recipe NAME"),
        (["--recipe", "base_10m", "--print_recipe", "--head_steps", "5"], "--schedule head_first"),
        ([*REQUIRED, "--freeze_finetune_updates", "5"], "pass --schedule fairseq"),
        ([*REQUIRED, "--batch_seconds", "50"], "without --recipe"),
    ],
)
def test_user_errors_exit_2_with_one_line(argv, message, capsys):
    assert main(["finetune", *argv]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1 and "Traceback" not in error


def test_letter_targets_can_end_with_the_word_boundary_as_fairseq_ltr():
    vocabulary = Vocabulary.from_transcripts(["AB C"])
    plain, ltr = vocabulary.encode("AB C"), vocabulary.encode("AB C", trailing_delimiter=True)
    delimiter = vocabulary.word_delimiter_id
    assert ltr == [*plain, delimiter] and plain.count(delimiter) == 1  # fairseq: "A B | C |"
    assert ctc_frames_needed(ltr) == ctc_frames_needed(plain) + 1  # one more label, never a repeat
    assert vocabulary.tokenizer().decode(ltr) == vocabulary.tokenizer().decode(plain) == "AB C"


def test_a_recipe_run_writes_the_resolved_recipe_to_the_run_folder_and_the_card(session_dir, tmp_path):
    from tests.finetuning.fixtures import pretrained_folder, tiny_corpus
    from wav2vec_hf.hub.records import hyperparameters, read_run_records

    corpus, output = tiny_corpus(session_dir), tmp_path / "run"
    argv = [
        "finetune", "--recipe", "base_10m", "--model", str(pretrained_folder(session_dir, "wav2vec2")),
        "--train", str(corpus / "labeled.tsv"), "--eval", str(corpus / "dev.tsv"), "--output_dir", str(output),
        "--max_steps", "4", "--freeze_finetune_updates", "2", "--per_device_train_batch_size", "4",
        "--gradient_accumulation_steps", "1", "--eval_steps", "4", "--save_steps", "4", "--disable_tqdm", "true",
    ]  # fmt: skip
    assert main(argv) == 0
    recipe = json.loads((output / "recipe.json").read_text())
    assert recipe["recipe"] == "base_10m" and recipe["mask_time_prob"] == 0.65
    assert recipe["mean_utterance_seconds"] > 0
    assert set(recipe["overrides"]) == {
        "max_steps", "freeze_finetune_updates", "per_device_train_batch_size", "gradient_accumulation_steps",
    }  # fmt: skip
    run = json.loads((output / "finetuning.json").read_text())
    assert run["paper_recipe"] == recipe and run["schedule"]["kind"] == "fairseq"
    assert run["arguments"]["data"]["trailing_word_delimiter"] is True
    assert run["arguments"]["adam_betas"] == [0.9, 0.98] and run["arguments"]["max_grad_norm"] == 0.0
    rows = dict(hyperparameters(read_run_records(output)))
    assert rows["paper recipe"].startswith("base_10m (facebookresearch/fairseq")
    assert "max_steps 4 (recipe 13000)" in rows["recipe overrides"]
    assert rows["schedule"].startswith("fairseq:") and "head-only updates" not in rows


def test_the_per_device_batch_comes_from_the_mean_training_utterance(tmp_path):
    from wav2vec_hf.finetuning.ctc import _settle_recipe

    class Train(list):
        audio = SimpleNamespace(total_seconds=500.0)

    data = SimpleNamespace(train=Train(range(50)))  # 50 utterances of 10 s on average
    _, _, _, training, resolved = _resolved("vox_10m", "--output_dir", str(tmp_path), "--batch_seconds", "40")
    settled = _settle_recipe(resolved, data, SimpleNamespace(do_normalize=True), training, tmp_path)
    assert training.gradient_accumulation_steps == 40 and training.per_device_train_batch_size == 4
    assert settled.to_json()["per_device_train_batch_size"] == 4 and settled.mean_utterance_seconds == 10.0
    assert json.loads((tmp_path / "recipe.json").read_text()) == json.loads(json.dumps(settled.to_json()))
    _, _, _, training, resolved = _resolved("vox_10m", "--num_devices", "8")
    with pytest.raises(ValueError, match="--num_devices 8 but this launch runs 1"):
        _settle_recipe(resolved, data, SimpleNamespace(do_normalize=True), training, tmp_path)
