"""What a ``save_pretrained`` folder holds: which kind of published artefact it is.

Five kinds of folders are published, each with its own model card template in ``model_cards/``:

==============  ===========================================================  ==========================
kind            folder                                                       template
==============  ===========================================================  ==========================
``wav2vec``     pretrained wav2vec (``model_type`` "wav2vec")                 ``wav2vec.md``
``vq-wav2vec``  pretrained vq-wav2vec (``model_type`` "vq-wav2vec")           ``vq-wav2vec.md``
``units-bert``  BERT trained on vq-wav2vec units ("i-j" token vocabulary)    ``vq-wav2vec.md``
``wav2vec2``    pretrained wav2vec 2.0 (stock ``Wav2Vec2ForPreTraining``)    ``wav2vec2.md``
``ctc``         any of the three generations with a CTC head + processor      ``ctc.md``
``ctc-lm``      ``ctc`` plus ``alphabet.json`` and ``language_model/``        ``ctc-with-lm.md``
==============  ===========================================================  ==========================

Only ``config.json`` and the files' names are read here (plus the safetensors headers, to count
parameters); nothing is unpickled and no model is built.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wav2vec_hf.errors import Wav2VecHFError

WAV2VEC = "wav2vec"
VQ_WAV2VEC = "vq-wav2vec"
UNITS_BERT = "units-bert"
WAV2VEC2 = "wav2vec2"
CTC = "ctc"
CTC_LM = "ctc-lm"
KINDS = (WAV2VEC, VQ_WAV2VEC, UNITS_BERT, WAV2VEC2, CTC, CTC_LM)

TEMPLATE_FILES = {
    WAV2VEC: "wav2vec.md",
    VQ_WAV2VEC: "vq-wav2vec.md",
    UNITS_BERT: "vq-wav2vec.md",
    WAV2VEC2: "wav2vec2.md",
    CTC: "ctc.md",
    CTC_LM: "ctc-with-lm.md",
}

# Model types whose code is ours: the folder must carry it (``auto_map`` + the two .py files).
REMOTE_CODE_MODEL_TYPES = (WAV2VEC, VQ_WAV2VEC)
GENERATIONS = (WAV2VEC, VQ_WAV2VEC, WAV2VEC2)

LANGUAGE_MODEL_DIR = "language_model"
ALPHABET_FILE = "alphabet.json"
_UNIT_TOKEN = re.compile(r"^\d+(-\d+)+$")  # a vq-wav2vec frame: one code index per group, "-" joined
_SPECIAL_TOKEN = re.compile(r"^(\[[A-Za-z_]+\]|<[A-Za-z_/]+>)$")  # [PAD], [MASK], <s>, </s>, ...
_TOKENIZER_VOCAB_FILES = ("vocab.json", "vocab.txt", "tokenizer.json")
_FEATURE_EXTRACTOR_FILES = ("preprocessor_config.json", "processor_config.json")


class ArtefactError(Wav2VecHFError, ValueError):
    """A folder that cannot be published as it is; the message names the file and the fix."""


@dataclass(frozen=True)
class Artefact:
    """One publishable folder, described.

    Attributes:
        folder: the folder.
        kind: one of ``KINDS``.
        generation: "wav2vec", "vq-wav2vec" or "wav2vec2" (for units-bert: "vq-wav2vec").
        model_type: ``config.json``'s ``model_type``.
        architectures: ``config.json``'s ``architectures``.
        config: the whole ``config.json``.
        remote_code: the model's code is ours (wav2vec / vq-wav2vec): loading needs ``trust_remote_code``.
        parameters: number of parameters in the safetensors weights (0 if none were found).
        weight_files: the safetensors files (and their index), relative to ``folder``.
        has_tokenizer: a tokenizer vocabulary is present (CTC processors, units BERT).
        has_feature_extractor: a feature extractor config is present (``preprocessor_config.json``
            or, transformers >= 5, inside ``processor_config.json``).
        lm_files: the ``language_model/`` files, relative to ``folder`` (empty without an LM).
        unit_examples: for units-bert, a few unit tokens of its vocabulary (for the usage snippet).
    """

    folder: Path
    kind: str
    generation: str
    model_type: str
    architectures: tuple[str, ...]
    config: dict[str, Any] = field(repr=False)
    remote_code: bool
    parameters: int
    weight_files: tuple[str, ...]
    has_tokenizer: bool
    has_feature_extractor: bool
    lm_files: tuple[str, ...] = ()
    unit_examples: tuple[str, ...] = ()

    @property
    def template_file(self) -> str:
        """The ``model_cards/`` template of this kind."""
        return TEMPLATE_FILES[self.kind]

    @property
    def is_ctc(self) -> bool:
        return self.kind in (CTC, CTC_LM)


def read_json_file(path: Path, what: str) -> Any:
    """``json.loads`` of a file, with an error that names the file and says what it should be."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtefactError(f"{path}: cannot read {what} ({error}); fix or remove the file.") from error


def describe_folder(folder: str | Path) -> Artefact:
    """Detect the artefact kind of ``folder`` and collect what its card and upload need.

    Raises:
        ArtefactError: no folder, no ``config.json``, no safetensors weights, an unknown model type,
            or a half language model (``language_model/`` without ``alphabet.json`` or the reverse).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ArtefactError(f"{folder}: no such folder; give a save_pretrained folder to publish.")
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ArtefactError(
            f"{folder}: no config.json; push-to-hub publishes a save_pretrained folder "
            "(model.save_pretrained(folder)), e.g. the output of pretrain, finetune or convert-fairseq."
        )
    config = read_json_file(config_path, "the model configuration")
    if not isinstance(config, dict):
        raise ArtefactError(f"{config_path}: expected a JSON object, got {type(config).__name__}.")
    model_type = str(config.get("model_type") or "")
    architectures = tuple(str(name) for name in config.get("architectures") or ())
    weight_files = _weight_files(folder)
    if not weight_files:
        found = sorted(p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
        hint = f" (found {', '.join(found)}: load and save_pretrained it again)" if found else ""
        raise ArtefactError(
            f"{folder}: no model.safetensors; only safetensors weights are published{hint}. "
            "transformers >= 5 writes them with save_pretrained."
        )

    lm_files = _language_model_files(folder)
    is_ctc = any(name.endswith("ForCTC") for name in architectures)
    if lm_files and not is_ctc:
        raise ArtefactError(
            f"{folder}: has {LANGUAGE_MODEL_DIR}/ but config.json's architectures {list(architectures)} "
            "have no CTC head; an n-gram LM only decodes a CTC model. Remove the folder or publish the "
            "fine-tuned CTC model it belongs to."
        )
    unit_examples: tuple[str, ...] = ()
    if is_ctc:
        if model_type not in GENERATIONS:
            raise ArtefactError(_unknown_type_message(config_path, model_type))
        kind, generation = (CTC_LM if lm_files else CTC), model_type
    elif model_type in (WAV2VEC, VQ_WAV2VEC, WAV2VEC2):
        kind, generation = model_type, model_type
    elif model_type == "bert" and (unit_examples := _unit_vocabulary_examples(folder)):
        kind, generation = UNITS_BERT, VQ_WAV2VEC
    else:
        raise ArtefactError(_unknown_type_message(config_path, model_type))

    has_tokenizer = any((folder / name).is_file() for name in _TOKENIZER_VOCAB_FILES)
    if is_ctc and not has_tokenizer:
        raise ArtefactError(
            f"{folder}: a CTC model without its tokenizer (vocab.json); save the processor next to the "
            "model (processor.save_pretrained(folder)) so that the Hub repo can transcribe."
        )
    return Artefact(
        folder=folder,
        kind=kind,
        generation=generation,
        model_type=model_type,
        architectures=architectures,
        config=config,
        remote_code=model_type in REMOTE_CODE_MODEL_TYPES,
        parameters=sum(
            count_safetensors_parameters(folder / name)
            for name in weight_files
            if name.endswith(".safetensors")
        ),
        weight_files=weight_files,
        has_tokenizer=has_tokenizer,
        has_feature_extractor=_has_feature_extractor(folder),
        lm_files=lm_files,
        unit_examples=unit_examples,
    )


def count_safetensors_parameters(path: Path) -> int:
    """Number of tensor elements in a safetensors file, read from its JSON header only.

    The format: 8 bytes little-endian header length, then the header, a JSON object mapping tensor
    names to ``{"dtype", "shape", "data_offsets"}`` (plus an optional ``__metadata__``).
    """
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > 100_000_000:
                raise ValueError(f"header of {length} bytes")
            header = json.loads(handle.read(length))
        return sum(math.prod(entry["shape"]) for name, entry in header.items() if name != "__metadata__")
    except (OSError, struct.error, ValueError, KeyError, TypeError) as error:
        raise ArtefactError(
            f"{path}: not a readable safetensors file ({error}); save the model again."
        ) from error


def _weight_files(folder: Path) -> tuple[str, ...]:
    names = sorted(p.name for p in folder.glob("*.safetensors") if p.is_file())
    if (folder / "model.safetensors.index.json").is_file():
        names.append("model.safetensors.index.json")
    return tuple(names)


def _language_model_files(folder: Path) -> tuple[str, ...]:
    lm_dir = folder / LANGUAGE_MODEL_DIR
    has_dir, has_alphabet = lm_dir.is_dir(), (folder / ALPHABET_FILE).is_file()
    if not has_dir and not has_alphabet:
        return ()
    if has_dir != has_alphabet:
        present, missing = (
            (f"{LANGUAGE_MODEL_DIR}/", ALPHABET_FILE)
            if has_dir
            else (ALPHABET_FILE, f"{LANGUAGE_MODEL_DIR}/")
        )
        raise ArtefactError(
            f"{folder}: has {present} but no {missing}; an LM decoder needs both (save the processor with "
            "`wav2vec-hf build-lm --attach` or CTCProcessorWithLanguageModel.save_pretrained), or remove the one present."
        )
    files = sorted(
        f"{LANGUAGE_MODEL_DIR}/{p.name}"
        for p in lm_dir.iterdir()
        if p.is_file() and not p.name.startswith(".")
    )
    if not any(name.endswith((".arpa", ".bin", ".binary")) for name in files):
        raise ArtefactError(
            f"{lm_dir}: no KenLM model (.arpa, .bin or .binary); build one with the decoding module "
            "or remove the folder."
        )
    return tuple(files)


def _has_feature_extractor(folder: Path) -> bool:
    if (folder / "preprocessor_config.json").is_file():
        return True
    processor = folder / "processor_config.json"
    if processor.is_file():
        content = read_json_file(processor, "the processor configuration")
        return isinstance(content, dict) and isinstance(content.get("feature_extractor"), dict)
    return False


def _unit_vocabulary_examples(folder: Path, count: int = 8) -> tuple[str, ...]:
    """A few "i-j" tokens of a tokenizer whose vocabulary is vq-wav2vec units (and special tokens), else ()."""
    tokens: list[str] = []
    if (folder / "vocab.txt").is_file():
        tokens = (folder / "vocab.txt").read_text(encoding="utf-8").split()
    elif (folder / "vocab.json").is_file():
        tokens = list(read_json_file(folder / "vocab.json", "the tokenizer vocabulary"))
    elif (folder / "tokenizer.json").is_file():
        model = read_json_file(folder / "tokenizer.json", "the tokenizer").get("model") or {}
        vocab = model.get("vocab") or {}
        tokens = list(vocab) if isinstance(vocab, dict) else [entry[0] for entry in vocab]
    units = [token for token in tokens if _UNIT_TOKEN.match(token)]
    others = [token for token in tokens if not _UNIT_TOKEN.match(token) and not _SPECIAL_TOKEN.match(token)]
    if not units or others:  # a units vocabulary holds units and special tokens only
        return ()
    return tuple(units[:count])


def _unknown_type_message(config_path: Path, model_type: str) -> str:
    return (
        f"{config_path}: model_type {model_type!r} is not one push-to-hub publishes; expected "
        "'wav2vec', 'vq-wav2vec', 'wav2vec2' (pretrained or with a CTC head) or a BERT over vq-wav2vec units."
    )


__all__ = [
    "ALPHABET_FILE",
    "CTC",
    "CTC_LM",
    "KINDS",
    "LANGUAGE_MODEL_DIR",
    "UNITS_BERT",
    "VQ_WAV2VEC",
    "WAV2VEC",
    "WAV2VEC2",
    "Artefact",
    "ArtefactError",
    "count_safetensors_parameters",
    "describe_folder",
    "read_json_file",
]
