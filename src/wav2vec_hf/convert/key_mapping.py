"""The one fairseq parameter-name mapper behind every converter (wav2vec, vq-wav2vec, wav2vec 2.0).

A converter states its rules as a ``KeyTable``: fairseq key (a regular expression matched against
the whole key) -> our key (a ``re`` template, ``\\1`` for the first group). ``map_state_dict`` renames
a checkpoint's state dict with it and checks it against the model that will receive it, listing
every problem at once: fairseq keys no rule maps (or mapped to a parameter the model lacks), two
fairseq keys for one parameter, shape mismatches. ``require_complete`` then names the model's
parameters the checkpoint did not fill.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import torch

from wav2vec_hf.convert.checkpoint import CheckpointError


class KeyTable:
    """Renaming rules: ``(pattern, template)`` pairs, the first whose pattern matches wins.

    ``placeholders`` of ``rename`` replace fixed markers in the result (e.g. ``<WN_G>`` by the
    weight-norm parameter name the installed torch uses).
    """

    def __init__(self, rules: Iterable[tuple[str, str]]) -> None:
        self.rules = tuple(rules)
        self._compiled = tuple((re.compile(pattern), template) for pattern, template in self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def rename(self, key: str, placeholders: Mapping[str, str] | None = None) -> str | None:
        """Our name for the fairseq ``key``, or ``None`` when no rule matches it."""
        for pattern, template in self._compiled:
            match = pattern.fullmatch(key)
            if match:
                target = match.expand(template)
                for marker, value in (placeholders or {}).items():
                    target = target.replace(marker, value)
                return target
        return None


def map_state_dict(
    source: Mapping[str, torch.Tensor],
    target_state: Mapping[str, torch.Tensor],
    table: KeyTable,
    *,
    path: str,
    family: str,
    placeholders: Mapping[str, str] | None = None,
    unknown: Sequence[str] = (),
) -> dict[str, torch.Tensor]:
    """``source`` renamed by ``table``, checked against the model's ``state_dict()``.

    Args:
        source: fairseq parameter name -> tensor.
        target_state: the receiving model's ``state_dict()`` (names and shapes wanted).
        table: the converter's rules.
        path: the checkpoint, for messages.
        family: the model family, for messages (``"wav2vec 2.0"``).
        placeholders: markers of the table's templates and their values.
        unknown: source keys the caller already knows no rule may map (listed with the others).

    Returns:
        our name -> float32 tensor, one per source key. What fairseq does not store by design is
        the caller's to add; ``require_complete`` checks the result covers the model.

    Raises:
        CheckpointError: every unknown key, clash and shape mismatch, in one message.
    """
    renamed: dict[str, torch.Tensor] = {}
    sources: dict[str, str] = {}
    unmapped, clashes, bad_shapes = list(unknown), [], []
    skipped = set(unknown)
    for key, tensor in source.items():
        if key in skipped:
            continue
        target = table.rename(key, placeholders)
        if target is None or target not in target_state:
            unmapped.append(key if target is None else f"{key} (-> {target}, which the model lacks)")
            continue
        if target in renamed:
            clashes.append(f"{sources[target]} and {key} -> {target}")
            continue
        if tuple(tensor.shape) != tuple(target_state[target].shape):
            bad_shapes.append(f"{key} {tuple(tensor.shape)} -> {target} {tuple(target_state[target].shape)}")
            continue
        renamed[target], sources[target] = tensor.detach().to(torch.float32), key
    problems = []
    if unmapped:
        problems.append(f"unknown fairseq keys: {sorted(unmapped)}")
    if clashes:
        problems.append(f"several fairseq keys for one parameter: {clashes}")
    if bad_shapes:
        problems.append(f"shape mismatches: {bad_shapes}")
    if problems:
        raise CheckpointError(
            f"{path}: the fairseq state dict does not match the {family} mapping; "
            + "; ".join(problems)
            + ". The checkpoint is from a model variant this converter does not know."
        )
    return renamed


def require_complete(
    renamed: Mapping[str, torch.Tensor], target_state: Mapping[str, torch.Tensor], *, path: str
):
    """Raise ``CheckpointError`` naming the model parameters ``renamed`` does not fill."""
    missing = sorted(set(target_state) - set(renamed))
    if missing:
        raise CheckpointError(
            f"{path}: the checkpoint has no weights for these parameters: {missing}. "
            "The checkpoint is incomplete or from a variant this converter does not know."
        )


__all__ = ["KeyTable", "map_state_dict", "require_complete"]
