"""vq-wav2vec discrete units: codes -> "i-j" tokens for NLP models, and the bitrate of a code set.

A vq-wav2vec frame's code is one index per group, ``(frames, groups)``; fairseq's featurizer writes
a frame as its indices joined by "-" (``"17-203"``) and an utterance as the frame tokens joined by
spaces; BERT is trained on these tokens. The bitrate study of the paper (section 6) counts the
bits a code stream needs: at most ``frames_per_second * sum_g log2(V)`` (100 x 2 x log2 320 =
1.66 kbit/s), and what the codes actually use (distinct combinations, entropy).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch


def codes_to_units(codes: torch.Tensor | Sequence[Sequence[int]]) -> list[str]:
    """One utterance's codes ``(frames, groups)`` -> one "i-j" token per frame."""
    rows = codes.tolist() if isinstance(codes, torch.Tensor) else codes
    tokens = []
    for frame, row in enumerate(rows):
        if isinstance(row, (int, float)) or len(row) == 0:
            raise ValueError(f"codes must be (frames, groups); frame {frame} is {row!r}.")
        tokens.append("-".join(str(int(index)) for index in row))
    return tokens


def codes_to_unit_string(codes: torch.Tensor | Sequence[Sequence[int]]) -> str:
    """One utterance's codes ``(frames, groups)`` -> ``"i-j i-j ..."`` (fairseq's featurizer line)."""
    return " ".join(codes_to_units(codes))


def batch_codes_to_unit_strings(codes: torch.Tensor) -> list[str]:
    """A batch of codes ``(batch, frames, groups)`` (``model.quantize``) -> one unit string per utterance."""
    if codes.dim() != 3:
        raise ValueError(f"codes must be (batch, frames, groups), got shape {tuple(codes.shape)}.")
    return [codes_to_unit_string(utterance) for utterance in codes]


def units_to_codes(units: str | Iterable[str]) -> torch.LongTensor:
    """The inverse of ``codes_to_units``: tokens (or a space-separated string) -> ``(frames, groups)``."""
    tokens = units.split() if isinstance(units, str) else list(units)
    rows = []
    for position, token in enumerate(tokens):
        try:
            rows.append([int(part) for part in token.split("-")])
        except ValueError:
            raise ValueError(
                f"unit {position} {token!r} is not of the form 'i-j' (integers joined by '-')."
            ) from None
    if rows and len({len(row) for row in rows}) != 1:
        raise ValueError("units have different numbers of groups.")
    return torch.tensor(rows, dtype=torch.long).reshape(len(rows), -1 if rows else 0)


@dataclass(frozen=True)
class Bitrate:
    """How many bits a set of vq-wav2vec codes needs.

    Attributes:
        num_frames: frames counted.
        num_groups, num_vars: G and V.
        distinct_combinations: distinct whole-frame codes (of V^G possible) that occur.
        possible_combinations: V^G.
        max_bits_per_second: the fixed-length rate, ``frames_per_second * G * log2(V)``.
        entropy_bits_per_frame: empirical entropy of the whole-frame codes, in bits.
        entropy_bits_per_second: ``frames_per_second * entropy_bits_per_frame``: what an ideal entropy
            coder of the frame codes (with their observed frequencies) would need.
        used_codebook_bits_per_second: ``frames_per_second * log2(distinct_combinations)``: fixed-length
            coding of only the combinations that occur.
        group_entropy_bits: the empirical entropy of each group's indices, in bits.
    """

    num_frames: int
    num_groups: int
    num_vars: int
    frames_per_second: float
    distinct_combinations: int
    possible_combinations: int
    max_bits_per_second: float
    entropy_bits_per_frame: float
    entropy_bits_per_second: float
    used_codebook_bits_per_second: float
    group_entropy_bits: tuple[float, ...]


def _entropy_bits(counts: Iterable[int]) -> float:
    counts = [count for count in counts if count > 0]
    total = sum(counts)
    return -sum(count / total * math.log2(count / total) for count in counts) if total else 0.0


def code_bitrate(
    codes: torch.Tensor | Sequence[torch.Tensor], num_vars: int, frames_per_second: float = 100.0
) -> Bitrate:
    """The bitrate of vq-wav2vec codes, as in the paper's bitrate study.

    Args:
        codes: ``(frames, groups)``, ``(batch, frames, groups)`` or a list of ``(frames, groups)``
            tensors (utterances of different lengths).
        num_vars: V, codewords per group (``config.vq_vars``).
        frames_per_second: ``config.frames_per_second`` (100 for 16 kHz and a 160-sample hop).
    """
    pieces = list(codes) if not isinstance(codes, torch.Tensor) else [codes.reshape(-1, codes.shape[-1])]
    flat = (
        torch.cat([piece.reshape(-1, piece.shape[-1]) for piece in pieces]) if pieces else torch.empty(0, 0)
    )
    if flat.numel() == 0:
        raise ValueError("code_bitrate needs at least one frame of codes.")
    if int(flat.min()) < 0 or int(flat.max()) >= num_vars:
        raise ValueError(f"codes must lie in [0, {num_vars}); got [{int(flat.min())}, {int(flat.max())}].")
    frames, groups = flat.shape
    combinations = Counter(tuple(row) for row in flat.tolist())
    frame_entropy = _entropy_bits(combinations.values())
    group_entropy = tuple(
        _entropy_bits(torch.bincount(flat[:, group], minlength=num_vars).tolist()) for group in range(groups)
    )
    return Bitrate(
        num_frames=frames,
        num_groups=groups,
        num_vars=num_vars,
        frames_per_second=float(frames_per_second),
        distinct_combinations=len(combinations),
        possible_combinations=num_vars**groups,
        max_bits_per_second=frames_per_second * groups * math.log2(num_vars),
        entropy_bits_per_frame=frame_entropy,
        entropy_bits_per_second=frames_per_second * frame_entropy,
        used_codebook_bits_per_second=frames_per_second * math.log2(len(combinations)),
        group_entropy_bits=group_entropy,
    )


__all__ = [
    "Bitrate",
    "batch_codes_to_unit_strings",
    "code_bitrate",
    "codes_to_unit_string",
    "codes_to_units",
    "units_to_codes",
]
