"""HealthMonitor: collapse signs need `patience` updates, fire once, re-arm; NaN streaks stop the run."""

import math

import pytest

from wav2vec_hf.pretraining.health import HealthMonitor, TrainingDivergedError
from wav2vec_hf.pretraining.tasks import HealthSpec

SPEC = HealthSpec(chance_accuracy=1 / 11, num_groups=2, num_vars=32, has_diversity=True)


def healthy(update: int) -> dict:
    """A run that learns: loss falls, accuracy rises, codebook well used."""
    return {
        "loss": 3.0 - 0.001 * update,
        "contrastive_loss": 2.4 - 0.001 * update,
        "accuracy": 0.1 + 0.001 * update,
        "code_perplexity": 40.0,
        "diversity_loss": 0.3,
    }


def test_healthy_run_has_no_events():
    monitor = HealthMonitor(SPEC, max_steps=400, patience=10)
    for update in range(1, 401):
        assert monitor.observe(update, healthy(update)) == []
    assert monitor.summary()["healthy"] is True
    assert monitor.summary()["collapse_code_perplexity"] == 4
    assert monitor.summary()["max_code_perplexity"] == 64


def test_codebook_collapse_fires_after_patience_once_and_rearms():
    monitor = HealthMonitor(SPEC, max_steps=1000, patience=5)
    collapsed = {**healthy(0), "code_perplexity": 2.5}
    fired = [monitor.observe(update, collapsed) for update in range(1, 12)]
    kinds = [[event.kind for event in events] for events in fired]
    assert kinds[:4] == [[]] * 4  # needs 5 consecutive updates
    assert kinds[4] == ["codebook_collapse"]
    assert all(k == [] for k in kinds[5:])  # fires once while it lasts
    event = monitor.events[0]
    assert event.update == 5 and event.value == 2.5
    assert "lower the learning rate" in event.message and "diversity" in event.message
    monitor.observe(12, healthy(12))  # clears
    again = [monitor.observe(update, collapsed) for update in range(13, 18)]
    assert [e.kind for e in again[-1]] == ["codebook_collapse"]
    assert monitor.summary()["healthy"] is False


def test_trivial_task_and_saturated_diversity():
    monitor = HealthMonitor(SPEC, max_steps=1000, patience=3)
    trivial = {**healthy(0), "contrastive_loss": 0.001, "accuracy": 1.0, "diversity_loss": 0.95}
    for update in range(1, 4):
        events = monitor.observe(update, trivial)
    assert sorted(e.kind for e in events) == ["diversity_saturated", "trivial_task"]


def test_not_learning_only_after_a_quarter_of_the_run():
    monitor = HealthMonitor(SPEC, max_steps=400, patience=20)
    stuck = {
        "loss": 2.4,
        "contrastive_loss": 2.398,
        "accuracy": 0.09,
        "code_perplexity": 40.0,
        "diversity_loss": 0.3,
    }
    first = None
    for update in range(1, 200):
        if monitor.observe(update, stuck) and first is None:
            first = update
    # checked from update 100 (a quarter of 400) with 2 x patience updates of history, then 20 more
    assert first == 100 + 19
    assert monitor.events[0].kind == "not_learning"
    assert "segment_seconds" in monitor.events[0].message


def test_nonfinite_streak_raises_with_remedies_and_finite_update_resets():
    monitor = HealthMonitor(SPEC, max_steps=100, max_nonfinite=3)
    first = monitor.record_nonfinite(5)
    assert first is not None and first.kind == "nonfinite"
    monitor.record_nonfinite(5)
    monitor.record_finite()
    monitor.record_nonfinite(6)
    monitor.record_nonfinite(6)
    with pytest.raises(TrainingDivergedError, match=r"3 consecutive updates.*max_grad_norm"):
        monitor.record_nonfinite(6)
    assert monitor.nonfinite_total == 5
    assert monitor.summary()["nonfinite_updates_skipped"] == 5
    assert monitor.summary()["healthy"] is True  # NaN skips alone are not a collapse


def test_state_dict_round_trip_continues_streaks():
    monitor = HealthMonitor(SPEC, max_steps=1000, patience=6)
    collapsed = {**healthy(0), "code_perplexity": 3.0}
    for update in range(1, 4):
        monitor.observe(update, collapsed)
    restored = HealthMonitor(SPEC, max_steps=1000, patience=6)
    restored.load_state_dict(monitor.state_dict())
    fired = [restored.observe(update, collapsed) for update in range(4, 7)]
    assert [e.kind for e in fired[-1]] == ["codebook_collapse"]  # 3 before + 3 after the restore
    assert math.isclose(restored.summary()["chance_accuracy"], 1 / 11)
