"""The Hub remote code of wav2vec / vq-wav2vec: two .py files and the ``auto_map`` that points at them.

transformers has no wav2vec (2019) or vq-wav2vec classes, so a published folder carries ours:
``configuration_wav2vec.py`` and ``modeling_wav2vec.py`` (they import only torch and transformers)
and ``config.json``'s ``auto_map``, which tells ``AutoConfig`` / ``AutoModel`` /
``AutoModelForPreTraining`` / ``AutoModelForCTC`` which class to import from them when loading with
``trust_remote_code=True``. ``save_pretrained`` normally writes both; this module completes what is
missing (an older export, a map without ``AutoModelForCTC``) without touching the source folder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from wav2vec_hf.hub.artefacts import Artefact, ArtefactError

CONFIGURATION_FILE = "configuration_wav2vec.py"
MODELING_FILE = "modeling_wav2vec.py"
REMOTE_CODE_FILES = (CONFIGURATION_FILE, MODELING_FILE)
_PACKAGE_CODE_DIR = Path(__file__).resolve().parents[1] / "models" / "wav2vec"
_PACKAGE_IMPORT = re.compile(r"^\s*(from|import)\s+wav2vec_hf\b", flags=re.MULTILINE)


@dataclass(frozen=True)
class RemoteCode:
    """What the upload must carry for ``trust_remote_code`` loading.

    Attributes:
        files: repo file name -> local file to upload (the folder's own copy, else the package's).
        config_json: the ``config.json`` bytes to upload when its ``auto_map`` had to be completed
            (None: the folder's file is uploaded unchanged).
        auto_map: the complete ``auto_map``.
        added: human-readable notes on what was added (for the command's summary).
    """

    files: dict[str, Path]
    config_json: bytes | None
    auto_map: dict[str, str]
    added: tuple[str, ...]


def expected_auto_map(model_type: str) -> dict[str, str]:
    """The ``auto_map`` of a wav2vec / vq-wav2vec folder: every auto class our models register."""
    prefix = {"wav2vec": "Wav2Vec", "vq-wav2vec": "VQWav2Vec"}.get(model_type)
    if prefix is None:
        raise ValueError(f"model_type {model_type!r} has no remote code (only wav2vec and vq-wav2vec do).")
    module = Path(MODELING_FILE).stem
    return {
        "AutoConfig": f"{Path(CONFIGURATION_FILE).stem}.{prefix}Config",
        "AutoModel": f"{module}.{prefix}Model",
        "AutoModelForPreTraining": f"{module}.{prefix}ForPreTraining",
        "AutoModelForCTC": f"{module}.{prefix}ForCTC",
    }


def resolve_remote_code(artefact: Artefact) -> RemoteCode | None:
    """The remote code to publish with ``artefact`` (None for stock transformers models).

    The folder's own .py files are preferred (they are the code its weights were saved with); missing
    ones come from this package. Each file is checked to be self-contained (no ``wav2vec_hf`` import)
    and to define the classes the ``auto_map`` names.

    Raises:
        ArtefactError: a .py file imports ``wav2vec_hf`` or lacks a class the map needs.
    """
    if not artefact.remote_code:
        return None
    added: list[str] = []
    files: dict[str, Path] = {}
    for name in REMOTE_CODE_FILES:
        local = artefact.folder / name
        if local.is_file():
            files[name] = local
        else:
            files[name] = _PACKAGE_CODE_DIR / name
            added.append(f"{name} (from wav2vec_hf {_package_version()})")
    wanted = expected_auto_map(artefact.model_type)
    current = artefact.config.get("auto_map") or {}
    if not isinstance(current, dict):
        raise ArtefactError(
            f"{artefact.folder / 'config.json'}: auto_map must be an object, got {current!r}."
        )
    for auto_class, reference in current.items():
        if auto_class in wanted and reference != wanted[auto_class]:
            raise ArtefactError(
                f"{artefact.folder / 'config.json'}: auto_map[{auto_class!r}] = {reference!r}, but a "
                f"{artefact.model_type} folder needs {wanted[auto_class]!r}; fix the entry or remove it."
            )
    auto_map = {**current, **wanted}
    missing = [auto_class for auto_class in wanted if auto_class not in current]
    config_json = None
    if missing:
        added.append("config.json auto_map entries " + ", ".join(missing))
        config = {**artefact.config, "auto_map": auto_map}
        config_json = (json.dumps(config, indent=2, sort_keys=True) + "\n").encode("utf-8")
    _check_code(files, auto_map)
    return RemoteCode(files=files, config_json=config_json, auto_map=auto_map, added=tuple(added))


def _check_code(files: dict[str, Path], auto_map: dict[str, str]) -> None:
    sources = {name: path.read_text(encoding="utf-8") for name, path in files.items()}
    for name, text in sources.items():
        if _PACKAGE_IMPORT.search(text):
            raise ArtefactError(
                f"{files[name]}: imports wav2vec_hf, so it would not load from the Hub without this package; "
                "remote code may import only torch, transformers and its sibling file."
            )
    for auto_class, reference in auto_map.items():
        module, _, class_name = reference.rpartition(".")
        text = sources.get(f"{module}.py")
        if text is None or not re.search(rf"^class {re.escape(class_name)}\b", text, flags=re.MULTILINE):
            raise ArtefactError(
                f"auto_map[{auto_class!r}] = {reference!r}, but {module}.py defines no class {class_name}; "
                "save the model again with this version of wav2vec_hf."
            )


def _package_version() -> str:
    import wav2vec_hf

    return wav2vec_hf.__version__


__all__ = ["REMOTE_CODE_FILES", "RemoteCode", "expected_auto_map", "resolve_remote_code"]
