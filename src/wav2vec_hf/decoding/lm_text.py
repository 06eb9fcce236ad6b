"""LM training text normalised the way the acoustic model spells words.

A word-level n-gram LM only helps a CTC decoder when its words are spelled with exactly the
characters the tokenizer can emit: the same case, the same apostrophes, no punctuation, and never
the word delimiter (``|``) inside a word. ``lm_text_normalizer`` is the package's one normaliser
(``data.normalization.TextNormalizer``: the model's saved rules, or those its ``vocab.json`` implies)
restricted to the vocabulary's word characters; without a vocabulary, LM text follows the project's
transcript convention (``PROJECT_NORMALIZER``: UPPERCASE ``A``-``Z`` and apostrophe).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from wav2vec_hf.data.normalization import WORD_DELIMITER, TextNormalizer, word_characters


def read_vocabulary(path: str | os.PathLike[str]) -> dict[str, int]:
    """Token -> id of a tokenizer ``vocab.json``, or of the ``vocab.json`` inside a model folder."""
    path = Path(path)
    file = path / "vocab.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(
            f"{file}: no tokenizer vocabulary here; give a vocab.json or a folder saved with a "
            "Wav2Vec2CTCTokenizer / Wav2Vec2Processor"
        )
    try:
        vocabulary = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{file}: not a JSON vocabulary ({error})") from error
    if not isinstance(vocabulary, dict) or not all(
        isinstance(k, str) and isinstance(v, int) for k, v in vocabulary.items()
    ):
        raise ValueError(f"{file}: expected a JSON object mapping token strings to integer ids")
    return vocabulary


def lm_text_normalizer(
    vocabulary: Iterable[str] | Mapping[str, int], model_dir: str | os.PathLike[str] | None = None
) -> TextNormalizer:
    """The normaliser of LM text for a CTC vocabulary: the model's own rules (``text_normalizer.json``
    in ``model_dir``, else those the vocabulary implies) with every word restricted to the
    vocabulary's word characters, so the decoder can spell every LM word."""
    if model_dir is None:
        return TextNormalizer.for_vocabulary(vocabulary)
    return TextNormalizer.for_model(model_dir, vocabulary).spelled_with(word_characters(vocabulary))


__all__ = ["WORD_DELIMITER", "lm_text_normalizer", "read_vocabulary", "word_characters"]
