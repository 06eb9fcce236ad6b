"""The one text normaliser: what a CTC model is asked to write, how its references are scored and how
its LM text is spelled.

``TextNormalizer`` folds case, turns punctuation into word breaks (keeping apostrophes inside words,
as in LibriSpeech) and, when given the characters a vocabulary can write, replaces any other
character by its accent-free base letters (``É`` -> ``E``) or by a word break. The same rules serve:

- fine-tuning labels (saved beside the model as ``text_normalizer.json``);
- every score the package reports (``for_model``: the saved rules, or for a folder without them, a
  converted model, the rules its vocabulary implies);
- n-gram LM text (``spelled_with`` the vocabulary's word characters, so that every LM word can be
  written by the acoustic model);
- the built-in corpus and the real-speech manifests (``PROJECT_NORMALIZER``: UPPERCASE ``A``-``Z``
  and apostrophe).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

NORMALIZER_FILE = "text_normalizer.json"
CASES = ("upper", "lower", "keep")
WORD_DELIMITER = "|"
"""The word delimiter token of ``Wav2Vec2CTCTokenizer`` vocabularies (fairseq's ``.ltr`` boundary)."""

TRANSCRIPT_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"
"""Every character of a transcript in the project's convention, besides the single space between words."""

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


def _is_punctuation(character: str) -> bool:
    return unicodedata.category(character).startswith("P")


class _CharacterMap(dict):
    """``str.translate`` table of one normaliser: code point -> replacement text. Filled lazily (one
    Python call per distinct character, then C lookups), so normalising a large LM corpus is fast."""

    def __init__(self, normalizer: TextNormalizer):
        super().__init__()
        self.breaks_punctuation = normalizer.remove_punctuation
        self.kept_punctuation = frozenset(normalizer.keep_inside_words)
        self.characters = None if normalizer.characters is None else frozenset(normalizer.characters)

    def __missing__(self, code: int) -> str:
        character = chr(code)
        if self.breaks_punctuation and _is_punctuation(character) and character not in self.kept_punctuation:
            mapped = " "
        elif self.characters is None or character in self.characters:
            mapped = character
        else:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", character) if not unicodedata.combining(c)
            )
            mapped = base if base and all(c in self.characters for c in base) else " "
        self[code] = mapped
        return mapped


@dataclass(frozen=True)
class TextNormalizer:
    """Turns raw text into the text a CTC model writes: words separated by single spaces.

    Attributes:
        case: ``"upper"`` (LibriSpeech style, the default), ``"lower"`` or ``"keep"``.
        remove_punctuation: replace Unicode punctuation (categories P*) by word breaks; characters
            in ``keep_inside_words`` survive when they sit inside a word (``DON'T``) and are dropped
            at word edges (quotes).
        keep_inside_words: punctuation kept inside words (default: the apostrophe).
        characters: when set, the only characters a word may hold (a vocabulary's word characters,
            sorted into one string); any other character becomes its accent-free base letters when
            those are all allowed, else a word break. ``None`` keeps every character (characters a
            vocabulary lacks are then counted by ``finetuning.vocabulary.count_unknown_characters``).

    Text is put in Unicode NFC form first; whitespace of any kind separates words; the output has no
    edge spaces and may be empty.
    """

    case: str = "upper"
    remove_punctuation: bool = True
    keep_inside_words: str = "'"
    characters: str | None = None
    _table: _CharacterMap = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.case not in CASES:
            raise ValueError(f"TextNormalizer.case={self.case!r}: choose one of {CASES}.")
        if self.characters is not None:
            object.__setattr__(self, "characters", "".join(sorted(set(self.characters))))
            if not any(c.isalpha() or c.isdigit() for c in self.characters):
                raise ValueError(
                    f"no letters to spell words with (word characters: {list(self.characters)}); "
                    "is this a character-level CTC vocabulary?"
                )
        object.__setattr__(self, "_table", _CharacterMap(self))

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def for_vocabulary(
        cls, vocabulary: Iterable[str] | Mapping[str, int], word_delimiter: str = WORD_DELIMITER
    ) -> TextNormalizer:
        """Rules a tokenizer vocabulary implies: its word characters, its letter case and the
        punctuation it can write kept inside words.

        A vocabulary whose letters are all uppercase makes text uppercase, all lowercase makes it
        lowercase; a mixed-case vocabulary keeps the text's case.
        """
        characters = word_characters(vocabulary, word_delimiter)
        cased = [c for c in characters if c.lower() != c.upper()]
        if cased and all(c.isupper() for c in cased):
            case = "upper"
        elif cased and all(c.islower() for c in cased):
            case = "lower"
        else:
            case = "keep"
        kept = "".join(sorted(c for c in characters if _is_punctuation(c)))
        return cls(case=case, keep_inside_words=kept, characters="".join(characters))

    @classmethod
    def for_model(
        cls, folder: str | os.PathLike, vocabulary: Iterable[str] | Mapping[str, int]
    ) -> TextNormalizer:
        """The rules every score of the model in ``folder`` uses: its saved ``text_normalizer.json``,
        or, for a folder without one (a converted model), ``for_vocabulary(vocabulary)``."""
        return cls.from_folder(folder) or cls.for_vocabulary(vocabulary)

    def spelled_with(self, characters: Iterable[str]) -> TextNormalizer:
        """These rules, with words restricted to ``characters`` (for LM text: every word spellable)."""
        return replace(self, characters="".join(set(characters)))

    # -- use ------------------------------------------------------------------------------------

    def __call__(self, text: str) -> str:
        """The normalised form of ``text`` (may be empty)."""
        text = unicodedata.normalize("NFC", str(text))
        if self.case == "upper":
            text = text.upper()
        elif self.case == "lower":
            text = text.lower()
        if self.remove_punctuation or self.characters is not None:
            text = text.translate(self._table)
        words = text.split()
        if self.remove_punctuation and self.keep_inside_words:
            words = [word.strip(self.keep_inside_words) for word in words]
        return " ".join(word for word in words if word)

    normalize = __call__

    def sentences(self, lines: Iterable[str]) -> Iterator[str]:
        """The non-empty normalised forms of ``lines`` (LM training text)."""
        for line in lines:
            sentence = self(line)
            if sentence:
                yield sentence

    # -- files ----------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-ready settings."""
        return {
            "case": self.case,
            "remove_punctuation": self.remove_punctuation,
            "keep_inside_words": self.keep_inside_words,
            "characters": self.characters,
        }

    describe = to_dict

    @classmethod
    def from_dict(cls, settings: dict) -> TextNormalizer:
        """The normaliser ``to_dict`` described (files written before ``characters`` existed load too)."""
        return cls(**settings)

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``text_normalizer.json`` into ``folder`` (atomically); returns its path."""
        from wav2vec_hf.json_files import write_json

        path = Path(folder) / NORMALIZER_FILE
        write_json(path, self.to_dict())
        return path

    @classmethod
    def from_folder(cls, folder: str | os.PathLike) -> TextNormalizer | None:
        """The normaliser saved in a model folder, or ``None`` when it has none (e.g. a converted model)."""
        import json

        path = Path(folder) / NORMALIZER_FILE
        if not path.is_file():
            return None
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError, TypeError, ValueError) as error:
            raise ValueError(
                f"{path}: not a text normaliser file ({error}); delete it to score with the rules the "
                "vocabulary implies, or save one with TextNormalizer(...).save(folder)"
            ) from error


PROJECT_NORMALIZER = TextNormalizer(case="upper", characters=TRANSCRIPT_ALPHABET)
"""The project's transcript convention (built-in corpus, ``shared/data/real``, fairseq's LibriSpeech
recipes): UPPERCASE ``A``-``Z`` and apostrophe."""


def normalize_transcript(text: str) -> str:
    """``text`` in the project's convention (``PROJECT_NORMALIZER``).

    Raises ValueError when no letter is left, because an empty transcript would silently make a
    useless CTC target.
    """
    normalized = PROJECT_NORMALIZER(text)
    if not normalized:
        raise ValueError(f"transcript {text!r} has no letters A-Z left after normalisation")
    return normalized


__all__ = [
    "NORMALIZER_FILE",
    "PROJECT_NORMALIZER",
    "TRANSCRIPT_ALPHABET",
    "TextNormalizer",
    "normalize_transcript",
    "word_characters",
]
