"""LengthBatchSampler: sample budget, bucketing, determinism, epochs, sharding; crop offsets."""

from __future__ import annotations

import numpy as np
import pytest

from wav2vec_hf.data import LengthBatchSampler, crop_offset

BUDGET = 200_000


@pytest.fixture(scope="module")
def lengths():
    rng = np.random.default_rng(7)
    values = rng.integers(2_000, 60_000, 500)
    values[:40] = 30_000  # many ties, as after cropping
    return values


def padded_cost(batch, lengths):
    return len(batch) * int(lengths[batch].max())


@pytest.mark.parametrize("num_buckets", [None, 6])
def test_every_batch_respects_the_budget_and_every_index_appears_once(lengths, num_buckets):
    sampler = LengthBatchSampler(lengths, BUDGET, num_buckets=num_buckets, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert all(padded_cost(b, lengths) <= BUDGET for b in batches)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))


def test_sorted_packing_wastes_far_less_than_random_batches(lengths):
    sampler = LengthBatchSampler(lengths, BUDGET, seed=0)
    padding = sum(padded_cost(b, lengths) - int(lengths[b].sum()) for b in sampler)
    # The same batch sizes filled at random, for comparison.
    rng = np.random.default_rng(0)
    order = rng.permutation(len(lengths))
    sizes = [len(b) for b in sampler]
    random_batches = np.split(order, np.cumsum(sizes)[:-1])
    random_padding = sum(padded_cost(b, lengths) - int(lengths[b].sum()) for b in random_batches)
    assert padding < 0.1 * random_padding
    assert padding / lengths.sum() < 0.05


def test_buckets_hold_similar_lengths(lengths):
    sampler = LengthBatchSampler(lengths, BUDGET, num_buckets=8, seed=0)
    spreads = [lengths[b].max() / lengths[b].min() for b in sampler if len(b) > 1]
    assert np.median(spreads) < 1.5
    assert all(padded_cost(b, lengths) <= BUDGET for b in sampler)


def test_same_seed_and_epoch_give_the_same_batches(lengths):
    first = LengthBatchSampler(lengths, BUDGET, seed=3)
    second = LengthBatchSampler(lengths, BUDGET, seed=3)
    assert list(first) == list(second)
    other_seed = LengthBatchSampler(lengths, BUDGET, seed=4)
    assert list(first) != list(other_seed)


@pytest.mark.parametrize("num_buckets", [None, 6])
def test_set_epoch_reshuffles_but_keeps_the_batch_count(lengths, num_buckets):
    sampler = LengthBatchSampler(lengths, BUDGET, num_buckets=num_buckets, seed=3)
    epoch0 = list(sampler)
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch0 != epoch1
    assert len(epoch0) == len(epoch1) == len(sampler)
    sampler.set_epoch(0)
    assert list(sampler) == epoch0


def test_without_shuffle_batches_go_longest_first(lengths):
    batches = list(LengthBatchSampler(lengths, BUDGET, shuffle=False))
    maxima = [int(lengths[b].max()) for b in batches]
    assert maxima == sorted(maxima, reverse=True)


def test_max_batch_size_caps_utterances_per_batch(lengths):
    sampler = LengthBatchSampler(np.full(100, 1000), BUDGET, max_batch_size=16)
    assert max(len(b) for b in sampler) == 16 and len(sampler) == 7


@pytest.mark.parametrize("drop_last", [False, True])
def test_two_ranks_get_disjoint_batches_and_the_same_count(lengths, drop_last):
    ranks = [
        LengthBatchSampler(lengths, BUDGET, seed=5, num_replicas=2, rank=r, drop_last=drop_last)
        for r in (0, 1)
    ]
    for epoch in (0, 1):
        for sampler in ranks:
            sampler.set_epoch(epoch)
        per_rank = [list(s) for s in ranks]
        assert len(per_rank[0]) == len(per_rank[1]) == len(ranks[0])
        single = LengthBatchSampler(lengths, BUDGET, seed=5)
        single.set_epoch(epoch)
        total = len(single)
        assert total % 2 == 1  # the tail case is exercised
        if drop_last:
            assert len(per_rank[0]) == total // 2
            indices = [i for batches in per_rank for b in batches for i in b]
            assert len(indices) == len(set(indices))  # disjoint
        else:
            assert len(per_rank[0]) == total // 2 + 1
            # Only the padding batch (a repeat of the first global batch) is shared.
            repeated = per_rank[1][-1]
            assert repeated == per_rank[0][0]
            indices = [i for batches in per_rank for b in batches for i in b]
            assert sorted(set(indices)) == list(range(len(lengths)))
            assert len(indices) == len(lengths) + len(repeated)


def test_more_ranks_than_batches_still_gives_every_rank_a_batch():
    samplers = [LengthBatchSampler([100, 100, 100], 300, num_replicas=4, rank=r) for r in range(4)]
    assert [len(list(s)) for s in samplers] == [1, 1, 1, 1]
    assert [len(s) for s in samplers] == [1, 1, 1, 1]


def test_an_utterance_longer_than_the_budget_is_refused_with_a_fix():
    with pytest.raises(ValueError, match=r"index 1: 5000 samples.*crop them"):
        LengthBatchSampler([100, 5000, 200], 4000)


def test_crop_offsets_are_deterministic_uniform_and_in_range():
    offsets = [crop_offset(10_000, 4_000, seed=0, epoch=0, index=i) for i in range(2000)]
    assert offsets == [crop_offset(10_000, 4_000, seed=0, epoch=0, index=i) for i in range(2000)]
    assert min(offsets) >= 0 and max(offsets) <= 6_000
    assert 2_700 < np.mean(offsets) < 3_300  # uniform on [0, 6000]
    assert offsets != [crop_offset(10_000, 4_000, seed=0, epoch=1, index=i) for i in range(2000)]
    assert offsets != [crop_offset(10_000, 4_000, seed=1, epoch=0, index=i) for i in range(2000)]
    assert crop_offset(3_000, 4_000, seed=0, epoch=0, index=0) == 0


def test_crop_offsets_fill_their_range_evenly_and_independently():
    draws = np.array([crop_offset(4_009, 4_000, seed=3, epoch=2, index=i) for i in range(20_000)])
    counts = np.bincount(draws, minlength=10)
    assert len(counts) == 10  # every start in [0, 9], nothing beyond
    chi_square = float(((counts - 2_000) ** 2 / 2_000).sum())
    assert chi_square < 30  # 9 degrees of freedom: p < 0.001 beyond 27.9
    assert abs(np.corrcoef(draws[:-1], draws[1:])[0, 1]) < 0.05  # neighbouring indices unrelated
    assert {crop_offset(4_001, 4_000, seed=s, epoch=0, index=0) for s in range(64)} == {0, 1}
