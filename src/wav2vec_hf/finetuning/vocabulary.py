"""The letter vocabulary of a CTC model: text normalisation, vocabulary building, unknown characters.

A CTC vocabulary here is the convention of fairseq's letter targets and of transformers'
``Wav2Vec2CTCTokenizer``::

    id 0  "<pad>"  the CTC blank (the tokenizer's pad token, ``config.pad_token_id``)
    id 1  "<unk>"  any character not in the vocabulary
    id 2  "|"      the word delimiter (a space in the text)
    id 3+ every character of the (normalised) training transcripts, sorted

``TextNormalizer`` (``data.normalization``, the package's one normaliser) decides what the model is
asked to write: case folding and punctuation removal (apostrophes inside words are kept, as in
LibriSpeech). The same normaliser must be applied to
training labels, evaluation references and anything compared with the model's output, so it is
saved beside the model (``text_normalizer.json``) and read back by evaluation and ``transcribe``.

Characters of evaluation data that the vocabulary lacks cannot be predicted; they are counted in an
``UnknownCharacterReport`` (never dropped silently) and count as errors in WER / CER.
"""

from __future__ import annotations

import json
import os
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from wav2vec_hf.data.normalization import NORMALIZER_FILE, WORD_DELIMITER, TextNormalizer

BLANK_TOKEN = "<pad>"
UNKNOWN_TOKEN = "<unk>"
SPECIAL_TOKENS = (BLANK_TOKEN, UNKNOWN_TOKEN, WORD_DELIMITER)


@dataclass
class UnknownCharacterReport:
    """Characters of a data set that the vocabulary cannot write.

    Attributes:
        source: what was checked (a manifest path).
        utterances: utterances looked at.
        affected: utterances holding at least one unknown character.
        counts: character -> occurrences.
        examples: character -> up to ``max_examples`` utterance ids that hold it.
        consequence: what happens to these characters where the report is made (training and
            ``Trainer`` evaluation: they count as errors; ``wav2vec-hf evaluate``: the scored
            references lose them).
    """

    source: str = ""
    utterances: int = 0
    affected: int = 0
    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    max_examples: int = 3
    consequence: str = "they cannot be predicted and count as errors"

    @property
    def total(self) -> int:
        """Unknown character occurrences over the whole set."""
        return sum(self.counts.values())

    def summary(self) -> str:
        """One line per unknown character, most frequent first."""
        if not self.counts:
            return f"{self.source or 'data'}: every character of {self.utterances} transcripts is in the vocabulary"
        lines = [
            f"{self.source or 'data'}: {self.affected} of {self.utterances} transcripts hold {self.total} "
            f"characters outside the vocabulary ({self.consequence}):"
        ]
        for character, count in self.counts.most_common():
            name = unicodedata.name(character, "unnamed")
            shown = ", ".join(self.examples.get(character, []))
            lines.append(f"  {character!r} ({name}): {count} times, e.g. in {shown}")
        lines.append(
            "  fix: normalise the text (case, punctuation, digits spelled out), or train on transcripts "
            "that contain these characters"
        )
        return "\n".join(lines)

    __str__ = summary

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "source": self.source,
            "utterances": self.utterances,
            "affected": self.affected,
            "counts": dict(self.counts),
            "examples": self.examples,
        }


@dataclass
class Vocabulary:
    """Token list of a letter CTC model (index = token id) and the normaliser its text went through.

    Build one with ``Vocabulary.from_transcripts``; ``tokenizer()`` / ``processor()`` turn it into
    stock transformers objects.
    """

    tokens: list[str]
    normalizer: TextNormalizer = field(default_factory=TextNormalizer)

    def __post_init__(self) -> None:
        if tuple(self.tokens[:3]) != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary starts with {SPECIAL_TOKENS}, got {self.tokens[:3]}.")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("a vocabulary holds every token once.")
        self._ids = {token: index for index, token in enumerate(self.tokens)}

    @classmethod
    def from_transcripts(
        cls, transcripts: Iterable[str], normalizer: TextNormalizer | None = None, source: str = "transcripts"
    ) -> Vocabulary:
        """Every character of the normalised ``transcripts`` (raw text; normalised here), sorted.

        Raises:
            ValueError: no characters at all, or a transcript holds ``"|"`` (the word delimiter).
        """
        normalizer = normalizer or TextNormalizer()
        characters: Counter = Counter()
        for text in transcripts:
            characters.update(normalizer(text).replace(" ", ""))
        if WORD_DELIMITER in characters:
            raise ValueError(
                f"{source}: the transcripts contain {WORD_DELIMITER!r}, the CTC word delimiter (a symbol, which "
                "remove_punctuation keeps); replace it in the text before training."
            )
        if not characters:
            raise ValueError(f"{source}: no characters in the transcripts; is the data labelled?")
        return cls([*SPECIAL_TOKENS, *sorted(characters)], normalizer)

    @classmethod
    def from_json(cls, path: str | os.PathLike, normalizer: TextNormalizer | None = None) -> Vocabulary:
        """A vocabulary from a ``vocab.json`` (token -> id) written by ``save`` or a tokenizer."""
        mapping = json.loads(Path(path).read_text(encoding="utf-8"))
        tokens = [token for token, _ in sorted(mapping.items(), key=lambda item: item[1])]
        if [mapping[token] for token in tokens] != list(range(len(tokens))):
            raise ValueError(f"{path}: token ids must be 0..N-1 without gaps.")
        return cls(tokens, normalizer or TextNormalizer())

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def blank_id(self) -> int:
        """Id of the CTC blank (= pad)."""
        return self._ids[BLANK_TOKEN]

    @property
    def unknown_id(self) -> int:
        """Id of ``<unk>``."""
        return self._ids[UNKNOWN_TOKEN]

    @property
    def characters(self) -> frozenset[str]:
        """The characters the model can write (the space included)."""
        return frozenset(token for token in self.tokens if len(token) == 1 and token != WORD_DELIMITER) | {
            " "
        }

    @property
    def word_delimiter_id(self) -> int:
        """Id of the word delimiter ``|``."""
        return self._ids[WORD_DELIMITER]

    def encode(self, normalized_text: str, *, trailing_delimiter: bool = False) -> list[int]:
        """Token ids of already-normalised text; spaces become ``|``, unknown characters ``<unk>``.

        ``trailing_delimiter``: end with ``|`` as fairseq's ``.ltr`` targets do (``"A B"`` -> ``A | B |``).
        """
        ids = [
            self.word_delimiter_id if c == " " else self._ids.get(c, self.unknown_id) for c in normalized_text
        ]
        if trailing_delimiter:
            ids.append(self.word_delimiter_id)
        return ids

    def unknown_characters(self, normalized_text: str) -> list[str]:
        """Characters of ``normalized_text`` that the vocabulary lacks, in text order."""
        allowed = self.characters
        return [c for c in normalized_text if c not in allowed]

    def check(self, items: Iterable[tuple[str, str]], source: str = "") -> UnknownCharacterReport:
        """Count unknown characters in ``(utterance id, normalised transcript)`` pairs."""
        return count_unknown_characters(items, self.characters, source=source)

    def to_json(self) -> dict[str, int]:
        """``vocab.json`` content: token -> id."""
        return dict(self._ids)

    def tokenizer(self):
        """A stock ``Wav2Vec2CTCTokenizer`` for this vocabulary (no case folding: the normaliser does it)."""
        from transformers import Wav2Vec2CTCTokenizer

        with tempfile.TemporaryDirectory() as folder:
            vocab_file = Path(folder) / "vocab.json"
            vocab_file.write_text(json.dumps(self.to_json(), ensure_ascii=False), encoding="utf-8")
            return Wav2Vec2CTCTokenizer(
                str(vocab_file),
                unk_token=UNKNOWN_TOKEN,
                pad_token=BLANK_TOKEN,
                word_delimiter_token=WORD_DELIMITER,
                bos_token=None,
                eos_token=None,
                do_lower_case=False,
            )

    def processor(self, feature_extractor):
        """A stock ``Wav2Vec2Processor``: ``feature_extractor`` + this vocabulary's tokenizer."""
        from transformers import Wav2Vec2Processor

        return Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=self.tokenizer())


def count_unknown_characters(
    items: Iterable[tuple[str, str]], characters: Iterable[str], *, source: str = "", **report_fields
) -> UnknownCharacterReport:
    """Count the characters of ``(utterance id, normalised transcript)`` pairs outside ``characters``.

    The check of ``Vocabulary.check``, for any character set (e.g. a converted model's tokenizer,
    in ``wav2vec-hf evaluate``); the space is always allowed. ``report_fields`` go to the report
    (``consequence``).
    """
    allowed = frozenset(characters) | {" "}
    report = UnknownCharacterReport(source=source, **report_fields)
    for utterance_id, text in items:
        report.utterances += 1
        unknown = [c for c in text if c not in allowed]
        if unknown:
            report.affected += 1
            report.counts.update(unknown)
            for character in dict.fromkeys(unknown):
                shown = report.examples.setdefault(character, [])
                if len(shown) < report.max_examples:
                    shown.append(utterance_id)
    return report


__all__ = [
    "BLANK_TOKEN",
    "NORMALIZER_FILE",
    "UNKNOWN_TOKEN",
    "WORD_DELIMITER",
    "TextNormalizer",
    "UnknownCharacterReport",
    "Vocabulary",
    "count_unknown_characters",
]
