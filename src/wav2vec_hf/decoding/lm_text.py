"""LM training text normalised the way the acoustic model spells words.

A word-level n-gram LM only helps a CTC decoder when its words are spelled with exactly the
characters the tokenizer can emit: the same case, the same apostrophes, no punctuation, and never
the word delimiter (``|``) inside a word. ``LmTextNormalizer`` derives those rules from a tokenizer
vocabulary (``vocab.json`` of a ``Wav2Vec2CTCTokenizer``), or uses the project's transcript
convention (UPPERCASE ``A``-``Z`` and apostrophe, see ``wav2vec_hf.data.text``) when no vocabulary is
given.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wav2vec_hf.data.text import TRANSCRIPT_ALPHABET

WORD_DELIMITER = "|"
"""The word delimiter token of ``Wav2Vec2CTCTokenizer`` vocabularies."""

_SPECIAL_TOKEN = re.compile(r"^[<\[].+[>\]]$")


def word_characters(vocabulary: Iterable[str], word_delimiter: str = WORD_DELIMITER) -> frozenset[str]:
    """The single characters of ``vocabulary`` that can appear inside a word.

    Special tokens (``<pad>``, ``<unk>``, ``<s>``, ``[PAD]`` ...), the word delimiter, spaces and
    multi-character tokens are not word characters.
    """
    characters = set()
    for token in vocabulary:
        if token == word_delimiter or _SPECIAL_TOKEN.match(token) or len(token) != 1 or token.isspace():
            continue
        characters.add(token)
    return frozenset(characters)


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


class _CharacterTable(dict):
    """``str.translate`` table: a character -> itself if spellable, its accent-free base letters if
    those are, else a space. Filled lazily (one Python call per distinct character, then C lookups)."""

    def __init__(self, characters: frozenset[str]):
        super().__init__()
        self.characters = characters

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        if ch in self.characters:
            mapped = ch
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            mapped = base if base and all(c in self.characters for c in base) else " "
        self[code] = mapped
        return mapped


@dataclass(frozen=True)
class LmTextNormalizer:
    """Turns raw text lines into LM sentences (words separated by single spaces).

    Attributes:
        characters: the characters a word may hold.
        case: ``"upper"`` or ``"lower"`` to change case before matching, ``None`` to keep it.
    """

    characters: frozenset[str]
    case: str | None = "upper"
    _table: _CharacterTable = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.case not in ("upper", "lower", None):
            raise ValueError(f"case={self.case!r}: use 'upper', 'lower' or None")
        if not any(ch.isalpha() or ch.isdigit() for ch in self.characters):
            raise ValueError(
                f"the vocabulary has no letters to spell words with (word characters: "
                f"{sorted(self.characters)}); is this a character-level CTC vocabulary?"
            )
        object.__setattr__(self, "_table", _CharacterTable(self.characters))

    @classmethod
    def default(cls) -> LmTextNormalizer:
        """The project's transcript convention: UPPERCASE ``A``-``Z`` and apostrophe."""
        return cls(frozenset(TRANSCRIPT_ALPHABET), "upper")

    @classmethod
    def from_vocabulary(
        cls, vocabulary: Iterable[str] | Mapping[str, int], word_delimiter: str = WORD_DELIMITER
    ) -> LmTextNormalizer:
        """Rules matching a tokenizer vocabulary: its word characters and its letter case.

        A vocabulary whose letters are all uppercase makes text uppercase, all lowercase makes it
        lowercase; a mixed-case vocabulary keeps the text's case.
        """
        characters = word_characters(vocabulary, word_delimiter)
        cased = [ch for ch in characters if ch.lower() != ch.upper()]
        if cased and all(ch.isupper() for ch in cased):
            case = "upper"
        elif cased and all(ch.islower() for ch in cased):
            case = "lower"
        else:
            case = None
        return cls(characters, case)

    def normalize(self, line: str) -> str:
        """``line`` as words of spellable characters separated by single spaces ('' when none is left).

        Characters the vocabulary cannot spell separate words (``"don't-stop"`` -> ``"DON'T STOP"``);
        apostrophes at the edge of a word (quotes) are dropped when the apostrophe is a word character.
        """
        if self.case == "upper":
            line = line.upper()
        elif self.case == "lower":
            line = line.lower()
        mapped = line.translate(self._table)
        words = []
        for chunk in mapped.split():
            word = chunk.strip("'")
            if word:
                words.append(word)
        return " ".join(words)

    def sentences(self, lines: Iterable[str]) -> Iterator[str]:
        """Normalised non-empty sentences of ``lines``."""
        for line in lines:
            sentence = self.normalize(line)
            if sentence:
                yield sentence

    def describe(self) -> dict:
        """JSON-friendly summary (for build records)."""
        return {"characters": "".join(sorted(self.characters)), "case": self.case}
