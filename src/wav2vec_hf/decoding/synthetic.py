"""Synthetic CTC emissions of transcripts, for decoder tests and benchmarks without a trained model.

The emissions look like a character CTC model's at 50 frames a second: mostly blank frames, each
character a one- or two-frame spike, word delimiters between words, random logit noise. An
"acoustically ambiguous" character splits its spike between the true character and a similar one
(vowels, voiced/unvoiced pairs, nasals, sibilants); sometimes the wrong one wins, so greedy decoding
makes spelling errors that a word LM can repair.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wav2vec_hf.decoding.decoder import BLANK_LABEL, DELIMITER_LABEL, log_softmax

SIMILAR_LETTERS = ("AEIOUY", "BP", "DT", "GKC", "MN", "SZ", "FV", "LR", "HW", "JQX")
"""Groups of letters an ambiguous frame confuses (uppercase; lowercase labels use the same groups)."""


def _similar_of(labels: Sequence[str]) -> dict[int, list[int]]:
    index = {label: i for i, label in enumerate(labels)}
    similar: dict[int, list[int]] = {}
    for group in SIMILAR_LETTERS:
        for case in (str.upper, str.lower):
            members = [index[case(ch)] for ch in group if case(ch) in index]
            for m in members:
                similar.setdefault(m, []).extend(x for x in members if x != m)
    return similar


def synthetic_emissions(
    transcript: str,
    labels: Sequence[str],
    rng: np.random.Generator,
    ambiguity: float = 0.25,
    wrong_wins: float = 0.5,
    noise: float = 1.0,
    peak: float = 12.0,
    blank_frames: tuple[int, int] = (1, 3),
    spike_frames: tuple[int, int] = (1, 2),
) -> np.ndarray:
    """(frames, len(labels)) float32 log-probabilities of ``transcript`` as a CTC model might emit them.

    Args:
        transcript: words separated by single spaces, spelled with ``labels``.
        labels: decoder labels (``""`` blank, ``" "`` delimiter), as ``labels_from_vocabulary`` gives.
        rng: the random source (fix its seed for reproducible emissions).
        ambiguity: chance that a character's spike is shared with a similar letter.
        wrong_wins: chance that the similar letter gets the larger share of an ambiguous spike.
        noise: standard deviation of the logit noise.
        peak: logit margin of the emitted token in its frame.
        blank_frames: inclusive range of blank frames before each token.
        spike_frames: inclusive range of frames of each token spike.
    """
    index = {label: i for i, label in enumerate(labels)}
    blank, delimiter = index[BLANK_LABEL], index[DELIMITER_LABEL]
    similar = _similar_of(labels)
    tokens: list[int] = []
    for w, word in enumerate(transcript.split(" ")):
        if w:
            tokens.append(delimiter)
        for ch in word:
            if ch not in index:
                raise ValueError(f"transcript character {ch!r} is not among the labels")
            tokens.append(index[ch])

    frames: list[np.ndarray] = []
    vocab = len(labels)

    def frame(weights: dict[int, float]) -> np.ndarray:
        logits = rng.normal(0.0, noise, vocab)
        for token, share in weights.items():
            logits[token] += peak * share
        return logits

    for token in tokens:
        for _ in range(rng.integers(blank_frames[0], blank_frames[1] + 1)):
            frames.append(frame({blank: 1.0}))
        weights = {token: 1.0}
        if token in similar and rng.random() < ambiguity:
            other = int(rng.choice(similar[token]))
            share = rng.uniform(0.55, 0.75)
            weights = {other: 1.0, token: share} if rng.random() < wrong_wins else {token: 1.0, other: share}
        for _ in range(rng.integers(spike_frames[0], spike_frames[1] + 1)):
            frames.append(frame(weights))
    for _ in range(rng.integers(blank_frames[0], blank_frames[1] + 1)):
        frames.append(frame({blank: 1.0}))
    return log_softmax(np.stack(frames)).astype(np.float32)
