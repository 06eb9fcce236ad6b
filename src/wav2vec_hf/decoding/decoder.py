"""CTC prefix beam search with word-level n-gram fusion, vectorised with numpy over beams AND utterances.

The search keeps, for each surviving prefix, the log-probability of all CTC paths that produce it and
end in blank (``pb``) or in its last token (``pnb``) (the prefix search of Hannun et al. 2014,
arXiv 1408.2873). A word's LM score joins a hypothesis when the word delimiter (or the end of the
utterance) completes the word, with pyctcdecode's meaning of alpha, beta and the unknown-word offset
(see ``language_model``), so weights tuned for one decoder carry over to the other.

Why it is fast:

* Events, not frames. Token pruning offers a frame only the tokens with ``log p >= token_min_logp``
  (and its best token; at most ``max_tokens_per_frame``). A frame whose only candidate is blank changes
  no prefix, so a run of them is folded into the next event; consecutive frames whose only candidate
  is the same non-blank token collapse into one event (CTC merges the repeats). A CTC model's output
  becomes a few events per character.
* Lockstep batches. All utterances of a batch advance together, event ``k`` of every utterance in
  one set of numpy operations over all their beams; the Python cost of a step is shared by the batch.
* Prefixes are integer nodes of a trie built during the search (``_Nodes``); extending prefix ``n``
  by token ``c`` is a gather in a ``(nodes, vocabulary)`` child table, and new nodes are created in
  bulk. Only prefixes that can enter a beam (ranked by an upper bound of their score) are created.
* Known words are a token trie stepped with ``searchsorted`` (``lexicon.TokenTrie``); KenLM is called
  only when a word completes, cached per (LM context, word) across utterances.

Out-of-vocabulary words are possible, penalised by ``unk_score_offset`` as in pyctcdecode. Lexicon mode
(``lexicon=True``) adds flashlight's LM look-ahead: a partial word on the lexicon trie is scored by the
best unigram of the words it starts; with ``unk_score_offset=-inf`` only lexicon words can be produced.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from wav2vec_hf.decoding.alphabet import (
    BLANK_LABEL,
    DELIMITER_LABEL,
    SPECIAL_TOKEN,
    check_labels,
)
from wav2vec_hf.decoding.compiled import CompiledSearch, choose_engine
from wav2vec_hf.decoding.greedy import greedy_decode  # noqa: F401  (its old home; re-exported)
from wav2vec_hf.decoding.language_model import LN10, FusionWeights, NgramLanguageModel
from wav2vec_hf.decoding.lexicon import NO_NODE, ROOT, TokenTrie
from wav2vec_hf.errors import Wav2VecHFError

_AVERAGE_WORD_LENGTH = 6.0  # pyctcdecode scales the partial-word penalty beyond this many characters
_NEG_INF = -math.inf
_MISSING, _DEAD = -1, -2  # child-table entries: not built yet / can never be in a beam
_OOV_WORD = -1


class DecodingError(Wav2VecHFError, ValueError):
    """Decoder input that cannot be decoded (the message says what is wrong and how to fix it)."""


@dataclass(frozen=True)
class DecodeOptions:
    """Beam-search settings of one decoding call.

    ``alpha``, ``beta``, ``unk_score_offset`` and ``score_boundary`` default (``None``) to the LM
    folder's ``attrs.json`` values.

    Attributes:
        beam_width: prefixes kept per utterance after each step.
        beam_prune_logp: prefixes scoring this much (natural log) below their utterance's best are dropped.
        token_min_logp: tokens below this log-probability in a frame are not tried (a frame's best
            token always is).
        max_tokens_per_frame: try at most this many tokens per frame (``None``: no cap).
        alpha: LM weight. beta: bonus per word. unk_score_offset: log10 penalty of unknown words.
        score_boundary: score the first word after ``<s>`` and end with ``</s>``.
        hotwords: words (phrases are split into words) to favour; they count as known words.
        hotword_weight: natural-log bonus per completed hotword (partial hotwords get a share of it).
        lexicon: lexicon mode (as flashlight's lexicon decoder): a partial word that starts known words
            (LM unigrams, hotwords) is scored by the best unigram log-probability among them (LM
            look-ahead), replaced by the word's own LM score when it completes. A word outside the
            lexicon is an unknown word, scored with ``unk_score_offset`` as in the default mode (and,
            while partial, charged that cost ahead), so an out-of-vocabulary word costs its score
            instead of derailing the utterance; with ``unk_score_offset=-inf`` only lexicon words are
            produced.
        n_best: hypotheses returned per utterance.
        lockstep_utterances: utterances searched together (bigger batches share the per-step
            Python cost; the prefix table grows with the batch, so it is capped).
        word_offsets: fill ``Hypothesis.word_offsets`` (frame spans of the words; off by default: the
            walk costs about as much as the rest of the result).
        prune_history: after each step, of the beams that share their LM context (the words the
            n-gram still sees), partial word and last token, keep only the best: their futures score
            alike, so for the single best transcript the others are redundant (pyctcdecode's
            ``prune_history``). ``None`` (default): on when ``n_best`` is 1, as pyctcdecode's
            ``decode`` does, off for n-best lists, which it would thin.
    """

    beam_width: int = 32
    beam_prune_logp: float = -10.0
    token_min_logp: float = -5.0
    max_tokens_per_frame: int | None = None
    alpha: float | None = None
    beta: float | None = None
    unk_score_offset: float | None = None
    score_boundary: bool | None = None
    hotwords: tuple[str, ...] = ()
    hotword_weight: float = 10.0
    lexicon: bool = False
    n_best: int = 1
    word_offsets: bool = False
    lockstep_utterances: int = 512
    prune_history: bool | None = None

    def __post_init__(self) -> None:
        if isinstance(self.beam_width, bool) or not isinstance(self.beam_width, int) or self.beam_width < 1:
            raise DecodingError(f"beam_width={self.beam_width!r}: give a positive integer")
        if isinstance(self.n_best, bool) or not isinstance(self.n_best, int) or self.n_best < 1:
            raise DecodingError(f"n_best={self.n_best!r}: give a positive integer")
        if self.lockstep_utterances < 1:
            raise DecodingError(f"lockstep_utterances={self.lockstep_utterances!r}: give at least 1")
        if self.max_tokens_per_frame is not None and self.max_tokens_per_frame < 1:
            raise DecodingError(f"max_tokens_per_frame={self.max_tokens_per_frame!r}: give at least 1")
        if not self.beam_prune_logp <= 0:
            raise DecodingError(
                f"beam_prune_logp={self.beam_prune_logp}: must be <= 0 (a log-probability margin)"
            )
        hotwords = (self.hotwords,) if isinstance(self.hotwords, str) else tuple(self.hotwords or ())
        object.__setattr__(self, "hotwords", hotwords)

    @classmethod
    def from_kwargs(cls, **kwargs) -> DecodeOptions:
        """Options from keyword arguments, with an error naming any unknown one."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise DecodingError(f"unknown decoding option(s) {unknown}; known: {sorted(known)}")
        return cls(**{k: v for k, v in kwargs.items() if v is not None})

    def prunes_history(self) -> bool:
        """Whether this call prunes beams by shared history (``prune_history``, resolved)."""
        return self.n_best == 1 if self.prune_history is None else bool(self.prune_history)

    def weights(self, defaults: FusionWeights) -> FusionWeights:
        """The fusion weights of this call: the given ones, else ``defaults``."""

        def pick(value, default):
            return default if value is None else value

        return FusionWeights(
            alpha=float(pick(self.alpha, defaults.alpha)),
            beta=float(pick(self.beta, defaults.beta)),
            unk_score_offset=float(pick(self.unk_score_offset, defaults.unk_score_offset)),
            score_boundary=bool(pick(self.score_boundary, defaults.score_boundary)),
        )


@dataclass
class WordOffset:
    """A decoded word and its frames: ``start_offset`` (first frame) to ``end_offset`` (exclusive)."""

    word: str
    start_offset: int
    end_offset: int


@dataclass
class Hypothesis:
    """One decoded transcription and its scores (natural logs; ``total_score = acoustic_score + lm_score``).

    Attributes:
        text: the words, separated by single spaces.
        acoustic_score: log-probability of the CTC paths producing the text that the beam kept.
        lm_score: the fused LM part: ``alpha * ln(10) * (log10 P(words) + unknown-word offsets)
            + beta * words`` (+ hotword bonuses); hotword bonuses only without an LM.
        total_score: what hypotheses are ranked by.
        lm_log10_probability: plain LM log10 probability of the words (``None`` without an LM).
        word_offsets: the words with their frame spans.
    """

    text: str
    acoustic_score: float
    lm_score: float
    total_score: float
    lm_log10_probability: float | None = None
    word_offsets: list[WordOffset] = field(default_factory=list)


def log_softmax(logits: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Row-wise log-softmax in ``dtype`` (log-probabilities pass through unchanged)."""
    x = np.asarray(logits, dtype=dtype)
    peak = np.max(x, axis=-1, keepdims=True)
    peak[~np.isfinite(peak)] = 0.0
    shifted = x - peak
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


# ----------------------------------------------------------------------------------------------------
# Events: what is left of a batch's frames after token pruning
# ----------------------------------------------------------------------------------------------------


@dataclass
class _BatchEvents:
    """The events of a batch of ``U`` utterances (``E`` events in all, vocabulary of ``V`` tokens).

    Events are stored utterance after utterance, in time order.

    Attributes:
        log_probs: (E, V) log-probabilities of each event's candidate tokens (``-inf`` for the others).
        tokens: the candidate non-blank tokens of all events, event after event (flat).
        token_offset: (E,) where each event's candidates start in ``tokens``; token_count: (E,) how many.
        blank_before: (E,) summed blank log-probability of the blank-only frames right before each event.
        has_blank_before: (E,) whether there were such frames.
        start, end: (E,) the event's frames ``[start, end)`` within its utterance.
        count: (U,) events per utterance; offset: (U,) index of each utterance's first event.
        final_blank: (U,) summed blank log-probability of the blank-only frames after the last event.
    """

    log_probs: np.ndarray
    tokens: np.ndarray
    token_offset: np.ndarray
    token_count: np.ndarray
    blank_before: np.ndarray
    has_blank_before: np.ndarray
    start: np.ndarray
    end: np.ndarray
    count: np.ndarray
    offset: np.ndarray
    final_blank: np.ndarray


def _batch_events(
    by_token: np.ndarray, lengths: np.ndarray, blank: int, never: np.ndarray, options: DecodeOptions
) -> _BatchEvents:
    """Fold a batch's frames into events. ``by_token``: (V, sum of lengths) logits or log-probabilities,
    token-major (numpy reduces several times faster along the long axis than over a short last axis),
    utterances one after another.

    A frame's candidates are its tokens with ``log p >= token_min_logp`` plus its best token (capped
    at ``max_tokens_per_frame``). Blank-only frames become the ``blank_before`` of the next event;
    consecutive frames whose only candidate is the same non-blank token become one event whose log-prob
    is their sum (no blank between them, so CTC merges them into one emission either way).

    The log-softmax is folded in: only the normaliser of each frame is computed over the whole
    matrix; log-probabilities are materialised for event frames and the blank column only.
    """
    vocab, n_frames = by_token.shape
    n_utt = lengths.shape[0]
    peak = by_token.max(axis=0)
    if not np.isfinite(peak).all():
        raise DecodingError("the logits hold a frame without a finite maximum (NaN or +-inf values)")
    normaliser = peak + np.log(np.exp(by_token - peak).sum(axis=0))  # log-sum-exp per frame
    candidates = by_token >= normaliser + options.token_min_logp  # (V, frames)
    if options.token_min_logp > -math.log(vocab):  # else the best token always clears the threshold
        candidates[(by_token == peak).argmax(axis=0), np.arange(n_frames)] = True
    cap = options.max_tokens_per_frame
    if cap is not None and cap < vocab:
        kth = -np.partition(-by_token, cap - 1, axis=0)[cap - 1]
        candidates &= by_token >= kth
    if never.size:
        candidates[never] = False
        candidates[blank] |= ~candidates.any(axis=0)  # a frame of never-emitted tokens only counts as blank
    n_candidates = candidates.sum(axis=0, dtype=np.int64)
    blank_only = candidates[blank] & (n_candidates == 1)
    blank_lp = (by_token[blank] - normaliser).astype(np.float64)
    blank_sum = np.concatenate([[0.0], np.cumsum(np.where(blank_only, blank_lp, 0.0))])

    utt_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    frames = _nonzero(~blank_only)
    utt_of_frame = np.searchsorted(utt_start, frames, side="right") - 1
    frame_candidates = candidates[:, frames].T  # (frames with events, V)
    _, cols = np.nonzero(frame_candidates)  # row-major: frame after frame
    per_frame = n_candidates[frames]
    first_of_row = np.concatenate([[0], np.cumsum(per_frame)[:-1]]).astype(np.int64)
    # A frame with one candidate (never blank here: blank-only frames are folded): that token.
    single = np.full(frames.size, -1, dtype=np.int64)
    one = per_frame == 1
    single[one] = cols[first_of_row[one]]
    joins_previous = (
        (frames[1:] == frames[:-1] + 1)
        & (single[1:] >= 0)
        & (single[1:] == single[:-1])
        & (utt_of_frame[1:] == utt_of_frame[:-1])
    )
    first = np.concatenate([[True], ~joins_previous]) if frames.size else np.zeros(0, dtype=bool)
    group_start = _nonzero(first)
    first_frames = frames[group_start]
    event_lp = np.where(
        frame_candidates[group_start],
        by_token[:, first_frames].T.astype(np.float64) - normaliser[first_frames, None],
        _NEG_INF,
    )
    if group_start.size < frames.size:  # merged runs: their one token's log-probs add up
        token = np.maximum(single, 0)
        summed = np.add.reduceat(
            (by_token[token, frames] - normaliser[frames]).astype(np.float64), group_start
        )
        merged = _nonzero(np.diff(np.concatenate([group_start, [frames.size]])) > 1)
        event_lp[merged, token[group_start[merged]]] = summed[merged]
    start = frames[group_start]
    end = np.concatenate([frames[group_start[1:] - 1], frames[-1:]]) + 1 if frames.size else start
    event_utt = utt_of_frame[group_start]

    count = np.bincount(event_utt, minlength=n_utt).astype(np.int64)
    offset = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    starts_utterance = (
        np.concatenate([[True], event_utt[1:] != event_utt[:-1]]) if start.size else start.astype(bool)
    )
    previous_end = np.where(starts_utterance, utt_start[event_utt], np.concatenate([[0], end[:-1]]))
    last_end = utt_start.copy()
    has_events = count > 0
    last_end[has_events] = end[offset[has_events] + count[has_events] - 1]
    utt_end = utt_start + lengths

    # Candidate tokens of each event (its first frame's; a merged run has one), blank left out.
    pair_frame = np.repeat(np.arange(frames.size), per_frame)
    is_event_pair = first[pair_frame] & (cols != blank)
    tokens = cols[is_event_pair]
    token_count = np.bincount(np.cumsum(first)[pair_frame[is_event_pair]] - 1, minlength=group_start.size)
    return _BatchEvents(
        log_probs=event_lp,
        tokens=tokens.astype(np.int64),
        token_offset=np.concatenate([[0], np.cumsum(token_count)[:-1]]).astype(np.int64),
        token_count=token_count.astype(np.int64),
        blank_before=blank_sum[start] - blank_sum[previous_end],
        has_blank_before=start > previous_end,
        start=start - utt_start[event_utt],
        end=end - utt_start[event_utt],
        count=count,
        offset=offset,
        final_blank=blank_sum[utt_end] - blank_sum[last_end],
    )


def _frames_per_step(events: _BatchEvents, lengths: np.ndarray) -> np.ndarray:
    """``(max events + 1,)`` input frames the lockstep search gets past at each step.

    Step ``k`` takes every utterance's ``k``-th event: the frames from its previous event's end to its
    own end (blank runs before it included); an utterance's trailing blanks count at the step that
    finishes it (``count``). The steps add up to ``lengths.sum()``.
    """
    n_steps = int(events.count.max(initial=0)) + 1
    utterance = np.repeat(np.arange(events.count.shape[0]), events.count)
    step = np.arange(events.end.shape[0]) - events.offset[utterance]
    previous_end = np.where(step > 0, np.concatenate([[0], events.end[:-1]]), 0)
    frames = np.bincount(step, weights=events.end - previous_end, minlength=n_steps)
    last_end = np.zeros(lengths.shape[0], dtype=np.int64)
    has_events = events.count > 0
    last_end[has_events] = events.end[events.offset[has_events] + events.count[has_events] - 1]
    frames += np.bincount(events.count, weights=lengths - last_end, minlength=n_steps)
    return frames.round().astype(np.int64)


# ----------------------------------------------------------------------------------------------------
# Prefix nodes and word scores
# ----------------------------------------------------------------------------------------------------


class _Nodes:
    """The prefixes of one search (every utterance of a batch): a trie whose nodes carry their scores.

    Per node: ``token`` (last token, -1 for roots), ``parent``, ``utterance``, ``lexicon`` /
    ``hotword`` (trie node of the partial word, -1 when off the trie), ``partial_length``,
    ``context`` (LM context after the last completed word), ``completed`` (fused LM score of the
    completed words) and ``completed_log10`` (their plain log10 probability), ``lm`` (``completed`` +
    the partial word's term: what ranks the prefix), frame spans and the last step it was in a beam.
    ``child[n, c]`` is the node ``n + c`` (``_MISSING`` until built, ``_DEAD`` if never allowed).
    """

    # int32 keeps the table (and every gather over it) half the size; ids stay far below 2**31.
    _FIELDS = (
        ("token", np.int32, -1),
        ("parent", np.int32, -1),
        ("utterance", np.int32, -1),
        ("lexicon", np.int32, NO_NODE),
        ("hotword", np.int32, NO_NODE),
        ("partial_length", np.int32, 0),
        ("context", np.int32, 0),
        ("completed", np.float64, 0.0),
        ("completed_log10", np.float64, 0.0),
        ("lm", np.float64, 0.0),
        ("partial_hash", np.uint64, 0),
        ("start_frame", np.int32, 0),
        ("end_frame", np.int32, 0),
        ("last_step", np.int32, -10),
    )

    def __init__(self, vocab_size: int, capacity: int):
        self.vocab_size = vocab_size
        self.size = 0
        self.child = np.full((capacity, vocab_size), _MISSING, dtype=np.int32)
        for name, dtype, fill in self._FIELDS:
            setattr(self, name, np.full(capacity, fill, dtype=dtype))

    def allocate(self, count: int) -> np.ndarray:
        """Ids of ``count`` new nodes (the arrays grow as needed)."""
        needed = self.size + count
        capacity = self.child.shape[0]
        if needed > capacity:
            while capacity < needed:
                capacity *= 2
            child = np.full((capacity, self.vocab_size), _MISSING, dtype=np.int32)
            child[: self.size] = self.child[: self.size]
            self.child = child
            for name, dtype, fill in self._FIELDS:
                grown = np.full(capacity, fill, dtype=dtype)
                grown[: self.size] = getattr(self, name)[: self.size]
                setattr(self, name, grown)
        ids = np.arange(self.size, needed, dtype=np.int64)
        self.size = needed
        return ids


class _WordScoreTable:
    """``(LM context, word) -> (log10 p, next context)`` looked up for many pairs at once.

    Words are lexicon ids, ``-1`` for an unknown word (KenLM scores every unknown word as ``<unk>``)
    and ``-2`` for ``</s>``. Hits are found with one ``searchsorted`` in a sorted key array; misses go
    to KenLM (via ``NgramLanguageModel``) and wait in a dict until enough of them are merged into the
    arrays. The table lives as long as the decoder, so each pair is scored once per process.
    """

    END = -2

    def __init__(self, language_model: NgramLanguageModel, words: list[str]):
        self.lm = language_model
        self.words = words
        self.stride = len(words) + 2
        self.keys = np.zeros(0, dtype=np.int64)
        self.log10 = np.zeros(0)
        self.next_context = np.zeros(0, dtype=np.int64)
        self.pending: dict[int, tuple[float, int]] = {}

    def _score(self, context: int, word: int) -> tuple[float, int]:
        if word == self.END:
            return self.lm.end_score(context), context
        return self.lm.score_word(context, self.words[word] if word >= 0 else "<unk>")

    def lookup(self, contexts: np.ndarray, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(log10 p, next context) of each ``(contexts[i], words[i])``."""
        keys = contexts.astype(np.int64) * self.stride + (words.astype(np.int64) + 2)
        log10 = np.empty(keys.shape[0])
        next_context = np.empty(keys.shape[0], dtype=np.int64)
        if self.keys.size:
            position = np.minimum(np.searchsorted(self.keys, keys), self.keys.size - 1)
            hit = self.keys[position] == keys
            log10[hit] = self.log10[position[hit]]
            next_context[hit] = self.next_context[position[hit]]
            missing = _nonzero(~hit)
        else:
            missing = np.arange(keys.shape[0])
        if missing.size:
            pending = self.pending
            for i, key in zip(missing.tolist(), keys[missing].tolist()):
                found = pending.get(key)
                if found is None:
                    found = self._score(key // self.stride, key % self.stride - 2)
                    pending[key] = found
                log10[i], next_context[i] = found
            if len(pending) > max(2048, self.keys.size // 4):
                self._merge()
        return log10, next_context

    def _merge(self) -> None:
        new_keys = np.fromiter(self.pending.keys(), dtype=np.int64, count=len(self.pending))
        values = list(self.pending.values())
        keys = np.concatenate([self.keys, new_keys])
        order = np.argsort(keys, kind="stable")
        self.keys = keys[order]
        self.log10 = np.concatenate([self.log10, np.fromiter((v[0] for v in values), dtype=np.float64)])[
            order
        ]
        self.next_context = np.concatenate(
            [self.next_context, np.fromiter((v[1] for v in values), dtype=np.int64)]
        )[order]
        self.pending = {}


_HASH_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1's 64-bit prime; the compiled search uses the same


def partial_word_hash(parent_hashes: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """uint64 hash of each partial word: its parent's extended by one token (0: no partial word)."""
    with np.errstate(over="ignore"):
        return parent_hashes.astype(np.uint64) * _HASH_MULTIPLIER + (tokens.astype(np.uint64) + np.uint64(1))


def _nonzero(mask: np.ndarray) -> np.ndarray:
    """Indices where a 1-D boolean array is true (``np.flatnonzero`` without its Python wrapper)."""
    return mask.nonzero()[0]


def _group_max(scores: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """(n_groups,) highest score per group (``-inf`` for empty groups)."""
    if n_groups == 1:
        return np.array([scores.max()]) if scores.size else np.array([_NEG_INF])
    best = np.full(n_groups, _NEG_INF)
    np.maximum.at(best, groups, scores)
    return best


def _segmented_top(
    scores: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    width: int,
    margin: float,
    best: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of the entries kept per group: within ``margin`` of the group's ``best`` (default: its
    highest score), at most ``width`` (the highest)."""
    if best is None:
        best = _group_max(scores, groups, n_groups)
    keep = ((scores >= best[groups] + margin) & (scores > _NEG_INF)).nonzero()[0]
    if keep.shape[0] <= width:
        return keep
    if n_groups == 1:
        return keep[np.argpartition(-scores[keep], width - 1)[:width]]
    full = np.bincount(groups[keep], minlength=n_groups) > width
    if not full.any():
        return keep
    crowded = full[groups[keep]]
    hard = keep[crowded]  # only the groups over the width need sorting
    hard_groups = groups[hard]
    below = _group_max(scores[hard], hard_groups, n_groups)[hard_groups] - scores[hard]  # >= 0
    # One float sort instead of a two-key lexsort: the group first, then the distance below its best.
    order = hard[np.argsort(hard_groups * (below.max() + 1.0) + below)]
    group_of = groups[order]
    first_of_group = np.concatenate([[0], np.cumsum(np.bincount(group_of, minlength=n_groups))[:-1]])
    rank = np.arange(order.shape[0]) - first_of_group[group_of]
    return np.concatenate([keep[~crowded], order[rank < width]])


def _segment_logsumexp(values: np.ndarray, segments: np.ndarray, n_segments: int) -> np.ndarray:
    """log(sum(exp(values))) per segment id; ``-inf`` where a segment has only ``-inf`` values."""
    peak = np.full(n_segments, _NEG_INF)
    np.maximum.at(peak, segments, values)
    safe_peak = np.where(np.isfinite(peak), peak, 0.0)
    sums = np.zeros(n_segments)
    np.add.at(sums, segments, np.exp(values - safe_peak[segments]))
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(peak), safe_peak + np.log(sums), _NEG_INF)


def _merge_by_node(nodes: np.ndarray, pb: np.ndarray, pnb: np.ndarray, scratch: np.ndarray):
    """Sum (in log space) the ``pb`` / ``pnb`` of entries that reach the same node; unique entries out."""
    scratch[nodes] = np.arange(nodes.shape[0])
    canonical = scratch[nodes]
    first = canonical == np.arange(nodes.shape[0])
    if first.all():
        return nodes, pb, pnb
    compact = (np.cumsum(first) - 1)[canonical]
    n_unique = int(first.sum())
    return nodes[first], _segment_logsumexp(pb, compact, n_unique), _segment_logsumexp(pnb, compact, n_unique)


# ----------------------------------------------------------------------------------------------------
# The search
# ----------------------------------------------------------------------------------------------------


class _BatchSearch:
    """The lockstep beam search of a batch of utterances with fixed options and weights."""

    def __init__(self, decoder: CTCBeamSearchDecoder, options: DecodeOptions):
        self.decoder = decoder
        self.options = options
        self.lm = decoder.language_model
        self.weights = options.weights(self.lm.weights if self.lm is not None else FusionWeights())
        self.lexicon = decoder.lexicon
        words = sorted({w for phrase in options.hotwords for w in phrase.split()})
        self.hotwords = TokenTrie(words, decoder.labels) if words else None
        if self.hotwords is not None and len(self.hotwords) < len(words):
            unspellable = sorted(set(words) - set(self.hotwords.words))
            raise DecodingError(f"hotwords {unspellable} use characters the model's vocabulary cannot spell")
        self.hotword_weight = float(options.hotword_weight)

        self.start_context = self.lm.start_context(self.weights.score_boundary) if self.lm is not None else 0
        # alpha * ln(10) * unk_score_offset, what an unknown word adds (0 with alpha 0, even for -inf)
        self.unknown_word_term = (
            self.weights.alpha * LN10 * self.weights.unk_score_offset if self.weights.alpha else 0.0
        )
        # Lexicon mode spells unknown words too, at the unknown-word score, unless that score is -inf.
        self.only_lexicon_words = options.lexicon and self.weights.unk_score_offset == _NEG_INF
        hotword_bound = max(0.0, self.hotword_weight) if self.hotwords is not None else 0.0
        self.char_bound = hotword_bound
        self.word_bound = hotword_bound + (max(0.0, self.weights.beta) if self.lm is not None else 0.0)

    # ---------------------------------------------------------------- LM terms

    def _partial_terms(
        self, lexicon_nodes: np.ndarray, hotword_nodes: np.ndarray, lengths: np.ndarray
    ) -> np.ndarray:
        """LM part of partial words: a hotword's share, else 0 on the lexicon, else the OOV penalty.

        In lexicon mode, the look-ahead instead: on the lexicon the best unigram of the words the partial
        word starts; off it at least what an unknown word will cost (``unknown_word_term``)."""
        if self.lm is not None:
            known = 0.0
            penalty = self.weights.unk_score_offset * np.maximum(1.0, lengths / _AVERAGE_WORD_LENGTH)
            if self.options.lexicon:
                lookahead = self.decoder.lookahead_log10()[np.maximum(lexicon_nodes, 0)]
                known = self.weights.alpha * LN10 * lookahead
                penalty = np.minimum(penalty, self.unknown_word_term)
            terms = np.where(lexicon_nodes >= 0, known, penalty)
        else:
            terms = np.zeros(lengths.shape[0])
        if self.hotwords is not None:
            safe = np.maximum(hotword_nodes, 0)
            share = self.hotwords.depth[safe] / self.hotwords.shortest_below[safe]
            terms = np.where(hotword_nodes >= 0, self.hotword_weight * share, terms)
        return terms

    def _complete_words(self, lexicon_nodes, hotword_nodes, contexts, strict: bool):
        """Scores of completing the partial words ending at these trie nodes after these LM contexts.

        Returns (allowed, fused score, plain log10, next context); with ``only_lexicon_words`` (and
        ``strict``) an unknown word is not allowed.
        """
        n = contexts.shape[0]
        word_ids = self.lexicon.word_at(lexicon_nodes) if self.lexicon is not None else np.full(n, _OOV_WORD)
        is_hotword = (
            self.hotwords.word_at(hotword_nodes) >= 0 if self.hotwords is not None else np.zeros(n, bool)
        )
        known = (word_ids >= 0) | is_hotword
        allowed = known | (not (strict and self.only_lexicon_words))
        bonus = np.where(is_hotword, self.hotword_weight, 0.0)
        if self.lm is None:
            return allowed, bonus, np.zeros(n), contexts.copy()
        log10, next_context = self.decoder._word_scores.lookup(contexts, word_ids)
        fused = (
            self.weights.alpha * LN10 * log10
            + np.where(known, 0.0, self.unknown_word_term)
            + self.weights.beta
        )
        fused += bonus
        return allowed, fused, log10, next_context

    # ---------------------------------------------------------------- nodes

    def _roots(self, nodes: _Nodes, n_utterances: int) -> np.ndarray:
        roots = nodes.allocate(n_utterances)
        nodes.utterance[roots] = np.arange(n_utterances)
        nodes.lexicon[roots] = ROOT if self.lexicon is not None else NO_NODE
        nodes.hotword[roots] = ROOT if self.hotwords is not None else NO_NODE
        nodes.context[roots] = self.start_context
        # Between words a delimiter changes nothing ("A||B" is "A|B"): the child is the node itself.
        nodes.child[roots, self.decoder.delimiter] = roots
        return roots

    def _prospects(self, nodes: _Nodes, parents: np.ndarray, tokens: np.ndarray):
        """What the nodes ``parents[i] + tokens[i]`` would be, without building them.

        Returns (lexicon node, hotword node, partial length, LM part). The LM part is exact for a
        character (the trie says whether the partial word stays known) and an upper bound for a
        delimiter (the word's LM probability is only looked up when the node is built); ``-inf``
        where lexicon mode forbids the node.
        """
        n = parents.shape[0]
        completed = nodes.completed[parents]
        lexicon = (
            self.lexicon.step(nodes.lexicon[parents], tokens)
            if self.lexicon is not None
            else np.full(n, NO_NODE)
        )
        hotword = (
            self.hotwords.step(nodes.hotword[parents], tokens)
            if self.hotwords is not None
            else np.full(n, NO_NODE)
        )
        length = nodes.partial_length[parents] + 1
        lm = completed + self._partial_terms(lexicon, hotword, length)
        if self.only_lexicon_words:
            lm[(lexicon < 0) & (hotword < 0)] = _NEG_INF
        ends = _nonzero(tokens == self.decoder.delimiter)
        if ends.size:
            p = parents[ends]
            word = (
                self.lexicon.word_at(nodes.lexicon[p]) if self.lexicon is not None else np.full(ends.size, -1)
            )
            hot = (
                self.hotwords.word_at(nodes.hotword[p]) >= 0
                if self.hotwords is not None
                else np.zeros(ends.size, dtype=bool)
            )
            known = (word >= 0) | hot
            bound = completed[ends] + np.where(hot, self.hotword_weight, 0.0)
            if self.lm is not None:
                bound += self.weights.beta + np.where(known, 0.0, min(0.0, self.unknown_word_term))
            if self.only_lexicon_words:
                bound[~known] = _NEG_INF
            lm[ends] = bound
        return lexicon, hotword, length, lm

    def _create(self, nodes: _Nodes, parents, tokens, lexicon, hotword, length, lm) -> np.ndarray:
        """Build the nodes ``parents[i] + tokens[i]`` from their ``_prospects``; returns their ids."""
        ids = nodes.allocate(parents.shape[0])
        new = slice(int(ids[0]), int(ids[-1]) + 1)  # new ids are contiguous: slice writes, no scatter
        nodes.token[new] = tokens
        nodes.parent[new] = parents
        nodes.utterance[new] = nodes.utterance[parents]
        nodes.completed[new] = nodes.completed[parents]
        nodes.completed_log10[new] = nodes.completed_log10[parents]
        nodes.context[new] = nodes.context[parents]
        nodes.lexicon[new] = lexicon
        nodes.hotword[new] = hotword
        nodes.partial_length[new] = length
        nodes.lm[new] = lm
        nodes.partial_hash[new] = partial_word_hash(nodes.partial_hash[parents], tokens)
        delimiter = self.decoder.delimiter
        ends = _nonzero(tokens == delimiter)  # the delimiter completes the (non-empty) partial word
        if ends.size:
            p = parents[ends]
            _, fused, log10, next_context = self._complete_words(
                nodes.lexicon[p], nodes.hotword[p], nodes.context[p], strict=False
            )
            done = ids[ends]
            nodes.completed[done] += fused
            nodes.completed_log10[done] += log10
            nodes.context[done] = next_context
            nodes.lm[done] = nodes.completed[done]
            nodes.partial_length[done] = 0
            nodes.partial_hash[done] = 0
            nodes.lexicon[done] = ROOT if self.lexicon is not None else NO_NODE
            nodes.hotword[done] = ROOT if self.hotwords is not None else NO_NODE
            nodes.child[done, delimiter] = done
        nodes.child[parents, tokens] = ids
        return ids

    # ---------------------------------------------------------------- stepping

    def run(
        self, events: _BatchEvents, on_step: Callable[[int], None] | None = None
    ) -> list[list[Hypothesis]]:
        """The hypotheses of every utterance; ``on_step(step)`` is called after each lockstep step."""
        n_utt = events.count.shape[0]
        width = self.options.beam_width
        nodes = _Nodes(len(self.decoder.labels), capacity=max(4096, 8 * n_utt * min(width, 64)))
        beam_nodes = self._roots(nodes, n_utt)
        pb = np.zeros(n_utt)
        pnb = np.full(n_utt, _NEG_INF)
        finished_nodes: list[np.ndarray] = []
        finished_scores: list[np.ndarray] = []
        scratch = np.zeros(nodes.child.shape[0], dtype=np.int64)

        for step in range(int(events.count.max(initial=0)) + 1):
            utt = nodes.utterance[beam_nodes]
            done = events.count[utt] <= step
            if done.any():
                finished_nodes.append(beam_nodes[done])
                finished_scores.append(np.logaddexp(pb[done], pnb[done]) + events.final_blank[utt[done]])
                keep = ~done
                beam_nodes, pb, pnb, utt = beam_nodes[keep], pb[keep], pnb[keep], utt[keep]
            if beam_nodes.size == 0:
                if on_step is not None:
                    on_step(step)
                break
            event = events.offset[utt] + step
            blank_run = events.has_blank_before[event]
            if blank_run.any():
                merged = np.logaddexp(pb, pnb) + events.blank_before[event]
                pb = np.where(blank_run, merged, pb)
                pnb = np.where(blank_run, _NEG_INF, pnb)
            if scratch.shape[0] < nodes.size:
                scratch = np.zeros(nodes.child.shape[0], dtype=np.int64)
            beam_nodes, pb, pnb = self._step(nodes, events, step, event, beam_nodes, pb, pnb, n_utt, scratch)
            if on_step is not None:
                on_step(step)
        return self._finish(nodes, np.concatenate(finished_nodes), np.concatenate(finished_scores), n_utt)

    def _step(self, nodes: _Nodes, events: _BatchEvents, step, event, beam_nodes, pb, pnb, n_utt, scratch):
        """Advance every beam by its utterance's next event. Shapes: (N,) beams in, (N',) beams out."""
        options = self.options
        event_lp = events.log_probs
        total = np.logaddexp(pb, pnb)
        last = nodes.token[beam_nodes]

        # Paths staying on their prefix: a blank, or the last token again (CTC collapses repeats).
        stay_b = total + event_lp[event, self.decoder.blank]
        stay_nb = np.where(last >= 0, pnb + event_lp[event, np.maximum(last, 0)], _NEG_INF)

        # Paths extending their prefix by one of the event's candidate tokens: one entry per (beam, token).
        counts = events.token_count[event]
        pair_beam = np.repeat(np.arange(beam_nodes.shape[0]), counts)
        first_pair = np.repeat(np.cumsum(counts) - counts, counts)
        pair_token = events.tokens[
            events.token_offset[event][pair_beam] + np.arange(pair_beam.shape[0]) - first_pair
        ]
        pair_event = event[pair_beam]
        extend = (
            np.where(last[pair_beam] == pair_token, pb[pair_beam], total[pair_beam])
            + event_lp[pair_event, pair_token]
        )
        parents = beam_nodes[pair_beam]
        children = nodes.child[parents, pair_token]
        live = extend > _NEG_INF

        built = (children >= 0) & live
        merged_nodes, merged_b, merged_nb = _merge_by_node(
            np.concatenate([beam_nodes, children[built]]),
            np.concatenate([stay_b, np.full(int(built.sum()), _NEG_INF)]),
            np.concatenate([stay_nb, extend[built]]),
            scratch,
        )
        exact = np.logaddexp(merged_b, merged_nb) + nodes.lm[merged_nodes]

        # Prefixes not built yet. A cheap upper bound first (the parent's completed words; a completed
        # word gains at most beta, a partial one nothing, a hotword its weight) drops the hopeless ones:
        # below the utterance's best exact score minus the margin nothing survives.
        n_exact = exact.shape[0]
        exact_groups = nodes.utterance[merged_nodes]
        best = _group_max(exact, exact_groups, n_utt)
        missing = _nonzero((children == _MISSING) & live)
        miss_token = pair_token[missing]
        miss_parent = parents[missing]
        miss_src = extend[missing]
        ends_word = miss_token == self.decoder.delimiter
        cheap = (
            miss_src + nodes.completed[miss_parent] + np.where(ends_word, self.word_bound, self.char_bound)
        )
        hopeful = _nonzero(cheap >= best[nodes.utterance[miss_parent]] + options.beam_prune_logp)
        if hopeful.size < missing.size:
            miss_token, miss_parent, miss_src, ends_word = (
                miss_token[hopeful],
                miss_parent[hopeful],
                miss_src[hopeful],
                ends_word[hopeful],
            )
        prospect = self._prospects(nodes, miss_parent, miss_token)
        forbidden = prospect[3] == _NEG_INF
        if forbidden.any():  # lexicon mode: never build these
            nodes.child[miss_parent[forbidden], miss_token[forbidden]] = _DEAD
        estimate = miss_src + prospect[3]  # exact for characters, an upper bound for completed words
        miss_groups = nodes.utterance[miss_parent]
        characters = ~ends_word
        if characters.any():  # exact scores: they may raise an utterance's best
            best = np.maximum(best, _group_max(estimate[characters], miss_groups[characters], n_utt))

        keep = _segmented_top(
            np.concatenate([exact, estimate]),
            np.concatenate([exact_groups, miss_groups]),
            n_utt,
            options.beam_width,
            options.beam_prune_logp,
            best,
        )
        keep_exact = keep[keep < n_exact]
        keep_miss = keep[keep >= n_exact] - n_exact
        out_nodes = merged_nodes[keep_exact]
        out_b = merged_b[keep_exact]
        out_nb = merged_nb[keep_exact]
        if keep_miss.size:
            made = self._create(
                nodes, miss_parent[keep_miss], miss_token[keep_miss], *(x[keep_miss] for x in prospect)
            )
            out_nodes = np.concatenate([out_nodes, made])
            out_b = np.concatenate([out_b, np.full(made.shape[0], _NEG_INF)])
            out_nb = np.concatenate([out_nb, miss_src[keep_miss]])
            if ends_word[keep_miss].any():  # completed words were ranked by a bound: rank again, exactly
                top = _segmented_top(
                    np.logaddexp(out_b, out_nb) + nodes.lm[out_nodes],
                    nodes.utterance[out_nodes],
                    n_utt,
                    options.beam_width,
                    options.beam_prune_logp,
                )
                out_nodes, out_b, out_nb = out_nodes[top], out_b[top], out_nb[top]

        # An utterance left without any beam (lexicon mode: no allowed path through this event) keeps
        # its beams, charged the event's best log-probability, rather than vanishing.
        survivors = np.bincount(nodes.utterance[out_nodes], minlength=n_utt) > 0
        stranded = ~survivors[nodes.utterance[beam_nodes]]
        if stranded.any():
            best_lp = event_lp[event[stranded]].max(axis=1)
            out_nodes = np.concatenate([out_nodes, beam_nodes[stranded]])
            out_b = np.concatenate([out_b, total[stranded] + best_lp])
            out_nb = np.concatenate([out_nb, np.full(int(stranded.sum()), _NEG_INF)])

        if options.prunes_history() and out_nodes.size > 1:
            out_nodes, out_b, out_nb = self._prune_history(nodes, out_nodes, out_b, out_nb)

        if options.word_offsets:
            # Frame spans: a prefix entering the beam starts at this event; one emitting its token
            # extends to it.
            out_event = events.offset[nodes.utterance[out_nodes]] + step
            entered = nodes.last_step[out_nodes] != step - 1
            nodes.start_frame[out_nodes[entered]] = events.start[out_event[entered]]
            emitting = entered | (out_nb > _NEG_INF)
            nodes.end_frame[out_nodes[emitting]] = events.end[out_event[emitting]]
            nodes.last_step[out_nodes] = step
        return out_nodes, out_b, out_nb

    @staticmethod
    def _prune_history(nodes: _Nodes, out_nodes, out_b, out_nb):
        """The beams left when, of those sharing (utterance, LM context, partial word, last token), only
        the best-scoring stays (its order kept; ties: the earlier one)."""
        scores = np.logaddexp(out_b, out_nb) + nodes.lm[out_nodes]
        keys = (
            nodes.token[out_nodes],
            nodes.partial_hash[out_nodes],
            nodes.context[out_nodes],
            nodes.utterance[out_nodes],
        )
        order = np.lexsort((np.arange(out_nodes.shape[0]), -scores, *keys))
        sorted_keys = [key[order] for key in keys]
        first = np.ones(order.shape[0], dtype=bool)
        first[1:] = np.logical_or.reduce([key[1:] != key[:-1] for key in sorted_keys])
        keep = np.sort(order[first])
        return out_nodes[keep], out_b[keep], out_nb[keep]

    # ---------------------------------------------------------------- the end

    def _final_scores(self, nodes: _Nodes, canonical: np.ndarray, strict: bool):
        """(allowed, final fused LM score, plain log10) of ending beams at ``canonical`` nodes."""
        lm_score = nodes.completed[canonical]
        log10 = nodes.completed_log10[canonical]
        context = nodes.context[canonical]
        allowed = np.ones(canonical.shape[0], dtype=bool)
        open_word = _nonzero(nodes.partial_length[canonical] > 0)
        if open_word.size:
            c = canonical[open_word]
            ok, fused, word_log10, next_context = self._complete_words(
                nodes.lexicon[c], nodes.hotword[c], nodes.context[c], strict
            )
            allowed[open_word] = ok
            lm_score[open_word] += fused
            log10[open_word] += word_log10
            context[open_word] = next_context
        if self.lm is not None and self.weights.score_boundary:
            end, _ = self.decoder._word_scores.lookup(context, np.full(context.shape[0], _WordScoreTable.END))
            lm_score = lm_score + self.weights.alpha * LN10 * end
            log10 = log10 + end
        return allowed, lm_score, log10

    @staticmethod
    def _word_start(nodes: _Nodes, ends: np.ndarray) -> np.ndarray:
        """The node before the unfinished last word of each prefix (the prefix itself if none)."""
        current = ends.copy()
        while True:
            open_word = nodes.partial_length[current] > 0
            if not open_word.any():
                return current
            current = np.where(open_word, nodes.parent[current], current)

    def _finish(self, nodes: _Nodes, beam_nodes: np.ndarray, acoustic: np.ndarray, n_utt: int):
        """Score each final beam's last word and ``</s>``, merge equal texts, keep the ``n_best``."""
        delimiter = self.decoder.delimiter
        # "A B" and "A B|" are the same text: count both under the node before the delimiter.
        canonical = np.where(nodes.token[beam_nodes] == delimiter, nodes.parent[beam_nodes], beam_nodes)
        utt = nodes.utterance[canonical]
        allowed, lm_score, log10 = self._final_scores(nodes, canonical, strict=True)
        if self.only_lexicon_words:
            # An utterance whose beams all end inside a word (lexicon mode cannot complete it) drops that
            # unfinished word rather than returning nothing or a word outside the lexicon.
            stuck = np.bincount(utt[allowed], minlength=n_utt) == 0
            if stuck.any():
                redo = _nonzero(stuck[utt])
                canonical[redo] = self._word_start(nodes, canonical[redo])
                allowed[redo], lm_score[redo], log10[redo] = self._final_scores(
                    nodes, canonical[redo], strict=False
                )
        canonical, acoustic, lm_score, log10 = (
            canonical[allowed],
            acoustic[allowed],
            lm_score[allowed],
            log10[allowed],
        )
        unique, first, inverse = np.unique(canonical, return_index=True, return_inverse=True)
        merged_acoustic = _segment_logsumexp(acoustic, inverse.reshape(-1), unique.shape[0])
        lm_score, log10 = lm_score[first], log10[first]
        totals = merged_acoustic + lm_score
        utt = nodes.utterance[unique]
        order = np.lexsort((-totals, utt))
        first_of_utt = np.concatenate([[0], np.cumsum(np.bincount(utt, minlength=n_utt))[:-1]])
        rank = np.arange(order.shape[0]) - first_of_utt[utt[order]]
        chosen = order[rank < self.options.n_best]

        results: list[list[Hypothesis]] = [[] for _ in range(n_utt)]
        texts = self._texts(nodes, unique[chosen])
        for i, (words, offsets) in zip(chosen.tolist(), texts):
            results[int(utt[i])].append(
                Hypothesis(
                    text=" ".join(words),
                    acoustic_score=float(merged_acoustic[i]),
                    lm_score=float(lm_score[i]),
                    total_score=float(totals[i]),
                    lm_log10_probability=float(log10[i]) if self.lm is not None else None,
                    word_offsets=offsets,
                )
            )
        return results

    def _texts(self, nodes: _Nodes, ends: np.ndarray) -> list[tuple[list[str], list[WordOffset]]]:
        """Words (and, if asked, word frame spans) of the prefixes ending at ``ends``.

        The chains up to the roots are walked for all prefixes at once; a row of the resulting token
        matrix becomes text with one C-level join (the delimiter's label is a space).
        """
        chains: list[np.ndarray] = []
        current = ends.copy()
        while True:
            active = nodes.token[current] >= 0
            if not active.any():
                break
            chains.append(np.where(active, current, -1))
            current = np.where(active, nodes.parent[current], current)
        matrix = np.stack(chains[::-1], axis=1) if chains else np.full((ends.shape[0], 0), -1)
        tokens = np.where(matrix >= 0, nodes.token[np.maximum(matrix, 0)], -1)
        labels = np.asarray([*self.decoder.labels, ""], dtype=object)  # index -1: padding
        out = []
        for row_nodes, row_labels in zip(matrix, labels[tokens]):
            words = "".join(row_labels.tolist()).split()
            offsets = self._offsets(nodes, row_nodes[row_nodes >= 0]) if self.options.word_offsets else []
            out.append((words, offsets))
        return out

    def _offsets(self, nodes: _Nodes, chain: np.ndarray) -> list[WordOffset]:
        """Word frame spans along a chain of nodes (first character's start to last character's end)."""
        labels = self.decoder.labels
        delimiter = self.decoder.delimiter
        offsets: list[WordOffset] = []
        word: list[str] = []
        start = stop = 0
        for token, first_frame, last_frame in zip(
            nodes.token[chain].tolist(), nodes.start_frame[chain].tolist(), nodes.end_frame[chain].tolist()
        ):
            if token == delimiter:
                if word:
                    offsets.append(WordOffset("".join(word), start, stop))
                    word = []
                continue
            if not word:
                start = first_frame
            word.append(labels[token])
            stop = last_frame
        if word:
            offsets.append(WordOffset("".join(word), start, stop))
        return offsets


# ----------------------------------------------------------------------------------------------------
# The decoder
# ----------------------------------------------------------------------------------------------------


class CTCBeamSearchDecoder:
    """Beam search over CTC outputs with an optional n-gram LM (word-level shallow fusion).

    Args:
        labels: one label per logit column in pyctcdecode's alphabet convention (``""`` blank, ``" "``
            word delimiter, ``"⁇"`` unknown); ``alphabet.labels_from_vocabulary`` makes them from a
            tokenizer vocabulary. Special multi-character labels (``<s>``, ``</s>``) are never emitted.
        language_model: the n-gram LM, or ``None`` for beam search without one.
    """

    def __init__(
        self,
        labels: Sequence[str],
        language_model: NgramLanguageModel | None = None,
        engine: str | None = None,
    ):
        self.labels = list(labels)
        check_labels(self.labels)
        self.blank = self.labels.index(BLANK_LABEL)
        self.delimiter = self.labels.index(DELIMITER_LABEL)
        self.never_emitted = np.asarray(
            [i for i, label in enumerate(self.labels) if len(label) > 1 and SPECIAL_TOKEN.match(label)],
            dtype=np.int64,
        )
        self.language_model = language_model
        self.lexicon = TokenTrie(language_model.unigrams, self.labels) if language_model is not None else None
        self._word_scores = (
            _WordScoreTable(language_model, self.lexicon.words) if language_model is not None else None
        )
        self._lookahead: np.ndarray | None = None
        self.engine = choose_engine(engine)
        self._compiled = (
            CompiledSearch(
                len(self.labels),
                self.blank,
                self.delimiter,
                self.never_emitted,
                self.lexicon,
                self._word_scores,
                logits_error=DecodingError,
            )
            if self.engine == "compiled"
            else None
        )

    def lookahead_log10(self) -> np.ndarray:
        """(lexicon trie nodes,) the best unigram log10 probability of the words through each node (the
        lexicon mode's LM look-ahead; computed once, on first use)."""
        if self._lookahead is None:
            null = self.language_model.start_context(False)
            unigram = [self.language_model.score_word(null, word)[0] for word in self.lexicon.words]
            self._lookahead = self.lexicon.best_below(np.asarray(unigram, dtype=np.float64))
            if self._compiled is not None:
                self._compiled.set_lookahead(self._lookahead)
        return self._lookahead

    def check_logits(self, logits) -> np.ndarray:
        """``logits`` as a (frames, labels) float array, with errors that say what is wrong."""
        array = np.asarray(logits)
        if array.ndim != 2:
            raise DecodingError(
                f"logits of one utterance must be 2-D (frames, vocabulary); got shape {array.shape}"
            )
        if array.shape[0] == 0:
            raise DecodingError(
                "empty logits (0 frames): the audio is too short for the model to emit anything"
            )
        if array.shape[1] != len(self.labels):
            raise DecodingError(
                f"logits have {array.shape[1]} columns but the decoder's alphabet has {len(self.labels)} labels; "
                "the LM folder's alphabet.json does not belong to this model's vocabulary"
            )
        if not np.issubdtype(array.dtype, np.floating):
            raise DecodingError(f"logits must be floating point; got {array.dtype}")
        return array

    def decode_batch(
        self,
        logits_list: Sequence[np.ndarray],
        options: DecodeOptions | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[list[Hypothesis]]:
        """The ``options.n_best`` best hypotheses of each utterance, best first, in one lockstep search.

        Args:
            logits_list: one (frames, vocabulary) array of logits or log-probabilities per utterance
                (unpadded; lengths may differ).
            on_progress: called with a number of frames as the search gets past them (for a progress
                bar); the calls add up to the total frames of ``logits_list``.
        """
        options = options or DecodeOptions()
        arrays = [self.check_logits(logits) for logits in logits_list]
        if self._compiled is not None and not options.hotwords and not options.word_offsets:
            return self._decode_compiled(arrays, options, on_progress)
        results: list[list[Hypothesis]] = []
        n_chunks = max(1, math.ceil(len(arrays) / options.lockstep_utterances))
        bounds = np.linspace(0, len(arrays), n_chunks + 1).round().astype(int)  # equal chunks
        for first, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            chunk = arrays[first:stop]
            lengths = np.asarray([a.shape[0] for a in chunk], dtype=np.int64)
            # Model logits are float32, which is enough for the per-frame work (pruning, normalising);
            # float64 input stays float64. Scores accumulate in float64 either way.
            dtype = np.float64 if any(a.dtype == np.float64 for a in chunk) else np.float32
            by_token = np.concatenate([a.T for a in chunk], axis=1, dtype=dtype)  # one copy, token-major
            events = _batch_events(by_token, lengths, self.blank, self.never_emitted, options)
            on_step = None
            if on_progress is not None:
                frames = _frames_per_step(events, lengths)

                def on_step(step: int, frames=frames) -> None:
                    if frames[step]:
                        on_progress(int(frames[step]))

            results.extend(_BatchSearch(self, options).run(events, on_step))
        return results

    def _decode_compiled(
        self, arrays: list[np.ndarray], options: DecodeOptions, on_progress: Callable[[int], None] | None
    ) -> list[list[Hypothesis]]:
        """``decode_batch`` through the compiled search, one utterance after another."""
        weights = options.weights(
            self.language_model.weights if self.language_model is not None else FusionWeights()
        )
        start = (
            self.language_model.start_context(weights.score_boundary)
            if self.language_model is not None
            else 0
        )
        has_lm = self.language_model is not None
        if options.lexicon and has_lm:
            self.lookahead_log10()  # hands the look-ahead to the compiled search too
        labels = self.labels
        results = []
        for array in arrays:
            found = self._compiled.search(array, options, weights, start)
            results.append(
                [
                    Hypothesis(
                        text=" ".join("".join([labels[t] for t in tokens]).split()),
                        acoustic_score=acoustic,
                        lm_score=lm_score,
                        total_score=total,
                        lm_log10_probability=log10 if has_lm else None,
                        word_offsets=[],
                    )
                    for tokens, acoustic, lm_score, total, log10 in found
                ]
            )
            if on_progress is not None:
                on_progress(int(array.shape[0]))
        return results

    def decode(self, logits: np.ndarray, options: DecodeOptions | None = None) -> list[Hypothesis]:
        """The ``options.n_best`` best hypotheses of one utterance (``logits``: (frames, vocabulary))."""
        return self.decode_batch([logits], options)[0]

    def decode_beams(self, logits: np.ndarray, beam_width: int = 32, **kwargs) -> list[tuple]:
        """pyctcdecode-shaped output, so transformers' ASR pipeline can use this decoder (``decoder=``).

        Returns ``[(text, None, [(word, (start, end)), ...], acoustic_score, total_score), ...]``.
        """
        options = DecodeOptions.from_kwargs(beam_width=beam_width, word_offsets=True, **kwargs)
        return [
            (
                h.text,
                None,
                [(w.word, (w.start_offset, w.end_offset)) for w in h.word_offsets],
                h.acoustic_score,
                h.total_score,
            )
            for h in self.decode(logits, options)
        ]
