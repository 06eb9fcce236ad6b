"""A KenLM n-gram model with the fusion weights, in the Hub's ``language_model/`` layout.

The folder layout is the one pyctcdecode (and transformers' deprecated ``Wav2Vec2ProcessorWithLM``)
reads and writes, so a folder saved here works there and the other way round::

    language_model/
      <name>.arpa | <name>.bin | <name>.binary   the n-gram model (KenLM reads all three)
      unigrams.txt                               the LM's words, one a line
      attrs.json                                 {"alpha", "beta", "unk_score_offset", "score_boundary"}

No other (non-hidden) file may be in that folder: pyctcdecode refuses it.

Scores have pyctcdecode's meaning, so tuned values carry over between the two decoders: a completed
word ``w`` after the LM state ``h`` adds ``alpha * ln(10) * (log10 p(w | h) + [w unknown] *
unk_score_offset) + beta`` to a hypothesis' natural-log score; a partial word that starts no known
word costs ``unk_score_offset`` (times ``len / 6`` beyond 6 characters); with ``score_boundary`` the
LM starts from ``<s>`` and the last word also pays ``log10 p(</s> | ...)``.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from wav2vec_hf.errors import Wav2VecHFError
from wav2vec_hf.extras import require_extra
from wav2vec_hf.json_files import write_json

LANGUAGE_MODEL_FOLDER = "language_model"
ATTRS_FILE = "attrs.json"
UNIGRAMS_FILE = "unigrams.txt"
LM_SUFFIXES = (".arpa", ".bin", ".binary")
ATTR_NAMES = ("alpha", "beta", "unk_score_offset", "score_boundary")

DEFAULT_ALPHA = 0.5
DEFAULT_BETA = 1.5
DEFAULT_UNK_SCORE_OFFSET = -10.0
DEFAULT_SCORE_BOUNDARY = True
"""The defaults of pyctcdecode 0.5, so that an untuned folder decodes the same in both."""

LN10 = math.log(10.0)


class LanguageModelError(Wav2VecHFError, ValueError):
    """A ``language_model/`` folder or LM file that cannot be used (the message says how to fix it)."""


@dataclass
class FusionWeights:
    """How the LM is fused into the CTC beam search (the contents of ``attrs.json``)."""

    alpha: float = DEFAULT_ALPHA
    beta: float = DEFAULT_BETA
    unk_score_offset: float = DEFAULT_UNK_SCORE_OFFSET
    score_boundary: bool = DEFAULT_SCORE_BOUNDARY

    def to_json(self) -> dict:
        return {
            "alpha": float(self.alpha),
            "beta": float(self.beta),
            "unk_score_offset": float(self.unk_score_offset),
            "score_boundary": bool(self.score_boundary),
        }

    @classmethod
    def from_json(cls, data: dict, source: str) -> FusionWeights:
        if not isinstance(data, dict) or set(data) != set(ATTR_NAMES):
            found = sorted(data) if isinstance(data, dict) else type(data).__name__
            missing = [name for name in ATTR_NAMES if isinstance(data, dict) and name not in data]
            extra = sorted(set(data) - set(ATTR_NAMES)) if isinstance(data, dict) else []
            raise LanguageModelError(
                f"{source}: expected exactly the keys {list(ATTR_NAMES)}, found {found}"
                + (f" (missing {missing})" if missing else "")
                + (f" (unknown {extra})" if extra else "")
                + "; rewrite it with `wav2vec-hf tune-lm` (or write the four keys by hand; pyctcdecode's "
                f"defaults are {FusionWeights().to_json()})"
            )
        for name in ("alpha", "beta", "unk_score_offset"):
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise LanguageModelError(f"{source}: {name}={value!r} must be a finite number")
        if not isinstance(data["score_boundary"], bool):
            raise LanguageModelError(
                f"{source}: score_boundary={data['score_boundary']!r} must be true/false"
            )
        return cls(
            float(data["alpha"]),
            float(data["beta"]),
            float(data["unk_score_offset"]),
            bool(data["score_boundary"]),
        )


def find_lm_file(folder: Path) -> Path:
    """The one KenLM file of a ``language_model/`` folder, with a clear error when it is not one."""
    if not folder.is_dir():
        raise LanguageModelError(
            f"{folder}: no language model folder here (expected {LANGUAGE_MODEL_FOLDER}/)"
        )
    contents = sorted(p.name for p in folder.iterdir() if not p.name.startswith((".", "__")))
    candidates = [name for name in contents if Path(name).suffix in LM_SUFFIXES]
    missing = [name for name in (ATTRS_FILE, UNIGRAMS_FILE) if name not in contents]
    if not candidates:
        raise LanguageModelError(
            f"{folder}: no n-gram file (*.arpa, *.bin or *.binary) among {contents}; build one with "
            "`wav2vec-hf build-lm` and attach it"
        )
    if len(candidates) > 1 or missing or len(contents) != 3:
        raise LanguageModelError(
            f"{folder}: expected exactly one LM file, {ATTRS_FILE} and {UNIGRAMS_FILE}, found {contents}"
            + (f" (missing {missing})" if missing else "")
            + "; pyctcdecode refuses any other file in this folder"
        )
    return folder / candidates[0]


def read_lm_folder(folder: str | os.PathLike[str]) -> tuple[Path, FusionWeights, list[str]]:
    """(LM file, fusion weights, unigrams) of a ``language_model/`` folder, every file but the n-gram
    model itself checked (cheap: KenLM does not read the model here).

    Raises:
        LanguageModelError: a missing or extra file, a bad ``attrs.json``, an empty ``unigrams.txt``.
    """
    folder = Path(folder)
    lm_file = find_lm_file(folder)
    attrs_path = folder / ATTRS_FILE
    try:
        attrs = json.loads(attrs_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise LanguageModelError(
            f"{attrs_path}: not valid JSON ({error}); rewrite it with `wav2vec-hf tune-lm`"
        ) from error
    weights = FusionWeights.from_json(attrs, str(attrs_path))
    unigrams = read_unigrams(folder / UNIGRAMS_FILE)
    if not unigrams:
        raise LanguageModelError(
            f"{folder / UNIGRAMS_FILE} is empty: the decoder needs the LM's words (rebuild with "
            "`wav2vec-hf build-lm`, which writes them)"
        )
    return lm_file, weights, unigrams


def kenlm_read_error(path: Path, error: BaseException) -> LanguageModelError:
    """The ``LanguageModelError`` for KenLM failing to read ``path`` with ``error``."""
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    return LanguageModelError(
        f"{path}: KenLM cannot read this LM file ({first_line[:300]}); rebuild it with "
        "`wav2vec-hf build-lm` or replace it with a valid ARPA / KenLM binary file"
    )


KENLM_READ_ERRORS = (OSError, RuntimeError, UnicodeDecodeError)
"""What KenLM raises on a bad file: OSError for a malformed ARPA, RuntimeError for a bad binary
header, UnicodeDecodeError when random bytes reach its message decoding."""


def load_kenlm(path: str | os.PathLike[str]):
    """``kenlm.Model(path)`` with an error that names the file when KenLM cannot read it.

    Raises:
        MissingExtraError: KenLM (the ``lm`` extra) is not installed.
        LanguageModelError: the file is missing or KenLM cannot read it.
    """
    kenlm = require_extra("kenlm", "lm", "decoding with an n-gram LM")
    path = Path(path)
    if not path.is_file():
        raise LanguageModelError(f"{path}: LM file not found")
    try:
        return kenlm.Model(str(path))
    except KENLM_READ_ERRORS as error:
        raise kenlm_read_error(path, error) from error


def read_unigrams(path: Path) -> list[str]:
    """The words of ``unigrams.txt`` (blank lines skipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise LanguageModelError(
            f"{path}: not UTF-8 text ({error}); rebuild it with `wav2vec-hf build-lm`, which writes it"
        ) from error
    return [line.strip() for line in text.splitlines() if line.strip()]


class NgramLanguageModel:
    """KenLM model + known words + fusion weights; scores words for the beam search.

    Word scores are cached per (LM context, word): the same context and word are looked up in KenLM
    once per process, across utterances. Contexts are small integers (``start_context``,
    ``score_word``'s result), so the decoder never touches ``kenlm.State`` objects itself.

    Attributes:
        kenlm_model: the loaded ``kenlm.Model``.
        path: the LM file.
        unigrams: the known words, sorted.
        weights: the fusion weights.
    """

    def __init__(self, kenlm_model, unigrams: Iterable[str], weights: FusionWeights | None = None, path=None):
        self.kenlm_model = kenlm_model
        self.path = Path(path) if path is not None else Path(kenlm_model.path.decode("utf-8"))
        self.weights = weights or FusionWeights()
        # Only words KenLM knows count as known (like pyctcdecode), so unigrams.txt cannot smuggle in
        # words the n-gram model would score as <unk>.
        self.unigrams = sorted({w for w in unigrams if w and w in kenlm_model})
        self._unigram_set = frozenset(self.unigrams)
        self._states: list = []
        self._state_ids: dict = {}
        self._word_cache: dict[tuple[int, str], tuple[float, int]] = {}
        self._end_cache: dict[int, float] = {}
        self._prefix_cache: dict[str, bool] = {}

    # ---------------------------------------------------------------- loading and saving

    @classmethod
    def from_file(
        cls, lm_path: str | os.PathLike[str], unigrams: Iterable[str] | None = None, weights=None
    ) -> NgramLanguageModel:
        """An LM file (ARPA or KenLM binary); ``unigrams`` default to those of the ARPA file."""
        model = load_kenlm(lm_path)
        if unigrams is None:
            unigrams = arpa_unigrams(lm_path)
        lm = cls(model, unigrams, weights, path=lm_path)
        if not lm.unigrams:
            raise LanguageModelError(
                f"{lm_path}: no word of its unigram list ({UNIGRAMS_FILE} beside it, else its ARPA "
                "1-grams) is in this LM, so the decoder could spell nothing; rebuild both with "
                "`wav2vec-hf build-lm`"
            )
        return lm

    @classmethod
    def load_from_dir(cls, folder: str | os.PathLike[str]) -> NgramLanguageModel:
        """Load a ``language_model/`` folder (layout in the module docstring).

        Raises:
            LanguageModelError: any bad file of the folder, named, with the fix.
        """
        folder = Path(folder)
        lm_file, weights, unigrams = read_lm_folder(folder)
        model = load_kenlm(lm_file)
        lm = cls(model, unigrams, weights, path=lm_file)
        if not lm.unigrams:
            raise LanguageModelError(
                f"{folder / UNIGRAMS_FILE}: none of its words is in {lm_file.name}; the two files do not belong together"
            )
        return lm

    def save_to_dir(self, folder: str | os.PathLike[str]) -> Path:
        """Write the ``language_model/`` layout into ``folder`` (replaced if present, even when this LM
        was loaded from it: the new folder is complete before the old one goes)."""
        folder = Path(folder)
        staging = folder.with_name(f".{folder.name}.partial-{os.getpid()}")
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        target = staging / self.path.name
        try:
            os.link(self.path, target)  # the LM may be gigabytes: link when the filesystem allows
        except OSError:
            shutil.copy2(self.path, target)
        write_attrs(staging, self.weights)
        (staging / UNIGRAMS_FILE).write_text("".join(w + "\n" for w in self.unigrams), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
        self.path = folder / target.name
        return folder

    # ---------------------------------------------------------------- scoring

    @property
    def order(self) -> int:
        return int(self.kenlm_model.order)

    def is_known(self, word: str) -> bool:
        return word in self._unigram_set

    def starts_known_word(self, partial: str) -> bool:
        """Whether some known word starts with ``partial`` (binary search in the sorted unigrams)."""
        cached = self._prefix_cache.get(partial)
        if cached is None:
            i = bisect.bisect_left(self.unigrams, partial)
            cached = i < len(self.unigrams) and self.unigrams[i].startswith(partial)
            if len(self._prefix_cache) > 1_000_000:
                self._prefix_cache.clear()
            self._prefix_cache[partial] = cached
        return cached

    def _context_id(self, state) -> int:
        found = self._state_ids.get(state)
        if found is None:
            found = len(self._states)
            self._states.append(state)
            self._state_ids[state] = found
        return found

    def start_context(self, score_boundary: bool) -> int:
        """The context a hypothesis starts from: ``<s>`` with ``score_boundary``, else no context."""
        import kenlm

        state = kenlm.State()
        if score_boundary:
            self.kenlm_model.BeginSentenceWrite(state)
        else:
            self.kenlm_model.NullContextWrite(state)
        return self._context_id(state)

    def score_word(self, context: int, word: str) -> tuple[float, int]:
        """(log10 p(word | context), the context after ``word``), looked up in KenLM once per process.

        Unknown words get KenLM's ``<unk>`` probability here; the unknown-word offset is the
        decoder's to add (it is a per-call setting).
        """
        key = (context, word)
        cached = self._word_cache.get(key)
        if cached is None:
            import kenlm

            out = kenlm.State()
            log10_p = self.kenlm_model.BaseScore(self._states[context], word, out)
            if len(self._word_cache) > 2_000_000:  # bound the memory of very long runs
                self._word_cache.clear()
            cached = (log10_p, self._context_id(out))
            self._word_cache[key] = cached
        return cached

    def end_score(self, context: int) -> float:
        """log10 p(</s> | context)."""
        cached = self._end_cache.get(context)
        if cached is None:
            import kenlm

            cached = self.kenlm_model.BaseScore(self._states[context], "</s>", kenlm.State())
            self._end_cache[context] = cached
        return cached

    def sentence_log10(self, words: list[str], score_boundary: bool = True) -> float:
        """log10 probability of a whole word sequence (with ``<s>``/``</s>`` when ``score_boundary``)."""
        return float(self.kenlm_model.score(" ".join(words), bos=score_boundary, eos=score_boundary))


def write_attrs(folder: Path, weights: FusionWeights) -> Path:
    """Write ``attrs.json`` (pyctcdecode's key set) into ``folder`` (atomically: temp file, rename).

    The temporary file is hidden, so pyctcdecode's "exactly three files" rule holds even mid-write.
    """
    return write_json(Path(folder) / ATTRS_FILE, weights.to_json(), indent=None)


def arpa_unigrams(path: str | os.PathLike[str]) -> list[str]:
    """The words of an ARPA file's ``\\1-grams:`` section (without ``<s>``, ``</s>``, ``<unk>``)."""
    path = Path(path)
    if path.suffix != ".arpa":
        raise LanguageModelError(
            f"{path}: a binary KenLM file carries no readable word list; pass the unigrams "
            "(unigrams.txt) explicitly"
        )
    try:
        return _read_arpa_unigrams(path)
    except UnicodeDecodeError as error:
        raise LanguageModelError(
            f"{path}: not UTF-8 text ({error}); rebuild it with `wav2vec-hf build-lm`"
        ) from error


def _read_arpa_unigrams(path: Path) -> list[str]:
    words = []
    with open(path, encoding="utf-8") as lines:
        inside = False
        for line in lines:
            line = line.strip()
            if line == "\\1-grams:":
                inside = True
                continue
            if inside:
                if not line:
                    continue
                if line.startswith("\\"):
                    break
                fields = line.split("\t") if "\t" in line else line.split()
                if len(fields) >= 2 and fields[1] not in ("<s>", "</s>", "<unk>"):
                    words.append(fields[1])
    return words
