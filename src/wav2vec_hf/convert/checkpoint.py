"""Reading fairseq checkpoint files safely.

fairseq checkpoints are Python pickles. Unpickling an arbitrary pickle can execute code, so a
checkpoint is read with torch's restricted unpickler (``weights_only=True``), which accepts
tensors, plain containers and an allow-list of classes. The only class the wav2vec-family
releases need beyond that is ``argparse.Namespace`` (the ``args`` of 2019/2020 checkpoints).
Anything else makes the restricted load fail; the full unpickler is then used only when the
caller opts in with ``trust_pickle=True`` (``--trust-pickle`` on the command line).
"""

from __future__ import annotations

import argparse
import ast
import os
import pickle
import re
from dataclasses import dataclass
from typing import Any

import torch

from wav2vec_hf.errors import Wav2VecHFError

PICKLE_WARNING = (
    "fairseq checkpoints are Python pickles, and unpickling can run arbitrary code. "
    "wav2vec-hf reads them with a restricted unpickler (tensors, containers and argparse.Namespace only)."
)


_MAX_ITEMS = 10_000


class CheckpointError(Wav2VecHFError, ValueError):
    """A checkpoint that cannot be read or converted; the message names the file and the fix."""


@dataclass
class FairseqCheckpoint:
    """The parts of a fairseq checkpoint a converter needs.

    Attributes:
        path: the file it was read from.
        args: the model arguments of a 2019/2020 checkpoint (``argparse.Namespace`` as a dict), else None.
        cfg: the hydra config of a later checkpoint (plain nested dict), else None.
        model: the model state dict (parameter name -> tensor).
        num_updates: the update count stored in ``optimizer_history`` (0 if absent).
    """

    path: str
    args: dict[str, Any] | None
    cfg: dict[str, Any] | None
    model: dict[str, torch.Tensor]
    num_updates: int

    @property
    def model_config(self) -> dict[str, Any]:
        """The model options: ``args`` for old checkpoints, ``cfg['model']`` for hydra ones."""
        if self.args is not None:
            return self.args
        assert self.cfg is not None
        return dict(self.cfg.get("model") or {})

    @property
    def task_config(self) -> dict[str, Any]:
        """The task options (``normalize``, ``sample_rate``...): ``args`` or ``cfg['task']``."""
        if self.args is not None:
            return self.args
        assert self.cfg is not None
        return dict(self.cfg.get("task") or {})


def load_fairseq_checkpoint(path: str | os.PathLike, *, trust_pickle: bool = False) -> FairseqCheckpoint:
    """Read a fairseq checkpoint without fairseq installed.

    Args:
        path: a ``.pt`` file written by fairseq (``checkpoint_utils.torch_persistent_save``).
        trust_pickle: allow the full (code-executing) unpickler when the restricted one refuses the
            file. Only set this for files whose origin you trust.

    Raises:
        CheckpointError: the file is missing, not a checkpoint, needs ``trust_pickle``, or has neither
            ``args`` nor ``cfg``.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file. Pass the path of a fairseq .pt file.")
    _check_file_format(path)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as restricted_error:
        # A torch file the restricted unpickler refuses: it holds classes beyond the allow-list, or its
        # pickle is damaged (then the full unpickler would fail too: never suggest it).
        refused = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(restricted_error))
        if refused is None and not trust_pickle:
            raise CheckpointError(
                f"{path}: a damaged checkpoint: its pickle does not parse ({_weights_only_reason(restricted_error)}). "
                "Download or copy the .pt file again."
            ) from restricted_error
        if not trust_pickle:
            raise CheckpointError(
                f"{path}: the restricted unpickler refused this file (it holds the class {refused.group(1)}). "
                f"{PICKLE_WARNING} If you trust where this file comes from, rerun with --trust-pickle "
                "(trust_pickle=True) to load it with the full unpickler."
            ) from restricted_error
        try:
            raw = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:
            raise CheckpointError(
                f"{path}: not a readable torch checkpoint ({_first_line(error)})."
            ) from error
    except Exception as error:
        raise CheckpointError(
            f"{path}: not a torch checkpoint file ({type(error).__name__}: {_first_line(error)}). "
            "Pass the .pt file that fairseq wrote (checkpoint_best.pt or a released model)."
        ) from error
    return _parse_checkpoint(path, raw)


def _parse_checkpoint(path: str, raw: Any) -> FairseqCheckpoint:
    if not isinstance(raw, dict) or "model" not in raw:
        raise CheckpointError(
            f"{path}: not a fairseq checkpoint (expected a dict with a 'model' state dict, got "
            f"{type(raw).__name__}{' with keys ' + str(sorted(raw)) if isinstance(raw, dict) else ''})."
        )
    args = raw.get("args")
    cfg = raw.get("cfg")
    if args is not None:
        args = dict(vars(args)) if isinstance(args, argparse.Namespace) else dict(args)
    if args is None and cfg is None:
        raise CheckpointError(
            f"{path}: the checkpoint has neither 'args' nor 'cfg'; cannot tell its model config."
        )
    if cfg is not None and not isinstance(cfg, dict):
        # omegaconf DictConfig (only reachable with trust_pickle): turn it into plain containers.
        try:
            from omegaconf import OmegaConf  # type: ignore[import-not-found]

            cfg = OmegaConf.to_container(cfg, resolve=True)
        except Exception as error:
            raise CheckpointError(f"{path}: cannot read its 'cfg' ({_first_line(error)}).") from error
    history = raw.get("optimizer_history") or []
    num_updates = int(history[-1].get("num_updates", 0)) if history else 0
    model = raw["model"]
    if not isinstance(model, dict) or not all(isinstance(v, torch.Tensor) for v in model.values()):
        raise CheckpointError(f"{path}: its 'model' entry is not a state dict of tensors.")
    return FairseqCheckpoint(path=path, args=args, cfg=cfg, model=dict(model), num_updates=num_updates)


def parse_python_literal(value: Any, *, field: str = "value") -> Any:
    """Evaluate fairseq's layer-spec strings safely.

    fairseq stores ``conv_feature_layers`` and temperatures as Python expressions such as
    ``"[(512, 10, 5)] + [(512, 3, 2)] * 4"`` or ``"(2,0.5,0.999995)"``. Only literals, tuples,
    lists, unary minus, ``+`` (concatenation or addition) and ``*`` (repetition or product) are
    allowed; names, calls and attributes raise ``CheckpointError``. Non-strings pass through.
    """
    if not isinstance(value, str):
        return value
    try:
        tree = ast.parse(value.strip(), mode="eval")
    except SyntaxError as error:
        raise CheckpointError(f"{field}={value!r} is not a valid expression: {error.msg}") from error
    return _evaluate(tree.body, value, field)


def _evaluate(node: ast.AST, source: str, field: str) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_evaluate(element, source, field) for element in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _evaluate(node.operand, source, field)
        return -operand if isinstance(node.op, ast.USub) else +operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
        left, right = _evaluate(node.left, source, field), _evaluate(node.right, source, field)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(left, (list, tuple)) or isinstance(right, (list, tuple)):
            count = right if isinstance(left, (list, tuple)) else left
            if not isinstance(count, int) or count * len(left if count is right else right) > _MAX_ITEMS:
                raise CheckpointError(f"{field}={source!r}: repetition beyond {_MAX_ITEMS} items is refused.")
        return left * right
    raise CheckpointError(
        f"{field}={source!r} uses {type(node).__name__}, which the safe evaluator does not allow "
        "(only literals, lists, tuples, + and *)."
    )


def _check_file_format(path: str) -> None:
    """Refuse, before any unpickling, a file that is neither of torch's two formats: a zip archive
    (torch >= 1.6) or a pickle (older torch; fairseq's 2019/2020 releases)."""
    with open(path, "rb") as handle:
        head = handle.read(64)
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        return
    if head.startswith(b"version https://git-lfs"):
        what = "a Git LFS pointer, not the checkpoint itself: fetch it with `git lfs pull`"
    elif not head:
        what = "an empty file: download or copy it again"
    else:
        kind = "a text file" if _is_text(head) else "neither a zip nor a pickle file"
        what = (
            f"not a torch checkpoint ({kind}, starting {head[:16]!r}); torch checkpoints are zip archives or "
            "pickles: pass the .pt file that fairseq wrote (checkpoint_best.pt or a released model)"
        )
    raise CheckpointError(f"{path}: {what}.")


def _is_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(character.isprintable() or character in "\t\r\n" for character in text)


def _weights_only_reason(error: BaseException) -> str:
    """The unpickler's own reason inside torch's long "Weights only load failed" message."""
    found = re.search(r"WeightsUnpickler error:\s*([^\n]+)", str(error))
    return found.group(1).strip() if found else _first_line(error)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
