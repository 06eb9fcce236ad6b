"""The compiled one-utterance beam search, and when the decoder uses it.

``_search_core.c`` is ``decoder._BatchSearch`` for a single utterance in C: the same events (token
pruning, blank folding, merged runs), prefix trie, bounds, pruning and word-level LM fusion, so both
return the same hypotheses (tested against each other and against brute force). The numpy search pays
~130 us of Python per event whatever the beam, which only a batch searched in lockstep amortises; the
compiled one costs a few microseconds per event, so it serves one utterance at a time (the pipeline,
``decode``) and batches alike.

The LM is not linked into the extension: a word score missing from the core's cache is asked of
``decoder._WordScoreTable`` (KenLM) once per (LM context, word) pair for the life of the decoder.

Hotwords and word frame offsets are the numpy search's only: a call that asks for either runs there.
The extension is built when the package is installed with a C compiler (``pip install`` does it;
``optional`` in pyproject, so an install without a compiler still works, with the numpy search);
``WAV2VEC_HF_DECODER=numpy`` forces the numpy search.
"""

from __future__ import annotations

import os

import numpy as np

from wav2vec_hf.decoding.language_model import FusionWeights

try:  # built by `pip install` where a C compiler is available
    from wav2vec_hf.decoding._search_core import SearchCore
except ImportError:  # pragma: no cover - depends on the install
    SearchCore = None


ENGINES = ("auto", "compiled", "numpy")


def compiled_available() -> bool:
    """Whether the compiled search was built with this install."""
    return SearchCore is not None


def choose_engine(engine: str | None = None) -> str:
    """``"compiled"`` or ``"numpy"``: ``engine`` if given (``"auto"``: compiled when built), else
    ``$WAV2VEC_HF_DECODER`` (same values), else auto.

    Raises:
        ValueError: an unknown engine, or ``"compiled"`` where the extension was not built.
    """
    engine = engine or os.environ.get("WAV2VEC_HF_DECODER", "auto") or "auto"
    if engine not in ENGINES:
        raise ValueError(
            f"decoder engine {engine!r}: choose one of {list(ENGINES)} (or unset WAV2VEC_HF_DECODER)"
        )
    if engine == "compiled" and not compiled_available():
        raise ValueError(
            "the compiled decoder (wav2vec_hf.decoding._search_core) was not built with this install: "
            "reinstall the package where a C compiler is available (`pip install -e .`), or use engine='numpy'"
        )
    if engine == "auto":
        return "compiled" if compiled_available() else "numpy"
    return engine


class CompiledSearch:
    """One decoder's compiled search: its alphabet, lexicon trie and word-score cache.

    Args:
        vocab_size, blank, delimiter: the alphabet (logit columns, blank and word-delimiter ids).
        never_emitted: (k,) int64 ids of tokens never emitted (special tokens).
        lexicon: the ``TokenTrie`` of the LM's words, or ``None`` without an LM.
        word_scores: the decoder's ``_WordScoreTable`` (``None`` without an LM).
        logits_error: what a frame without a finite maximum (NaN, +-inf) raises (the decoder's
            ``DecodingError``).
        dense_trie_limit: the lexicon trie is stepped through a dense (trie nodes, vocabulary) child
            table when it has at most this many entries (default 4M: 16 MB), else by binary search.
    """

    def __init__(
        self,
        vocab_size: int,
        blank: int,
        delimiter: int,
        never_emitted,
        lexicon,
        word_scores,
        logits_error: type[Exception] = ValueError,
        dense_trie_limit: int | None = None,
    ):
        if lexicon is not None:
            keys, children, word_of, n_words = lexicon._keys, lexicon._children, lexicon.word_of, len(lexicon)
        else:
            keys = children = word_of = np.zeros(0, dtype=np.int64)
            n_words = 0
        self.has_lm = word_scores is not None
        self.core = SearchCore(
            int(vocab_size),
            int(blank),
            int(delimiter),
            np.ascontiguousarray(never_emitted, dtype=np.int64).tobytes(),
            np.ascontiguousarray(keys, dtype=np.int64).tobytes(),
            np.ascontiguousarray(children, dtype=np.int64).tobytes(),
            np.ascontiguousarray(word_of, dtype=np.int64).tobytes(),
            int(n_words),
            int(lexicon is not None),
            word_scores._score if word_scores is not None else None,
            logits_error,
            *(() if dense_trie_limit is None else (int(dense_trie_limit),)),
        )

    def set_lookahead(self, lookahead_log10: np.ndarray) -> None:
        """Give the search the lexicon mode's LM look-ahead: (trie nodes,) log10 values."""
        self.core.set_lookahead(np.ascontiguousarray(lookahead_log10, dtype=np.float64).tobytes())

    def search(self, logits: np.ndarray, options, weights: FusionWeights, start_context: int) -> list[tuple]:
        """The ``options.n_best`` best ``(tokens, acoustic, lm_score, total, lm_log10)`` of one utterance,
        best first. ``logits``: (frames, vocabulary) float32 or float64 logits or log-probabilities."""
        is_double = logits.dtype == np.float64
        array = np.ascontiguousarray(logits, dtype=np.float64 if is_double else np.float32)
        settings = (
            options.beam_width,
            float(options.beam_prune_logp),
            float(options.token_min_logp),
            int(options.max_tokens_per_frame or 0),
            weights.alpha,
            weights.beta,
            weights.unk_score_offset,
            int(weights.score_boundary),
            int(options.lexicon),
            int(options.lexicon and weights.unk_score_offset == -np.inf),
            int(options.prunes_history()),
            options.n_best,
            int(start_context),
            int(self.has_lm),
        )
        return self.core.search(array, array.shape[0], int(is_double), settings)
