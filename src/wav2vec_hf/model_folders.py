"""Is this model folder whole? Cheap checks made before a model folder is loaded or published.

``check_model_weights(folder)`` reads only the safetensors headers (never the tensors) and checks:

* the header parses (8-byte little-endian length, then a JSON object of tensors);
* every tensor's byte range lies inside the file, matches its dtype and shape, and the ranges tile
  the data section without gaps or overlaps;
* the file's size equals the header's end of data (a copy or download cut short is caught here;
  safetensors itself says only "incomplete metadata" without the file name);
* the file holds at least one tensor, a sharded index names only shards that exist, and for a CTC
  model the output layer has ``config.json``'s ``vocab_size`` rows.

``check_model_source(name)`` comes first wherever a command loads a model: a name that is no folder
but looks like a local path (or any name while ``HF_HUB_OFFLINE`` is set and the Hub cache does not
have it) is reported as a missing folder instead of transformers' "couldn't connect to
huggingface.co"; an existing folder gets ``check_model_weights``.

Errors are ``ValueError`` / ``FileNotFoundError`` subclasses with one line naming the file and the fix,
so that every command already turns them into ``wav2vec-hf CMD: error: ...`` (exit 2).
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Any

from wav2vec_hf.errors import Wav2VecHFError

SAFETENSORS_INDEX = "model.safetensors.index.json"
_MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own limit
# Bytes per element of the safetensors dtypes (sub-byte dtypes are not size-checked).
_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}  # fmt: skip
# The CTC output layer (rows = vocabulary) of each CTC model class this package loads.
_CTC_HEADS = ("lm_head.weight", "acoustic_model.output.weight")


class WeightsError(Wav2VecHFError, ValueError):
    """A weights file of a model folder is damaged or does not fit its config; names the file and the fix."""


class ModelFolderNotFoundError(Wav2VecHFError, FileNotFoundError):
    """The model folder named on the command line does not exist."""


def read_safetensors_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of a safetensors file, checked against the file's size.

    Returns:
        ``{tensor name: {"dtype", "shape", "data_offsets"}}`` (``__metadata__`` removed).

    Raises:
        WeightsError: unreadable, truncated, padded or inconsistent; the message names ``path``.
    """
    path = Path(path)
    fix = "save the model again (save_pretrained) or copy the file again"
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise WeightsError(f"{path}: not a safetensors file ({size} bytes, no header); {fix}")
            (length,) = struct.unpack("<Q", prefix)
            if length > _MAX_HEADER_BYTES or 8 + length > size:
                raise WeightsError(
                    f"{path}: truncated or not a safetensors file (header of {length} bytes announced, "
                    f"file has {size}); {fix}"
                )
            raw = handle.read(length)
    except OSError as error:
        raise WeightsError(f"{path}: cannot read the weights ({error})") from error
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise WeightsError(f"{path}: damaged safetensors header ({error}); {fix}") from error
    if not isinstance(header, dict):
        raise WeightsError(f"{path}: damaged safetensors header (not a JSON object); {fix}")
    header.pop("__metadata__", None)

    ranges = []
    for name, entry in header.items():
        try:
            dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
            if not all(isinstance(d, int) and d >= 0 for d in shape) or not 0 <= begin <= end:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise WeightsError(
                f"{path}: damaged safetensors header (tensor {name!r}: {entry!r}); {fix}"
            ) from None
        if dtype in _DTYPE_BYTES and end - begin != math.prod(shape) * _DTYPE_BYTES[dtype]:
            raise WeightsError(
                f"{path}: tensor {name!r} ({dtype} {shape}) spans {end - begin} bytes, expected "
                f"{math.prod(shape) * _DTYPE_BYTES[dtype]}; {fix}"
            )
        ranges.append((begin, end, name))
    data_end = 0
    for begin, end, name in sorted(ranges):
        if begin != data_end:
            raise WeightsError(
                f"{path}: tensor {name!r} starts at byte {begin} of the data, expected {data_end} "
                f"(overlapping or missing data); {fix}"
            )
        data_end = end
    expected = 8 + length + data_end
    if size != expected:
        state = "truncated" if size < expected else "longer than its header says"
        raise WeightsError(
            f"{path}: {state}: {size} bytes, its header describes {expected} "
            f"({len(header)} tensors); the file was cut off or damaged: {fix}"
        )
    return header


def check_model_weights(folder: str | Path, config: dict[str, Any] | None = None) -> list[Path]:
    """Check every safetensors file of ``folder`` (headers only; see the module docstring).

    Args:
        folder: a ``save_pretrained`` folder.
        config: its ``config.json`` content (default: read it when present).

    Returns:
        The files checked (empty when the folder has no safetensors weights: other formats are
        left to their loaders).

    Raises:
        WeightsError: the first problem found, naming the file and the fix.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.glob("*.safetensors") if p.is_file())
    index_path = folder / SAFETENSORS_INDEX
    tensors: dict[str, dict[str, Any]] = {}
    headers: dict[str, dict[str, Any]] = {}
    for path in files:
        header = read_safetensors_header(path)
        if not header:
            raise WeightsError(f"{path}: holds no tensors; save the model again (save_pretrained)")
        headers[path.name] = header
        tensors.update(header)
    if index_path.is_file():
        try:
            weight_map = json.loads(index_path.read_text(encoding="utf-8"))["weight_map"]
            pairs = list(weight_map.items())
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise WeightsError(
                f"{index_path}: not a readable weights index ({error}); save the model again"
            ) from error
        for tensor, shard in pairs:
            if shard not in headers:
                raise WeightsError(
                    f"{index_path}: names {shard} (for {tensor!r}), which is not in {folder}; copy the "
                    "missing shard too, or save the model again"
                )
            if tensor not in headers[shard]:
                raise WeightsError(
                    f"{folder / shard}: has no tensor {tensor!r}, which {index_path.name} places there; "
                    "save the model again"
                )
    if config is None and (folder / "config.json").is_file():
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            config = None  # the loader reports a bad config.json in its own words
    if isinstance(config, dict) and files:
        _check_ctc_head(folder, config, tensors, headers)
    return files


def check_model_source(name: str | os.PathLike[str], option: str | None = None) -> Path | None:
    """Before loading the model ``name`` (a folder, or a Hub repo id): fail early, in plain words.

    ``option`` (e.g. ``"--model"``) prefixes the messages.

    Returns:
        The folder (checked with ``check_model_weights``), or None for a name left to the Hub.

    Raises:
        ModelFolderNotFoundError: ``name`` is no folder and looks like a local path, or the Hub is
            offline (``HF_HUB_OFFLINE``) and its cache does not hold ``name``.
        WeightsError: the folder's weights are damaged.
    """
    label = f"{option} {name}" if option else str(name)
    path = Path(name).expanduser()
    if path.is_dir():
        check_model_weights(path)
        return path
    if path.exists():
        raise ModelFolderNotFoundError(f"{label}: a file, not a model folder; give the folder it is in")
    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    if _looks_local(str(name)) or (offline and not _in_hub_cache(str(name))):
        why = " (HF_HUB_OFFLINE is set, so it is not looked up on the Hub)" if offline else ""
        raise ModelFolderNotFoundError(
            f"{label}: no such model folder{why}; check the path (a folder written by finetune, "
            "pretrain, convert-fairseq or save_pretrained)"
        )
    return None


def _check_ctc_head(folder: Path, config: dict[str, Any], tensors: dict, headers: dict) -> None:
    architectures = config.get("architectures") or ()
    vocab_size = config.get("vocab_size")
    if not isinstance(vocab_size, int) or not any(str(a).endswith("ForCTC") for a in architectures):
        return
    for head in _CTC_HEADS:
        shape = tensors.get(head, {}).get("shape")
        if shape and shape[0] != vocab_size:
            where = next((folder / n for n, h in headers.items() if head in h), folder)
            raise WeightsError(
                f"{where}: the CTC output layer {head} has {shape[0]} rows but {folder / 'config.json'} "
                f"says vocab_size={vocab_size}; the weights and config.json come from different models: "
                "copy the matching pair (or save the model again)"
            )


def _looks_local(name: str) -> bool:
    """True for a name that cannot be a Hub repo id (``org/name``) or whose first part is a local folder."""
    if name.startswith(("/", "./", "../", "~", ".\\")) or "\\" in name or name.endswith("/"):
        return True
    parts = name.split("/")
    if len(parts) > 2 or any(not part for part in parts):
        return True
    return len(parts) == 2 and Path(parts[0]).is_dir()


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except Exception:  # an invalid repo id, or no huggingface_hub: not in the cache
        return False


__all__ = [
    "SAFETENSORS_INDEX",
    "ModelFolderNotFoundError",
    "WeightsError",
    "check_model_source",
    "check_model_weights",
    "read_safetensors_header",
]
