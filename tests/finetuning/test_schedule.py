"""The recipe's learning rates: head-only phase, then fairseq's tri-stage schedule."""

from __future__ import annotations

import itertools
import math

import pytest

from wav2vec_hf.finetuning.schedule import TriStage, TwoPhaseSchedule, auto_learning_rate


def test_tri_stage_warms_up_holds_and_decays_to_the_final_scale():
    schedule = TriStage((0.1, 0.4, 0.5), init_scale=0.01, final_scale=0.05)
    total = 1000
    assert schedule(0, total) == pytest.approx(0.01)
    assert schedule(50, total) == pytest.approx(0.01 + 0.99 * 0.5)
    assert schedule(100, total) == 1.0 and schedule(499, total) == 1.0
    assert schedule(500, total) == pytest.approx(1.0)
    assert schedule(750, total) == pytest.approx(math.sqrt(0.05))  # halfway through an exponential decay
    assert schedule(999, total) == pytest.approx(0.05, rel=0.01)
    assert schedule(5000, total) == 0.05
    values = [schedule(step, total) for step in range(total)]
    assert max(values) == 1.0 and all(b <= a for a, b in itertools.pairwise(values[500:]))


@pytest.mark.parametrize("ratios", [(0.5, 0.5, 0.5), (0.1, -0.1, 0.5), (0.5, 0.5)])
def test_tri_stage_refuses_bad_ratios(ratios):
    with pytest.raises(ValueError, match="ratios"):
        TriStage(ratios)


def test_two_phase_schedule_trains_the_head_alone_at_its_own_rate_first():
    schedule = TwoPhaseSchedule(
        head_steps=200, total_steps=600, peak_learning_rate=1e-3, head_learning_rate=1e-2
    )
    assert schedule.learning_rates(0) == (pytest.approx(1e-2), 0.0)
    assert schedule.learning_rates(199) == (pytest.approx(1e-2), 0.0)
    head, body = schedule.learning_rates(200)
    assert head == body == pytest.approx(1e-3 * 0.01)  # phase 2 starts its own warm-up
    head, body = schedule.learning_rates(200 + 40 + 10)  # inside the hold stage of the last 400 updates
    assert head == body == pytest.approx(1e-3)


def test_auto_learning_rate_spans_small_to_base_models():
    assert auto_learning_rate(700_000) == 1e-3
    assert auto_learning_rate(95_000_000) == 5e-5
    middle = auto_learning_rate(15_000_000)
    assert 5e-5 < middle < 1e-3
    rates = [auto_learning_rate(n) for n in (2_000_000, 5_000_000, 20_000_000, 90_000_000)]
    assert rates == sorted(rates, reverse=True)
