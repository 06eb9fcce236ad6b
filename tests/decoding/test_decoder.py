"""The CTC beam-search decoder: exact against brute force, scores, n-best, LM gains, options, errors."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest

from tests.decoding.support import LABELS, dev_sentences, emissions, lm_sentences, write_grammar_lm
from wav2vec_hf.decoding.decoder import CTCBeamSearchDecoder, DecodeOptions, DecodingError, greedy_decode
from wav2vec_hf.decoding.language_model import LN10, FusionWeights, NgramLanguageModel
from wav2vec_hf.decoding.ngram import estimate_kneser_ney, write_arpa
from wav2vec_hf.error_rates import word_error_rate

TINY_LABELS = ["", " ", "A", "B"]  # blank, word delimiter, two letters
EVERYTHING = {"token_min_logp": -1e9, "beam_prune_logp": -1e9, "beam_width": 100_000}


def brute_force(log_probs: np.ndarray, labels: list[str]) -> dict[str, float]:
    """log P(text) of every text, summing every CTC path (frames^labels of them) that spells it."""
    totals: dict[str, float] = defaultdict(lambda: -math.inf)
    n_frames, vocab = log_probs.shape
    for path in itertools.product(range(vocab), repeat=n_frames):
        collapsed = [t for i, t in enumerate(path) if t != 0 and (i == 0 or t != path[i - 1])]
        text = " ".join("".join(labels[t] for t in collapsed).split())
        totals[text] = np.logaddexp(totals[text], sum(log_probs[i, t] for i, t in enumerate(path)))
    return dict(totals)


def random_log_probs(rng: np.random.Generator, frames: int, vocab: int) -> np.ndarray:
    logits = rng.normal(0, 1.5, (frames, vocab))
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_lm")
    model = estimate_kneser_ney(["A B", "AB A", "B", "A A B", "BA B"], 2)
    path = write_arpa(model, folder / "tiny.arpa")
    return NgramLanguageModel.from_file(path, model.unigrams(), FusionWeights(alpha=0.8, beta=0.5))


@pytest.fixture(scope="module")
def grammar_lm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grammar_lm")
    path, unigrams = write_grammar_lm(folder, order=3)
    return NgramLanguageModel.from_file(path, unigrams, FusionWeights(alpha=0.5, beta=1.5))


# ----------------------------------------------------------------------------------------------------
# Exactness
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_acoustic_scores_equal_brute_force_sums_without_lm(seed):
    log_probs = random_log_probs(np.random.default_rng(seed), frames=6, vocab=4)
    exact = brute_force(log_probs, TINY_LABELS)
    decoder = CTCBeamSearchDecoder(TINY_LABELS)
    hypotheses = decoder.decode(log_probs, DecodeOptions(n_best=10_000, **EVERYTHING))
    assert {h.text for h in hypotheses} == set(exact)
    for h in hypotheses:
        assert h.acoustic_score == pytest.approx(exact[h.text], abs=1e-9), h.text
        assert h.lm_score == 0.0 and h.total_score == h.acoustic_score
    assert [h.text for h in hypotheses] == sorted(exact, key=lambda t: -exact[t])


@pytest.mark.parametrize("seed", [3, 4])
def test_lm_fused_ranking_equals_brute_force(tiny_lm, seed):
    """With every prefix kept, the n-best list is every text ranked by log P(text) + fused LM score."""
    log_probs = random_log_probs(np.random.default_rng(seed), frames=6, vocab=4)
    exact = brute_force(log_probs, TINY_LABELS)
    w = tiny_lm.weights

    def fused(text: str) -> float:
        words = text.split()
        unknown = sum(1 for word in words if not tiny_lm.is_known(word))
        log10 = tiny_lm.sentence_log10(words) + unknown * w.unk_score_offset
        return w.alpha * LN10 * log10 + w.beta * len(words)

    decoder = CTCBeamSearchDecoder(TINY_LABELS, tiny_lm)
    hypotheses = decoder.decode(log_probs, DecodeOptions(n_best=10_000, **EVERYTHING))
    assert {h.text for h in hypotheses} == set(exact)
    for h in hypotheses:
        assert h.acoustic_score == pytest.approx(exact[h.text], abs=1e-9)
        assert h.lm_score == pytest.approx(fused(h.text), abs=1e-4), h.text
        assert h.total_score == pytest.approx(h.acoustic_score + h.lm_score, abs=1e-12)
        assert h.lm_log10_probability == pytest.approx(tiny_lm.sentence_log10(h.text.split()), abs=1e-4)
    ranked = sorted(exact, key=lambda t: -(exact[t] + fused(t)))
    assert hypotheses[0].text == ranked[0]
    totals = [h.total_score for h in hypotheses]
    assert totals == sorted(totals, reverse=True)


def test_batch_decoding_equals_one_by_one(grammar_lm):
    transcripts = dev_sentences(12, exclude=[])
    logits = emissions(transcripts, seed=5)
    decoder = CTCBeamSearchDecoder(LABELS, grammar_lm)
    options = DecodeOptions(beam_width=16, n_best=3)
    batched = decoder.decode_batch(logits, options)
    for item, together in zip(logits, batched):
        alone = decoder.decode(item, options)
        assert [h.text for h in alone] == [h.text for h in together]
        assert [h.total_score for h in alone] == pytest.approx([h.total_score for h in together], abs=1e-9)


# ----------------------------------------------------------------------------------------------------
# The LM helps, n-best lists, comparison with pyctcdecode
# ----------------------------------------------------------------------------------------------------


def test_lm_decoding_lowers_wer_against_greedy_on_ambiguous_emissions(grammar_lm):
    """Synthetic emissions (no trained model): a quarter of the letters is shared with a similar one,
    and the wrong one wins half of those; the word LM repairs most of the resulting spelling errors."""
    train = lm_sentences(4000)
    transcripts = dev_sentences(60, exclude=train)
    logits = emissions(transcripts, seed=7)
    greedy = word_error_rate(transcripts, [greedy_decode(x, LABELS) for x in logits])
    decoder = CTCBeamSearchDecoder(LABELS, grammar_lm)
    with_lm = word_error_rate(transcripts, [h[0].text for h in decoder.decode_batch(logits, DecodeOptions())])
    without_lm = word_error_rate(
        transcripts, [h[0].text for h in CTCBeamSearchDecoder(LABELS).decode_batch(logits, DecodeOptions())]
    )
    assert greedy > 0.3
    assert without_lm == pytest.approx(greedy, abs=0.03)  # beam search alone cannot fix spelling
    assert with_lm < 0.6 * greedy, (with_lm, greedy)


def test_n_best_lists_are_sorted_distinct_and_scored(grammar_lm):
    transcripts = dev_sentences(6, exclude=[])
    decoder = CTCBeamSearchDecoder(LABELS, grammar_lm)
    logits = emissions(transcripts, seed=9, noise=1.5, peak=8.0)  # noisy enough for several hypotheses
    for hypotheses in decoder.decode_batch(logits, DecodeOptions(n_best=5)):
        assert 2 <= len(hypotheses) <= 5
        totals = [h.total_score for h in hypotheses]
        assert totals == sorted(totals, reverse=True)
        assert len({h.text for h in hypotheses}) == len(hypotheses)
        for h in hypotheses:
            assert h.total_score == pytest.approx(h.acoustic_score + h.lm_score)
            assert h.acoustic_score < 0 and math.isfinite(h.lm_score)
            words = h.text.split()
            assert h.lm_log10_probability == pytest.approx(grammar_lm.sentence_log10(words), abs=1e-3)


def test_no_worse_than_pyctcdecode_with_the_same_lm_and_weights(grammar_lm):
    pyctcdecode = pytest.importorskip("pyctcdecode")
    train = lm_sentences(4000)
    transcripts = dev_sentences(40, exclude=train)
    logits = emissions(transcripts, seed=11)
    theirs = pyctcdecode.build_ctcdecoder(
        LABELS, kenlm_model_path=str(grammar_lm.path), unigrams=grammar_lm.unigrams, alpha=0.5, beta=1.5
    )
    their_texts = [theirs.decode(x, beam_width=16) for x in logits]
    ours = CTCBeamSearchDecoder(LABELS, grammar_lm)
    our_texts = [h[0].text for h in ours.decode_batch(logits, DecodeOptions(beam_width=16))]
    assert word_error_rate(transcripts, our_texts) <= word_error_rate(transcripts, their_texts) + 0.005
    assert sum(a == b for a, b in zip(our_texts, their_texts)) >= 0.9 * len(transcripts)


# ----------------------------------------------------------------------------------------------------
# Options
# ----------------------------------------------------------------------------------------------------


def test_hotword_wins_an_ambiguous_word_only_when_given(grammar_lm):
    # "ZORBLAX" is unknown to the LM; its emission gives every letter's spike mostly to a similar letter.
    logits = emissions(["THE DOG SAW ZORBLAX"], seed=1, ambiguity=1.0, wrong_wins=1.0, peak=6.0, noise=0.3)[0]
    decoder = CTCBeamSearchDecoder(LABELS, grammar_lm)
    plain = decoder.decode(logits, DecodeOptions())[0].text
    boosted = decoder.decode(logits, DecodeOptions(hotwords=["ZORBLAX"], hotword_weight=20.0))[0].text
    assert "ZORBLAX" not in plain.split()
    assert boosted.split()[-1] == "ZORBLAX"


def test_lexicon_mode_only_produces_known_words(grammar_lm):
    transcripts = dev_sentences(10, exclude=[])
    logits = emissions(transcripts, seed=13, ambiguity=0.5)
    decoder = CTCBeamSearchDecoder(LABELS, grammar_lm)
    free = [h[0].text for h in decoder.decode_batch(logits, DecodeOptions())]
    # Lexicon mode wants the true letter among the candidates even when a similar one wins: a lower
    # token threshold (flashlight-style), which in turn allows a small beam. An unknown-word score of
    # -inf allows lexicon words only.
    strict = DecodeOptions(lexicon=True, token_min_logp=-10.0, beam_width=8, unk_score_offset=-math.inf)
    constrained = [h[0].text for h in decoder.decode_batch(logits, strict)]
    known = set(grammar_lm.unigrams)
    assert any(not set(t.split()) <= known for t in free)  # the free mode can spell unknown words
    assert all(set(t.split()) <= known for t in constrained)
    assert word_error_rate(transcripts, constrained) < 0.7 * word_error_rate(transcripts, free)
    # With the default unknown-word score the look-ahead does the work: as accurate here
    lexicon = [
        h[0].text for h in decoder.decode_batch(logits, DecodeOptions(lexicon=True, token_min_logp=-10.0))
    ]
    assert word_error_rate(transcripts, lexicon) < 0.7 * word_error_rate(transcripts, free)


def test_lexicon_mode_spells_an_unknown_word_at_its_score(grammar_lm):
    """An out-of-vocabulary word costs the unknown-word score: it is spelled out and the known words
    around it survive (before, lexicon mode bent the whole utterance onto lexicon words, or gave an
    empty transcript for audio of unknown words only)."""
    sentence = dev_sentences(1, exclude=[])[0].split()
    with_oov = " ".join([*sentence[:2], "ZQXJV", *sentence[2:]])
    logits = emissions([with_oov, "QQQQ ZZZ"], seed=0)
    decoder = CTCBeamSearchDecoder(LABELS, grammar_lm)
    options = DecodeOptions(lexicon=True, token_min_logp=-10.0)
    sentence_out, unknown_only = (h[0].text for h in decoder.decode_batch(logits, options))
    assert "ZQXJV" in sentence_out.split()
    assert word_error_rate([with_oov], [sentence_out]) <= 0.25
    assert unknown_only.strip() != ""
    strict = DecodeOptions(lexicon=True, token_min_logp=-10.0, unk_score_offset=-math.inf)
    assert "ZQXJV" not in decoder.decode(logits[0], strict)[0].text.split()


def test_word_offsets_follow_the_emission(grammar_lm):
    log_probs = np.full((30, len(LABELS)), -20.0)
    log_probs[:, 0] = 0.0  # blank everywhere but the spikes below
    spikes = {2: "T", 4: "H", 6: "E", 7: "E", 10: " ", 13: "D", 15: "O", 17: "G"}
    index = {label: i for i, label in enumerate(LABELS)}
    for frame, label in spikes.items():
        log_probs[frame] = -20.0
        log_probs[frame, index[label]] = 0.0
    best = CTCBeamSearchDecoder(LABELS, grammar_lm).decode(log_probs, DecodeOptions(word_offsets=True))[0]
    assert best.text == "THE DOG"
    assert [(w.word, w.start_offset, w.end_offset) for w in best.word_offsets] == [
        ("THE", 2, 8),
        ("DOG", 13, 18),
    ]


def test_alpha_zero_and_no_lm_agree_on_acoustics(grammar_lm):
    logits = emissions(dev_sentences(5, exclude=[]), seed=3)
    plain = CTCBeamSearchDecoder(LABELS).decode_batch(logits, DecodeOptions(beam_width=8))
    muted = CTCBeamSearchDecoder(LABELS, grammar_lm).decode_batch(
        logits, DecodeOptions(beam_width=8, alpha=0.0, beta=0.0, unk_score_offset=0.0)
    )
    assert [h[0].text for h in plain] == [h[0].text for h in muted]


# ----------------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------------


def test_bad_logits_get_clear_errors(grammar_lm):
    decoder = CTCBeamSearchDecoder(LABELS, grammar_lm)
    with pytest.raises(DecodingError, match="empty logits"):
        decoder.decode(np.zeros((0, len(LABELS)), dtype=np.float32))
    with pytest.raises(DecodingError, match=r"columns but the decoder's alphabet has 30 labels"):
        decoder.decode(np.zeros((5, 12), dtype=np.float32))
    with pytest.raises(DecodingError, match="2-D"):
        decoder.decode(np.zeros(30, dtype=np.float32))
    bad = np.zeros((4, len(LABELS)), dtype=np.float32)
    bad[2, 3] = np.nan
    with pytest.raises(DecodingError, match="NaN"):
        decoder.decode(bad)
    with pytest.raises(DecodingError, match="beam_width"):
        DecodeOptions(beam_width=0)
    with pytest.raises(DecodingError, match="unknown decoding option"):
        DecodeOptions.from_kwargs(beam_size=3)
    with pytest.raises(DecodingError, match="cannot spell"):
        decoder.decode(np.zeros((4, len(LABELS)), dtype=np.float32), DecodeOptions(hotwords=["ÉCOLE"]))
