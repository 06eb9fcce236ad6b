"""The one greedy (best-path) CTC decoder: logits or frame ids -> text.

Used by decoding and scoring (``decoder.greedy_decode``), the fine-tuning metrics
(``finetuning.metrics.CTCMetrics``), self-training's evaluation (``selftraining.evaluation``) and
the benchmarks, so a transcript is the same text wherever it is made.

The rule, on decoder labels (``alphabet.labels_from_vocabulary``: ``""`` blank, ``" "`` word
delimiter, ``"⁇"`` unknown):

1. argmax per frame; runs of the same id merge into one (CTC repeats);
2. blanks are dropped (so a blank between two equal tokens keeps both: ``A _ A`` -> ``AA``);
3. the word delimiter is a space; spaces are stripped at both ends and runs of them become one;
4. ``<unk>`` becomes one ``unknown`` mark per emission (default ``"⁇"``, pyctcdecode's and the beam
   search's label, so greedy and LM transcripts agree); other special tokens (``<s>``, ``</s>``,
   any ``<...>`` / ``[...]`` label) are dropped.

This is ``Wav2Vec2CTCTokenizer.decode`` for ordinary text; it differs only where that writes
``<unk>`` (here one mark, so it costs one character in CER, not five), keeps ``<s>`` / ``</s>``,
or leaves two spaces where a blank separates two delimiters.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wav2vec_hf.decoding.alphabet import SPECIAL_TOKEN, UNK_LABEL, labels_from_vocabulary


def greedy_decode_ids(
    ids: Sequence[int] | np.ndarray, labels: Sequence[str], unknown: str = UNK_LABEL
) -> str:
    """Text of one utterance's best-path ids ``(frames,)`` by the module's rule.

    Args:
        ids: the argmax token id of each frame; negative ids (padding, ``-100``) count as blank.
        labels: decoder labels, one per token id.
        unknown: what an ``<unk>`` emission writes.
    """
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    blank = list(labels).index("")
    ids = np.where(ids < 0, blank, ids)
    keep = np.concatenate([[True], ids[1:] != ids[:-1]]) if ids.size else ids.astype(bool)
    pieces = []
    for token in ids[keep].tolist():
        label = labels[token]
        if label == UNK_LABEL:
            pieces.append(unknown)
        elif not SPECIAL_TOKEN.match(label):
            pieces.append(label)
    return " ".join("".join(pieces).split())


def greedy_decode(logits: np.ndarray, labels: Sequence[str], unknown: str = UNK_LABEL) -> str:
    """Best-path transcription of one utterance's ``(frames, vocabulary)`` logits (or log-probabilities)."""
    return greedy_decode_ids(np.asarray(logits).argmax(axis=-1), labels, unknown)


def tokenizer_labels(tokenizer) -> list[str]:
    """Decoder labels of a ``Wav2Vec2CTCTokenizer``: its pad token is the blank, its unk token the
    unknown mark, its word delimiter the space (whatever those tokens are called)."""
    delimiter = getattr(tokenizer, "word_delimiter_token", None) or "|"
    special = {tokenizer.pad_token_id: "<pad>", tokenizer.unk_token_id: "<unk>"}
    vocabulary = {special.get(i, token): i for token, i in tokenizer.get_vocab().items()}
    return labels_from_vocabulary(vocabulary, word_delimiter=delimiter)


__all__ = ["greedy_decode", "greedy_decode_ids", "tokenizer_labels"]
