"""The compiled one-utterance search (decoding/_search_core.c) is the numpy search: the same hypotheses
and scores on synthetic emissions and random logits, over the options that change the search (beam,
pruning, token threshold and cap, LM weights, boundary scoring, lexicon mode, n-best, no LM)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.decoding.support import LABELS, dev_sentences, emissions, lm_sentences, write_grammar_lm
from wav2vec_hf.decoding.compiled import choose_engine, compiled_available
from wav2vec_hf.decoding.decoder import CTCBeamSearchDecoder, DecodeOptions, DecodingError
from wav2vec_hf.decoding.language_model import FusionWeights, NgramLanguageModel

pytestmark = pytest.mark.skipif(
    not compiled_available(), reason="the compiled search was not built (no C compiler at install)"
)


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    path, unigrams = write_grammar_lm(tmp_path_factory.mktemp("lm"), order=3)
    return NgramLanguageModel.from_file(path, unigrams, FusionWeights(alpha=0.6, beta=1.0))


@pytest.fixture(scope="module")
def utterances():
    """Synthetic emissions of held-out sentences (confident and noisy) and random log-probabilities."""
    texts = dev_sentences(12, exclude=lm_sentences(4000))
    confident = emissions(texts[:6], seed=3)
    noisy = emissions(texts[6:], seed=4, noise=1.5, peak=8.0)
    rng = np.random.default_rng(5)
    random = []
    for frames in (1, 7, 40):
        logits = rng.normal(0, 2.0, (frames, len(LABELS)))
        random.append((logits - np.log(np.exp(logits).sum(1, keepdims=True))).astype(np.float32))
    return confident + noisy + random


def assert_same(expected, got, where):
    assert len(expected) == len(got), where
    for rank, (e, g) in enumerate(zip(expected, got, strict=True)):
        assert e.text == g.text, (where, rank)
        for name in ("acoustic_score", "lm_score", "total_score"):
            # float32 logits: the numpy search normalises frames in float32, this one in float64
            assert getattr(g, name) == pytest.approx(getattr(e, name), abs=1e-4), (where, rank, name)
        if e.lm_log10_probability is None:
            assert g.lm_log10_probability is None
        else:
            assert g.lm_log10_probability == pytest.approx(e.lm_log10_probability, abs=1e-9), where


SETTINGS = [
    {},
    {"beam_width": 4},
    {"beam_width": 100, "beam_prune_logp": -20.0, "token_min_logp": -8.0},
    {"beam_width": 16, "max_tokens_per_frame": 2},
    {"beam_width": 16, "n_best": 5},
    {"beam_width": 16, "prune_history": False},
    {"beam_width": 16, "n_best": 3, "prune_history": True},
    {"beam_width": 16, "alpha": 1.5, "beta": -0.5, "unk_score_offset": -5.0},
    {"beam_width": 16, "score_boundary": False},
    {"beam_width": 8, "lexicon": True, "token_min_logp": -10.0},
    {"beam_width": 8, "lexicon": True, "n_best": 3},
    {"beam_width": 8, "lexicon": True, "token_min_logp": -10.0, "unk_score_offset": -math.inf},
    {"beam_width": 8, "lexicon": True, "unk_score_offset": -math.inf, "alpha": 0.0},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=[str(s) for s in SETTINGS])
def test_compiled_search_equals_numpy_search_with_lm(lm, utterances, settings):
    numpy_decoder = CTCBeamSearchDecoder(LABELS, lm, engine="numpy")
    compiled_decoder = CTCBeamSearchDecoder(LABELS, lm, engine="compiled")
    options = DecodeOptions(**settings)
    expected = numpy_decoder.decode_batch(utterances, options)
    for i, logits in enumerate(utterances):
        assert_same(expected[i], compiled_decoder.decode(logits, options), (settings, i))
    assert compiled_decoder._compiled.core.cache_size() > 0  # word scores were asked once and kept


@pytest.mark.parametrize("settings", SETTINGS[:5], ids=[str(s) for s in SETTINGS[:5]])
def test_compiled_search_equals_numpy_search_without_lm(utterances, settings):
    numpy_decoder = CTCBeamSearchDecoder(LABELS, engine="numpy")
    compiled_decoder = CTCBeamSearchDecoder(LABELS, engine="compiled")
    options = DecodeOptions(**settings)
    expected = numpy_decoder.decode_batch(utterances, options)
    got = compiled_decoder.decode_batch(utterances, options)
    for i in range(len(utterances)):
        assert_same(expected[i], got[i], (settings, i))


def test_a_large_lexicon_is_stepped_without_the_dense_table(lm, utterances):
    """Tries too large for a dense child table are searched by binary search: the same hypotheses."""
    from wav2vec_hf.decoding.compiled import CompiledSearch

    dense = CTCBeamSearchDecoder(LABELS, lm, engine="compiled")
    sparse = CTCBeamSearchDecoder(LABELS, lm, engine="compiled")
    sparse._compiled = CompiledSearch(
        len(LABELS), sparse.blank, sparse.delimiter, sparse.never_emitted, sparse.lexicon, sparse._word_scores,
        logits_error=DecodingError, dense_trie_limit=0,
    )  # fmt: skip
    for options in (
        DecodeOptions(beam_width=16),
        DecodeOptions(beam_width=8, lexicon=True, token_min_logp=-10.0),
    ):
        for i, logits in enumerate(utterances):
            assert_same(dense.decode(logits, options), sparse.decode(logits, options), (options.lexicon, i))


def test_a_search_begun_inside_a_search_or_a_failing_lm_leaves_the_core_sound(lm, utterances):
    """The core reuses its buffers from call to call. Asking the LM runs Python, which may search with
    the same core again (here: from inside the score callable) or raise: neither may corrupt the outer
    search or the next one."""
    from wav2vec_hf.decoding.compiled import CompiledSearch

    reference = CTCBeamSearchDecoder(LABELS, lm, engine="numpy")
    decoder = CTCBeamSearchDecoder(LABELS, lm, engine="compiled")
    options = DecodeOptions(beam_width=16)
    scores, state = decoder._word_scores, {"calls": 0, "nested": 0, "fail_every": 0}

    class Interfering:
        @staticmethod
        def _score(*args):
            state["calls"] += 1
            if state["fail_every"] and state["calls"] % state["fail_every"] == 0:
                raise RuntimeError("the LM failed")
            if not state["fail_every"] and state["calls"] % 5 == 0 and state["nested"] < 4:
                state["nested"] += 1
                inner = utterances[-state["nested"]]
                assert_same(reference.decode(inner, options), decoder.decode(inner, options), "nested")
            return scores._score(*args)

    decoder._compiled = CompiledSearch(
        len(LABELS), decoder.blank, decoder.delimiter, decoder.never_emitted, decoder.lexicon, Interfering,
        logits_error=DecodingError,
    )  # fmt: skip
    for i, logits in enumerate(utterances):
        assert_same(reference.decode(logits, options), decoder.decode(logits, options), ("outer", i))
    assert state["nested"] == 4
    state["fail_every"] = 3
    decoder._compiled.core = CompiledSearch(
        len(LABELS),
        decoder.blank,
        decoder.delimiter,
        decoder.never_emitted,
        decoder.lexicon,
        Interfering,
        logits_error=DecodingError,
    ).core  # an empty word-score cache: the LM is asked again
    failures = 0
    for logits in utterances:
        try:
            decoder.decode(logits, options)
        except RuntimeError:
            failures += 1
    assert failures > 0
    state["fail_every"] = 0
    for i, logits in enumerate(utterances):  # the same core after the failures
        assert_same(reference.decode(logits, options), decoder.decode(logits, options), ("after", i))


def test_float64_logits_and_the_numpy_only_options(lm, utterances):
    compiled_decoder = CTCBeamSearchDecoder(LABELS, lm, engine="compiled")
    numpy_decoder = CTCBeamSearchDecoder(LABELS, lm, engine="numpy")
    logits = utterances[0].astype(np.float64)
    assert_same(numpy_decoder.decode(logits), compiled_decoder.decode(logits), "float64")
    # Word offsets and hotwords are the numpy search's: the compiled decoder hands such calls to it.
    with_offsets = compiled_decoder.decode(logits, DecodeOptions(word_offsets=True))
    assert with_offsets[0].word_offsets and with_offsets[0].text == numpy_decoder.decode(logits)[0].text


def test_bad_logits_and_engine_choice(monkeypatch):
    decoder = CTCBeamSearchDecoder(LABELS, engine="compiled")
    bad = np.zeros((5, len(LABELS)), dtype=np.float32)
    bad[2, 3] = np.nan
    with pytest.raises(DecodingError, match="without a finite maximum"):
        decoder.decode(bad)
    assert choose_engine("auto") == "compiled"
    monkeypatch.setenv("WAV2VEC_HF_DECODER", "numpy")
    assert CTCBeamSearchDecoder(LABELS).engine == "numpy"
    monkeypatch.setenv("WAV2VEC_HF_DECODER", "fast")
    with pytest.raises(ValueError, match="WAV2VEC_HF_DECODER"):
        CTCBeamSearchDecoder(LABELS)
