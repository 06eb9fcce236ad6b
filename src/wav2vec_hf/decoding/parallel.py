"""Decoding across processes with one pool that lives as long as its owner.

A ``DecoderSpec`` says how to build a decoder (labels, LM file, unigrams, weights); it is small and
picklable. Each worker builds the decoder of a spec the first time a task names it and keeps it (and
its word-score caches) for every later task, so a pool serves many ``decode`` calls and even
several decoders. Because tasks carry the spec, any pool works: the ``DecoderPool`` made here with
the ``fork`` or ``spawn`` start method, or a ``multiprocessing`` pool the caller made.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from wav2vec_hf.decoding.decoder import CTCBeamSearchDecoder, DecodeOptions, Hypothesis
from wav2vec_hf.decoding.language_model import FusionWeights, NgramLanguageModel


@dataclass(frozen=True)
class DecoderSpec:
    """A picklable recipe for a ``CTCBeamSearchDecoder``.

    Attributes:
        labels: the decoder labels.
        lm_path: the KenLM file (``None``: no LM).
        unigrams: the known words (ignored without an LM).
        weights: default fusion weights.
    """

    labels: tuple[str, ...]
    lm_path: str | None = None
    unigrams: tuple[str, ...] = ()
    weights: FusionWeights | None = None

    @classmethod
    def of(cls, decoder: CTCBeamSearchDecoder) -> DecoderSpec:
        lm = decoder.language_model
        if lm is None:
            return cls(tuple(decoder.labels))
        return cls(tuple(decoder.labels), str(lm.path), tuple(lm.unigrams), lm.weights)

    def build(self) -> CTCBeamSearchDecoder:
        lm = None
        if self.lm_path is not None:
            lm = NgramLanguageModel.from_file(self.lm_path, self.unigrams, self.weights)
        return CTCBeamSearchDecoder(self.labels, lm)

    @property
    def key(self) -> tuple:
        # Unigram lists can be long: identify them by length and hash, not by value, in the cache key.
        return (self.labels, self.lm_path, len(self.unigrams), hash(self.unigrams))


_WORKER_DECODERS: dict[tuple, CTCBeamSearchDecoder] = {}


def _worker_decoder(spec: DecoderSpec) -> CTCBeamSearchDecoder:
    decoder = _WORKER_DECODERS.get(spec.key)
    if decoder is None:
        decoder = spec.build()
        _WORKER_DECODERS[spec.key] = decoder
    return decoder


def _decode_task(task: tuple[DecoderSpec, list[np.ndarray], DecodeOptions]) -> list[list[Hypothesis]]:
    spec, logits_list, options = task
    decoder = _worker_decoder(spec)
    if spec.weights is not None and decoder.language_model is not None:
        decoder.language_model.weights = spec.weights
    return decoder.decode_batch(logits_list, options)


def _chunks(lengths: Sequence[int], n_chunks: int) -> list[range]:
    """Contiguous index ranges with about equal frame totals (lockstep search likes big chunks)."""
    total = float(sum(lengths)) or 1.0
    bounds = [0]
    running = 0.0
    for i, length in enumerate(lengths):
        running += length
        if running >= total * len(bounds) / n_chunks and len(bounds) < n_chunks and i + 1 < len(lengths):
            bounds.append(i + 1)
    bounds.append(len(lengths))
    return [range(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def decode_in_pool(
    pool,
    spec: DecoderSpec,
    logits_list: Sequence[np.ndarray],
    options: DecodeOptions,
    n_chunks: int,
    on_progress: Callable[[int], None] | None = None,
) -> list[list[Hypothesis]]:
    """Decode ``logits_list`` in ``pool`` (any ``multiprocessing`` pool), ``n_chunks`` tasks, order kept.

    ``on_progress(frames)`` is called with each task's frames as its result arrives (in task order).
    """
    lengths = [np.shape(x)[0] for x in logits_list]
    ranges = _chunks(lengths, max(1, n_chunks))
    tasks = [(spec, [logits_list[i] for i in r], options) for r in ranges]
    results: list[list[Hypothesis]] = []
    for r, part in zip(ranges, pool.imap(_decode_task, tasks, chunksize=1), strict=True):
        results.extend(part)
        if on_progress is not None:
            on_progress(int(sum(lengths[i] for i in r)))
    return results


class DecoderPool:
    """A process pool for decoding, created once and reused by every ``decode`` call until ``close``.

    Args:
        processes: worker processes (default: the usable CPU cores).
        start_method: ``"fork"``, ``"spawn"`` or ``"forkserver"`` (default: the platform's).
    """

    def __init__(self, processes: int | None = None, start_method: str | None = None):
        if processes is None:
            processes = (
                len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            )
        if processes < 1:
            raise ValueError(f"processes={processes}: give at least 1")
        self.processes = processes
        self.start_method = start_method or multiprocessing.get_start_method()
        self._pool = multiprocessing.get_context(self.start_method).Pool(processes)

    def decode(
        self,
        spec: DecoderSpec,
        logits_list: Sequence[np.ndarray],
        options: DecodeOptions,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[list[Hypothesis]]:
        """Decode across the workers; one lockstep batch per worker (results in input order).

        ``on_progress(frames)``: as ``decode_in_pool``.
        """
        if self._pool is None:
            raise RuntimeError("this DecoderPool is closed")
        return decode_in_pool(self._pool, spec, logits_list, options, self.processes, on_progress)

    @property
    def closed(self) -> bool:
        return self._pool is None

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> DecoderPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.terminate()
