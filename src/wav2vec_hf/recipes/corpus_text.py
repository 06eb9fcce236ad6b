"""Text for the built-in speech corpus: fairseq letter lines and a small seeded sentence grammar.

Transcripts follow the convention of ``shared/data/real/manifest.tsv`` and of fairseq's LibriSpeech
recipes (``data.normalization.normalize_transcript``): UPPERCASE ``A``-``Z``, apostrophe, words
separated by single spaces. ``letters_line`` turns a
transcript into fairseq's ``.ltr`` form (``"HELLO WORLD"`` -> ``"H E L L O | W O R L D |"``).

The grammar draws from word lists shipped in ``wav2vec_hf/recipes/texts/*.txt`` (written for this
project, public domain). Its vocabulary is closed and small (about 300 words) and words repeat a lot,
so that toy acoustic models and n-gram LMs can learn it from minutes of audio.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources

from wav2vec_hf.data.normalization import normalize_transcript

WORD_BOUNDARY = "|"
"""fairseq's word-boundary symbol in ``.ltr`` files."""


def letters_line(transcript: str) -> str:
    """fairseq ``.ltr`` line of a normalised transcript: letters separated by spaces, ``|`` after each word.

    >>> letters_line("HELLO WORLD")
    'H E L L O | W O R L D |'
    """
    if transcript != normalize_transcript(transcript):
        raise ValueError(f"transcript {transcript!r} is not normalised; call normalize_transcript first")
    return " ".join(" ".join(word) + " " + WORD_BOUNDARY for word in transcript.split(" "))


# ----------------------------------------------------------------------------------------------------
# Word lists
# ----------------------------------------------------------------------------------------------------

_DETERMINERS = ("the", "the", "the", "a", "this", "that", "my", "his", "her", "our", "their")
_NUMBERS = ("two", "three", "four", "five", "six", "ten")
_PREPOSITIONS = ("in", "near", "behind", "beside", "by", "at", "on")
_CONJUNCTIONS = ("and", "but", "because", "while", "so", "and then")
_TIMES = (
    "on monday",
    "on tuesday",
    "on wednesday",
    "on thursday",
    "on friday",
    "on saturday",
    "on sunday",
    "in the morning",
    "in the evening",
    "at night",
    "after lunch",
    "before dinner",
)
_OTHER_FUNCTION_WORDS = ("an", "was", "were", "very", "there", "some")


def _read_word_list(name: str) -> tuple[str, ...]:
    """Entries of ``texts/<name>.txt`` (comments and blank lines skipped), checked to be lowercase a-z."""
    text = resources.files("wav2vec_hf.recipes").joinpath("texts", f"{name}.txt").read_text(encoding="utf-8")
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not re.fullmatch(r"[a-z]+( [a-z]+)?", line):
            raise ValueError(f"texts/{name}.txt line {number}: {raw!r} is not one or two lowercase words")
        entries.append(line)
    if not entries:
        raise ValueError(f"texts/{name}.txt holds no words")
    return tuple(entries)


def _read_pairs(name: str) -> tuple[tuple[str, str], ...]:
    """``singular plural`` pairs of ``texts/<name>.txt``."""
    pairs = []
    for entry in _read_word_list(name):
        parts = entry.split(" ")
        if len(parts) != 2:
            raise ValueError(f"texts/{name}.txt: {entry!r} must be 'singular plural'")
        pairs.append((parts[0], parts[1]))
    return tuple(pairs)


@dataclass(frozen=True)
class Lexicon:
    """The word lists the sentence grammar draws from (all lowercase)."""

    names: tuple[str, ...]
    people: tuple[tuple[str, str], ...]  # (singular, plural)
    things: tuple[tuple[str, str], ...]  # (singular, plural)
    places: tuple[str, ...]
    adjectives: tuple[str, ...]
    verbs_transitive: tuple[str, ...]
    verbs_social: tuple[str, ...]
    verbs_intransitive: tuple[str, ...]
    adverbs: tuple[str, ...]

    def vocabulary(self) -> frozenset[str]:
        """Every word (UPPERCASE, as in transcripts) that ``generate_sentence`` can produce."""
        words: set[str] = set()
        for group in (
            self.names,
            self.places,
            self.adjectives,
            self.verbs_transitive,
            self.verbs_social,
            self.verbs_intransitive,
            self.adverbs,
            _DETERMINERS,
            _NUMBERS,
            _PREPOSITIONS,
            _CONJUNCTIONS,
            _TIMES,
            _OTHER_FUNCTION_WORDS,
        ):
            for entry in group:
                words.update(entry.split(" "))
        for singular, plural in self.people + self.things:
            words.update((singular, plural))
        return frozenset(word.upper() for word in words)


@functools.cache
def load_lexicon() -> Lexicon:
    """The shipped word lists (read once per process)."""
    return Lexicon(
        names=_read_word_list("names"),
        people=_read_pairs("people"),
        things=_read_pairs("nouns"),
        places=_read_word_list("places"),
        adjectives=_read_word_list("adjectives"),
        verbs_transitive=_read_word_list("verbs_transitive"),
        verbs_social=_read_word_list("verbs_social"),
        verbs_intransitive=_read_word_list("verbs_intransitive"),
        adverbs=_read_word_list("adverbs"),
    )


# ----------------------------------------------------------------------------------------------------
# Grammar
# ----------------------------------------------------------------------------------------------------


def _with_article(determiner: str, next_word: str) -> str:
    """``a`` becomes ``an`` before a vowel letter (true for every word in the shipped lists)."""
    if determiner == "a" and next_word[0] in "aeiou":
        return "an"
    return determiner


class _Grammar:
    """A few clause templates over the lexicon; one instance per random stream."""

    def __init__(self, lexicon: Lexicon, rng: random.Random):
        self.lexicon = lexicon
        self.rng = rng

    def _maybe(self, probability: float) -> bool:
        return self.rng.random() < probability

    def _noun_phrase(self, pairs: tuple[tuple[str, str], ...]) -> tuple[str, bool]:
        """(phrase, is_plural): ``the old dog``, ``an apple``, ``three red boxes``."""
        singular, plural = self.rng.choice(pairs)
        adjective = self.rng.choice(self.lexicon.adjectives) if self._maybe(0.5) else ""
        if self._maybe(0.2):
            count = self.rng.choice(_NUMBERS)
            return " ".join(w for w in (count, adjective, plural) if w), True
        noun_first = adjective or singular
        determiner = _with_article(self.rng.choice(_DETERMINERS), noun_first)
        return " ".join(w for w in (determiner, adjective, singular) if w), False

    def _person(self) -> tuple[str, bool]:
        if self._maybe(0.45):
            return self.rng.choice(self.lexicon.names), False
        return self._noun_phrase(self.lexicon.people)

    def _subject(self) -> tuple[str, bool]:
        if self._maybe(0.6):
            return self._person()
        return self._noun_phrase(self.lexicon.things)

    def _place_phrase(self) -> str:
        place = self.rng.choice(self.lexicon.places)
        if self._maybe(0.3):
            place = f"{self.rng.choice(self.lexicon.adjectives)} {place}"
        return f"{self.rng.choice(_PREPOSITIONS)} the {place}"

    def _tail(self) -> str:
        """Optional place, time or adverb after a clause."""
        parts = []
        if self._maybe(0.45):
            parts.append(self._place_phrase())
        roll = self.rng.random()
        if roll < 0.2:
            parts.append(self.rng.choice(_TIMES))
        elif roll < 0.4:
            parts.append(self.rng.choice(self.lexicon.adverbs))
        return " ".join(parts)

    def clause(self) -> str:
        kind = self.rng.random()
        if kind < 0.3:
            subject, _ = self._subject()
            verb = self.rng.choice(self.lexicon.verbs_transitive)
            words = [subject, verb, self._noun_phrase(self.lexicon.things)[0], self._tail()]
        elif kind < 0.45:
            subject, _ = self._person()
            verb = self.rng.choice(self.lexicon.verbs_social)
            words = [subject, verb, self._person()[0], self._tail()]
        elif kind < 0.7:
            subject, _ = self._subject()
            words = [subject, self.rng.choice(self.lexicon.verbs_intransitive), self._tail()]
        elif kind < 0.88:
            subject, plural = self._subject()
            very = "very" if self._maybe(0.3) else ""
            adjective = self.rng.choice(self.lexicon.adjectives)
            tail = self._place_phrase() if self._maybe(0.4) else ""
            words = [subject, "were" if plural else "was", very, adjective, tail]
        else:
            # "there was a red box near the lake" / "there were some boxes ...": indefinite only.
            singular, plural_noun = self.rng.choice(self.lexicon.things)
            adjective = self.rng.choice(self.lexicon.adjectives) if self._maybe(0.5) else ""
            if self._maybe(0.35):
                count = self.rng.choice((*_NUMBERS, "some"))
                words = ["there were", count, adjective, plural_noun]
            else:
                words = ["there was", _with_article("a", adjective or singular), adjective, singular]
            words.append(self._place_phrase())
        return " ".join(w for w in words if w)

    def sentence(self, min_words: int, max_words: int) -> str:
        """Lowercase sentence of ``min_words`` to ``max_words`` words (retries until one fits)."""
        for _ in range(1000):
            text = self.clause()
            while len(text.split(" ")) < min_words:
                text = f"{text} {self.rng.choice(_CONJUNCTIONS)} {self.clause()}"
            if len(text.split(" ")) <= max_words:
                return text
        raise RuntimeError(f"grammar found no sentence of {min_words}-{max_words} words in 1000 tries")


MIN_WORDS = 7
MAX_WORDS = 16
"""Sentence length bounds; at eSpeak's 150-190 words a minute these give about 2-6 s of speech."""


def sentence_stream(
    seed: int,
    stream: str,
    exclude: Iterable[str] = (),
    min_words: int = MIN_WORDS,
    max_words: int = MAX_WORDS,
    lexicon: Lexicon | None = None,
) -> Iterator[str]:
    """Endless deterministic stream of distinct normalised sentences (UPPERCASE transcripts).

    ``(seed, stream)`` names the stream: the same pair always yields the same sentences in the same
    order, different names give independent streams. Sentences in ``exclude`` (normalised) and repeats
    of earlier sentences of the stream are skipped, so a consumer can keep evaluation sentences out.
    """
    grammar = _Grammar(lexicon or load_lexicon(), random.Random(f"wav2vec-hf corpus text:{seed}:{stream}"))
    seen = set(exclude)
    misses = 0
    while True:
        sentence = normalize_transcript(grammar.sentence(min_words, max_words))
        if sentence in seen:
            misses += 1
            if misses > 100_000:
                raise RuntimeError(f"sentence stream {stream!r} ran out of new sentences")
            continue
        misses = 0
        seen.add(sentence)
        yield sentence
