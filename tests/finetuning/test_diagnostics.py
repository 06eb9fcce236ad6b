"""Plateau diagnostics: when they fire, and which causes they name from the run's evidence."""

from __future__ import annotations

import json
import logging

from transformers import TrainerState

from wav2vec_hf.finetuning.diagnostics import PlateauCallback, RunFacts, diagnose, is_plateau

HEALTHY = RunFacts(
    peak_learning_rate=1e-3, head_learning_rate=1e-2, head_steps=200, total_steps=1000, body_trainable=True,
    vocab_size=30, model_vocab_size=30,
)  # fmt: skip


def _causes(findings):
    return [f.cause for f in findings]


def test_plateau_means_all_blank_or_wer_stuck_at_one_twice():
    assert is_plateau({"eval_empty_rate": 0.95, "eval_wer": 1.0}, None)
    assert not is_plateau({"eval_empty_rate": 0.0, "eval_wer": 1.0}, None)  # once is not "stays"
    assert is_plateau({"eval_empty_rate": 0.0, "eval_wer": 1.02}, 1.0)
    assert not is_plateau({"eval_empty_rate": 0.1, "eval_wer": 0.7}, 1.0)


def test_only_the_learning_rate_is_suspected_when_nothing_else_is_wrong():
    findings = diagnose(500, {"eval_wer": 1.0}, [3.0, 2.9, 2.95, 3.0, 2.98, 2.97, 3.0, 2.99], HEALTHY)
    assert _causes(findings) == ["learning rate"]
    assert "flat" in findings[0].evidence and "0.001" in findings[0].evidence


def test_rising_or_nan_loss_points_at_a_too_high_learning_rate():
    assert "learning rate too high" in _causes(
        diagnose(500, {}, [2.0, 2.1, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0], HEALTHY)
    )
    assert "learning rate too high" in _causes(diagnose(500, {}, [2.0, float("nan")], HEALTHY))


def test_vocabulary_mismatch_frozen_phase_and_short_audio_are_named_with_evidence():
    facts = RunFacts(
        **{
            **HEALTHY.__dict__,
            "model_vocab_size": 32,
            "train_unknown_label_rate": 0.2,
            "dropped_too_short": 3,
        }
    )
    findings = diagnose(150, {}, [3.0] * 8, facts)
    causes = _causes(findings)
    assert causes.count("vocabulary/label mismatch") == 2
    assert "audio too short for the labels" in causes
    assert "frozen too long" in causes
    text = " ".join(f.evidence for f in findings)
    assert "32 outputs" in text and "20.0% of training labels" in text and "3 training utterances" in text
    assert "update 150 is still inside the 200-update head-only phase" in text
    frozen_forever = RunFacts(**{**HEALTHY.__dict__, "body_trainable": False})
    assert "stays frozen" in diagnose(900, {}, [3.0] * 8, frozen_forever)[0].evidence


def test_callback_warns_once_after_warmup_and_writes_its_findings(tmp_path, caplog):
    callback = PlateauCallback(HEALTHY, warmup_steps=200, output_dir=str(tmp_path))
    state = TrainerState(global_step=100, log_history=[{"loss": 3.0}] * 8)
    blank = {"eval_wer": 1.0, "eval_empty_rate": 1.0, "eval_cer": 1.0}
    with caplog.at_level(logging.WARNING, logger="wav2vec_hf.finetuning.diagnostics"):
        callback.on_evaluate(None, state, None, metrics=blank)  # inside warm-up: silent
        assert not caplog.records
        state.global_step = 300
        callback.on_evaluate(None, state, None, metrics=blank)
        callback.on_evaluate(None, state, None, metrics=blank)  # same step again: ignored
        state.global_step = 400
        callback.on_evaluate(None, state, None, metrics=blank)  # still stuck: no second warning
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert (
        "CTC plateau at update 300" in warnings[0]
        and "100% of evaluation transcripts are empty" in warnings[0]
    )
    saved = json.loads((tmp_path / "diagnostics.json").read_text())
    assert [entry["step"] for entry in saved["plateaus"]] == [300, 400]
    assert saved["plateaus"][0]["findings"][0]["cause"] == "learning rate"


def test_only_the_first_process_warns_and_writes(tmp_path, caplog):
    callback = PlateauCallback(HEALTHY, warmup_steps=0, output_dir=str(tmp_path))
    state = TrainerState(global_step=300, log_history=[{"loss": 3.0}] * 8, is_world_process_zero=False)
    blank = {"eval_wer": 1.0, "eval_empty_rate": 1.0, "eval_cer": 1.0}
    with caplog.at_level(logging.WARNING, logger="wav2vec_hf.finetuning.diagnostics"):
        callback.on_evaluate(None, state, None, metrics=blank)
    assert not caplog.records
    assert not (tmp_path / "diagnostics.json").exists()
    assert [entry["step"] for entry in callback.history] == [300]  # it judged all the same
