"""Decoder labels: one per logit column, in the convention of pyctcdecode's ``alphabet.json``.

``alphabet.json`` (next to ``language_model/`` in a processor-with-LM folder) is
``{"labels": [...], "is_bpe": false}`` with one label per tokenizer id: ``""`` for the CTC blank
(``<pad>``), ``" "`` for the word delimiter (``|``), ``"⁇"`` for ``<unk>``, every other token as is.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from wav2vec_hf.decoding.language_model import LanguageModelError

ALPHABET_FILE = "alphabet.json"
BLANK_LABEL = ""
DELIMITER_LABEL = " "
UNK_LABEL = "⁇"

_PAD_TOKEN = re.compile(r"^[<\[]pad[>\]]$", flags=re.IGNORECASE)
_UNK_TOKEN = re.compile(r"^[<\[]unk[>\]]$", flags=re.IGNORECASE)
SPECIAL_TOKEN = re.compile(r"^[<\[].+[>\]]$")


class AlphabetError(LanguageModelError):
    """Labels that do not fit a vocabulary or a decoder (the message says how to fix it).

    A ``LanguageModelError``: a bad ``alphabet.json`` is bad LM input like a bad ``language_model/``,
    so commands catch one class for both.
    """


def labels_from_vocabulary(vocabulary: Mapping[str, int], word_delimiter: str = "|") -> list[str]:
    """Decoder labels of a tokenizer vocabulary (token -> id), in id order."""
    ids = sorted(vocabulary.values())
    if ids != list(range(len(ids))):
        raise AlphabetError(f"vocabulary ids must be 0..{len(ids) - 1} without gaps; found {ids[:12]}...")
    labels = [""] * len(ids)
    for token, index in vocabulary.items():
        if _PAD_TOKEN.match(token):
            labels[index] = BLANK_LABEL
        elif token == word_delimiter:
            labels[index] = DELIMITER_LABEL
        elif _UNK_TOKEN.match(token):
            labels[index] = UNK_LABEL
        else:
            labels[index] = token
    check_labels(labels)
    return labels


def check_labels(labels: Sequence[str]) -> None:
    """Raise ``AlphabetError`` unless there is exactly one blank and one word delimiter, no duplicates."""
    if labels.count(BLANK_LABEL) != 1:
        raise AlphabetError(
            f"the labels need exactly one CTC blank ('' in alphabet.json, <pad> in the vocabulary); "
            f"found {labels.count(BLANK_LABEL)} in {list(labels)}"
        )
    if labels.count(DELIMITER_LABEL) != 1:
        raise AlphabetError(
            f"the labels need exactly one word delimiter (' ' in alphabet.json, '|' in the vocabulary); "
            f"found {labels.count(DELIMITER_LABEL)} in {list(labels)}"
        )
    if len(set(labels)) != len(labels):
        duplicates = sorted({label for label in labels if labels.count(label) > 1})
        raise AlphabetError(f"duplicate labels {duplicates}")


def read_alphabet(folder: str | os.PathLike[str]) -> list[str]:
    """The labels of ``folder/alphabet.json`` (BPE alphabets are refused: this decoder spells characters)."""
    path = Path(folder) / ALPHABET_FILE
    if not path.is_file():
        raise AlphabetError(
            f"{path} not found: a processor-with-LM folder needs it (attach an LM to write it)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AlphabetError(f"{path}: not valid JSON ({error})") from error
    if (
        not isinstance(data, dict)
        or set(data) != {"labels", "is_bpe"}
        or not isinstance(data["labels"], list)
    ):
        raise AlphabetError(f'{path}: expected {{"labels": [...], "is_bpe": false}}')
    if data["is_bpe"]:
        raise AlphabetError(f"{path}: BPE alphabets are not supported (character CTC vocabularies only)")
    labels = data["labels"]
    if not all(isinstance(label, str) for label in labels):
        raise AlphabetError(f"{path}: every label must be a string")
    check_labels(labels)
    return labels


def write_alphabet(folder: str | os.PathLike[str], labels: Sequence[str]) -> Path:
    """Write ``folder/alphabet.json`` for ``labels``."""
    check_labels(labels)
    path = Path(folder) / ALPHABET_FILE
    path.write_text(json.dumps({"labels": list(labels), "is_bpe": False}), encoding="utf-8")
    return path


def check_alphabet_matches(labels: Sequence[str], vocabulary: Mapping[str, int], where: str) -> None:
    """Raise ``AlphabetError`` unless ``labels`` are exactly the labels of ``vocabulary`` (same ids)."""
    expected = labels_from_vocabulary(vocabulary)
    if list(labels) == expected:
        return
    differences = [
        f"id {i}: alphabet {a!r} vs tokenizer {b!r}"
        for i, (a, b) in enumerate(zip(labels, expected))
        if a != b
    ]
    if len(labels) != len(expected):
        differences.insert(0, f"{len(labels)} labels vs {len(expected)} tokenizer tokens")
    missing = [label for label in expected if label not in labels]
    extra = [label for label in labels if label not in expected]
    if extra:
        differences.insert(0, f"not in the tokenizer: {extra}")
    if missing:
        differences.insert(0, f"missing from alphabet.json: {missing}")
    raise AlphabetError(
        f"{where}: alphabet.json does not match the tokenizer vocabulary ({'; '.join(differences[:5])}); "
        "re-attach the LM to this model so alphabet.json is rewritten from its vocab.json"
    )
