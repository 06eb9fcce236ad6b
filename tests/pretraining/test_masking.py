"""Span masks and negatives sampled on the device."""

import torch

from wav2vec_hf.pretraining.masking import (
    compute_span_mask,
    equalize_mask_counts,
    max_spans,
    sample_negatives,
)


def test_masked_fraction_matches_the_paper_setting():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.full((64,), 800)
    mask = compute_span_mask(lengths, 800, 0.65, 10, generator=generator)
    fraction = mask.float().mean().item()
    # p=0.065 span starts, M=10: 1 - (1 - 0.065)^10 ~ 0.49 of the steps are masked (overlaps allowed).
    assert 0.45 < fraction < 0.53, fraction


def test_mask_respects_lengths_and_min_masks():
    generator = torch.Generator().manual_seed(1)
    lengths = torch.tensor([300, 120, 25, 5])
    mask = compute_span_mask(lengths, 300, 0.65, 10, min_masks=2, generator=generator)
    for row, length in enumerate(lengths.tolist()):
        assert not mask[row, length:].any()
    assert mask[2].sum() >= 10  # room for spans: at least min_masks (overlapping) spans of 10
    assert not mask[3].any()  # shorter than one span: nothing can be masked


def test_mask_is_deterministic_for_a_generator_and_varies_without():
    lengths = torch.full((4,), 200)
    a = compute_span_mask(lengths, 200, 0.65, 10, generator=torch.Generator().manual_seed(7))
    b = compute_span_mask(lengths, 200, 0.65, 10, generator=torch.Generator().manual_seed(7))
    c = compute_span_mask(lengths, 200, 0.65, 10, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_max_spans_bounds_the_draw():
    assert max_spans(5, 0.65, 10) == 0
    assert max_spans(100, 0.65, 10) == 8


def test_negatives_come_from_other_masked_frames_of_the_same_row():
    generator = torch.Generator().manual_seed(3)
    frames = 150
    lengths = torch.tensor([150, 90, 40])
    mask = compute_span_mask(lengths, frames, 0.65, 10, generator=generator)
    indices, valid = sample_negatives(mask, 50, generator=generator)
    assert indices.shape == (3, frames, 50)
    flat_mask = mask.reshape(-1)
    for row in range(3):
        for t in mask[row].nonzero().flatten().tolist():
            chosen = indices[row, t]
            assert valid[row, t].all()
            assert ((chosen // frames) == row).all()
            assert flat_mask[chosen].all()
            assert (chosen != row * frames + t).all()


def test_negatives_cover_the_other_masked_frames_uniformly():
    mask = torch.zeros(1, 40, dtype=torch.bool)
    mask[0, [3, 10, 11, 20, 30]] = True
    indices, _ = sample_negatives(mask, 20000, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(indices[0, 10], minlength=40).float()
    others = counts[[3, 11, 20, 30]]
    assert counts[10] == 0 and counts.sum() == 20000
    assert (others / 20000 - 0.25).abs().max() < 0.02


def test_rows_with_one_masked_frame_have_no_valid_negative():
    mask = torch.zeros(2, 30, dtype=torch.bool)
    mask[0, 5] = True
    mask[1, 5:9] = True
    _, valid = sample_negatives(mask, 4)
    assert not valid[0].any()
    assert valid[1, 5:9].all() and not valid[1, :5].any()


# --- require_same_masks: equal masked-frame counts per row (fairseq's rule) ---------------------


def test_same_masks_keep_the_batch_minimum_of_the_unequalised_mask():
    counts_differed = False
    for seed in range(6):
        lengths = torch.randint(40, 201, (6,), generator=torch.Generator().manual_seed(100 + seed))
        options = dict(mask_prob=0.65, mask_length=5, min_masks=2)
        plain = compute_span_mask(lengths, 200, **options, generator=torch.Generator().manual_seed(seed))
        same = compute_span_mask(
            lengths, 200, **options, require_same_masks=True, generator=torch.Generator().manual_seed(seed)
        )
        plain_counts = plain.sum(dim=1)
        counts_differed |= bool((plain_counts != plain_counts[0]).any())
        assert (same.sum(dim=1) == plain_counts.min()).all(), (seed, plain_counts, same.sum(dim=1))
        assert not (same & ~plain).any()  # only masked frames of the span mask are kept
        assert plain_counts.min() > 0
    assert counts_differed  # without the rule the rows' counts differ, so the check above can fail


def test_which_frames_are_unmasked_depends_on_the_generator():
    lengths = torch.tensor([200, 180, 150, 90])
    plain = compute_span_mask(lengths, 200, 0.65, 5, generator=torch.Generator().manual_seed(4))
    fewest = plain.sum(dim=1).min()
    a = equalize_mask_counts(plain, generator=torch.Generator().manual_seed(1))
    b = equalize_mask_counts(plain, generator=torch.Generator().manual_seed(2))
    again = equalize_mask_counts(plain, generator=torch.Generator().manual_seed(1))
    for mask in (a, b):
        assert (mask.sum(dim=1) == fewest).all()
        assert not (mask & ~plain).any()
    assert torch.equal(a, again)
    assert not torch.equal(a, b)


def test_equalised_rows_keep_each_masked_frame_equally_often():
    mask = torch.zeros(2, 30, dtype=torch.bool)
    mask[0, [2, 3, 4, 10, 11, 12, 20, 21, 22, 29]] = True  # 10 masked frames
    mask[1, [5, 6, 7]] = True  # 3: the minimum
    generator = torch.Generator().manual_seed(0)
    kept = torch.zeros(30)
    draws = 3000
    for _ in range(draws):
        out = equalize_mask_counts(mask, generator=generator)
        assert torch.equal(out[1], mask[1])  # the row with the fewest keeps all of its frames
        assert out[0].sum() == 3
        kept += out[0].float()
    assert kept[~mask[0]].sum() == 0
    assert (kept[mask[0]] / draws - 0.3).abs().max() < 0.04  # each of the 10 frames kept 3 times in 10


def test_same_masks_stay_within_each_rows_length():
    lengths = torch.tensor([300, 120, 37, 64])
    for seed in range(4):
        mask = compute_span_mask(
            lengths, 300, 0.65, 10, require_same_masks=True, generator=torch.Generator().manual_seed(seed)
        )
        for row, length in enumerate(lengths.tolist()):
            assert not mask[row, length:].any()
        assert mask.sum(dim=1).unique().numel() == 1 and mask[0].sum() > 0
    # A row too short for one span has no masked frame: the minimum is 0 and every row is emptied.
    empty = compute_span_mask(
        torch.tensor([300, 5]),
        300,
        0.65,
        10,
        require_same_masks=True,
        generator=torch.Generator().manual_seed(0),
    )
    assert not empty.any()
