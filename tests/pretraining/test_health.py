"""HealthMonitor: collapse signs need `patience` updates, fire once, re-arm; NaN streaks stop the run."""

import json
import math
from dataclasses import asdict

import pytest

from wav2vec_hf.pretraining.health import HealthMonitor, HealthSummary, TrainingDivergedError
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
    read_back = HealthSummary.from_dict(json.loads(json.dumps(monitor.summary())))  # as the card reads it
    assert (
        read_back is not None and not read_back.healthy and read_back.event_kinds() == ["codebook_collapse"]
    )
    assert asdict(read_back) == monitor.summary() and HealthSummary.from_dict({"events": []}) is None


def test_trivial_task_and_saturated_diversity():
    monitor = HealthMonitor(SPEC, max_steps=1000, patience=3)
    trivial = {**healthy(0), "contrastive_loss": 0.001, "accuracy": 1.0, "diversity_loss": 0.95}
    for update in range(1, 4):
        events = monitor.observe(update, trivial)
    assert sorted(e.kind for e in events) == ["diversity_saturated", "trivial_task"]


STUCK = {
    "loss": 2.4,
    "contrastive_loss": 2.398,
    "accuracy": 0.09,
    "code_perplexity": 40.0,
    "diversity_loss": 0.3,
}


def test_stalled_fires_at_the_first_check_with_the_measured_numbers():
    monitor = HealthMonitor(SPEC, max_steps=400, patience=50)
    # windows of 5% of the run (20 updates), checked from 15% (update 60): patience plays no part
    assert (monitor.window, monitor.stall_from) == (20, 60)
    fired = {update: monitor.observe(update, STUCK) for update in range(1, 200)}
    first = min(update for update, events in fired.items() if events)
    assert first == 60
    assert sum(len(events) for events in fired.values()) == 1  # once while it lasts
    event = monitor.events[0]
    assert event.kind == "stalled" and event.update == 60
    assert "15% of its budget" in event.message
    assert "updates 41-60" in event.message and "0.090 (1.0 x chance 0.091)" in event.message
    assert "loss 2.4 -> 2.4 (flat); code perplexity 40 -> 40 (not falling)" in event.message
    assert "diversity loss 0.3 -> 0.3 (flat)" in event.message
    assert "grad_norm/transformer" in event.message and "learning rate" in event.message
    assert monitor.summary()["healthy"] is False


def test_a_run_at_chance_whose_codes_sharpen_is_not_stalled():
    """Healthy small runs sit near chance while the code perplexity falls; that is not a stall."""
    monitor = HealthMonitor(SPEC, max_steps=400, patience=50)
    for update in range(1, 120):
        sharpening = {**STUCK, "code_perplexity": 60.0 - 0.3 * update, "diversity_loss": 0.1 + 0.004 * update}
        assert monitor.observe(update, sharpening) == []


def test_a_run_that_learned_then_fell_back_to_chance_is_stalled_then():
    monitor = HealthMonitor(SPEC, max_steps=400, patience=50)
    events = []
    for update in range(1, 200):
        learning = 30 <= update < 100
        metrics = {**STUCK, "accuracy": 0.2 if learning else 0.09}
        events += monitor.observe(update, metrics)
    assert [e.kind for e in events] == ["stalled"]
    # the mean of the last 20 updates drops below 1.5 x chance (0.136) once 12 of them are at chance
    assert events[0].update == 99 + 12


def test_a_falling_loss_is_not_stalled_even_at_chance_accuracy():
    spec = HealthSpec(chance_accuracy=0.2)
    monitor = HealthMonitor(spec, max_steps=100, patience=50)
    falling = [monitor.observe(u, {"loss": 2.0 - 0.01 * u, "accuracy": 0.2}) for u in range(1, 40)]
    assert not any(falling)
    monitor = HealthMonitor(spec, max_steps=100, patience=50)
    flat = [monitor.observe(u, {"loss": 2.0, "accuracy": 0.2}) for u in range(1, 40)]
    assert [e.kind for events in flat for e in events] == ["stalled"]
    assert "loss 2 -> 2 (flat)" in monitor.events[0].message


def test_stall_history_survives_a_resume():
    monitor = HealthMonitor(SPEC, max_steps=400, patience=50)
    for update in range(1, 50):
        monitor.observe(update, STUCK)
    resumed = HealthMonitor(SPEC, max_steps=400, patience=50)
    resumed.load_state_dict(monitor.state_dict())
    fired = [update for update in range(50, 80) if resumed.observe(update, STUCK)]
    assert fired == [60]


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


def test_a_continued_run_gets_the_same_grace_as_a_new_one():
    """--init_from starts the update count at the checkpoint's; the stall check counts observed updates."""
    monitor = HealthMonitor(SPEC, max_steps=400, patience=50)
    fired = [update for update in range(300, 400) if monitor.observe(update, STUCK)]
    assert fired == [300 + 60 - 1]
