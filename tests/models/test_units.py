"""vq-wav2vec units ("i-j" tokens) and the bitrate of codes."""

from __future__ import annotations

import math

import pytest
import torch

from wav2vec_hf.models.wav2vec import VQWav2VecModel
from wav2vec_hf.presets import get_preset
from wav2vec_hf.units import (
    batch_codes_to_unit_strings,
    code_bitrate,
    codes_to_unit_string,
    codes_to_units,
    units_to_codes,
)


def test_codes_become_dash_joined_tokens_and_back():
    codes = torch.tensor([[17, 203], [0, 319], [17, 203]])
    assert codes_to_units(codes) == ["17-203", "0-319", "17-203"]
    assert codes_to_unit_string(codes) == "17-203 0-319 17-203"
    assert torch.equal(units_to_codes("17-203 0-319 17-203"), codes)
    assert torch.equal(units_to_codes(["1-2-3"]), torch.tensor([[1, 2, 3]]))


def test_bad_units_are_refused():
    with pytest.raises(ValueError, match="'i-j'"):
        units_to_codes("3-x")
    with pytest.raises(ValueError, match="different numbers of groups"):
        units_to_codes("1-2 3")
    with pytest.raises(ValueError, match=r"\(frames, groups\)"):
        codes_to_units(torch.tensor([1, 2]))


def test_model_codes_to_unit_strings():
    torch.manual_seed(0)
    model = VQWav2VecModel(get_preset("vq-wav2vec-gumbel-tiny")).eval()
    codes = model.quantize(torch.randn(2, 3000))
    strings = batch_codes_to_unit_strings(codes)
    assert len(strings) == 2 and len(strings[0].split()) == codes.shape[1]
    assert torch.equal(units_to_codes(strings[1]), codes[1])


def test_bitrate_of_the_paper_setting():
    # two frames used equally often out of 320^2 possible: 1 bit per frame
    codes = torch.tensor([[[1, 2], [3, 4], [1, 2], [3, 4]]])
    rate = code_bitrate(codes, num_vars=320, frames_per_second=100.0)
    assert rate.possible_combinations == 102_400
    assert rate.max_bits_per_second == pytest.approx(100 * 2 * math.log2(320))  # ~1.66 kbit/s
    assert rate.max_bits_per_second == pytest.approx(1664.4, abs=0.1)
    assert rate.distinct_combinations == 2 and rate.num_frames == 4
    assert rate.entropy_bits_per_frame == pytest.approx(1.0)
    assert rate.entropy_bits_per_second == pytest.approx(100.0)
    assert rate.used_codebook_bits_per_second == pytest.approx(100.0)
    assert rate.group_entropy_bits == pytest.approx((1.0, 1.0))


def test_bitrate_of_utterances_of_different_lengths():
    first = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
    second = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
    rate = code_bitrate([first, second], num_vars=2, frames_per_second=50.0)
    assert rate.num_frames == 8 and rate.distinct_combinations == 4 == rate.possible_combinations
    assert rate.entropy_bits_per_frame == pytest.approx(2.0)
    assert rate.entropy_bits_per_second == pytest.approx(rate.max_bits_per_second) == pytest.approx(100.0)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        code_bitrate(first + 1, num_vars=2)
