"""The logits a decoder benchmark runs on (``decoder_comparison.py``): a fine-tuned model's outputs on
labelled audio, or synthetic emissions of held-out sentences of the built-in corpus grammar
(``decoding.synthetic``: 50 frames a second, spiky, a share of the letters confusable) with a
Kneser-Ney LM built here from the grammar's LM text.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from wav2vec_hf.decoding.alphabet import labels_from_vocabulary
from wav2vec_hf.decoding.ngram import estimate_kneser_ney, write_arpa
from wav2vec_hf.decoding.synthetic import synthetic_emissions
from wav2vec_hf.recipes.corpus_text import sentence_stream

FRAME_SECONDS = 0.02  # wav2vec 2.0: 320 samples at 16 kHz
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"


def synthetic_set(args, folder: Path):
    """Labels, LM path, unigrams, logits, references and audio seconds of the synthetic setting."""
    train = list(itertools.islice(sentence_stream(args.seed, "lm"), args.lm_sentences))
    references = list(itertools.islice(sentence_stream(args.seed, "dev", exclude=train), args.utterances))
    model = estimate_kneser_ney(train, args.order)
    lm_path = write_arpa(model, folder / f"{args.order}gram.arpa")
    labels = labels_from_vocabulary(
        {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate(LETTERS)}}
    )
    rng = np.random.default_rng(args.seed)
    logits = [
        synthetic_emissions(t, labels, rng, noise=args.noise, peak=args.peak, ambiguity=args.ambiguity)
        for t in references
    ]
    seconds = [x.shape[0] * FRAME_SECONDS for x in logits]
    return labels, lm_path, model.unigrams(), logits, references, seconds


def model_set(args):
    """The same from a fine-tuned model folder with an attached LM and a labelled data source."""
    from wav2vec_hf.decoding.inference import dataset_logits
    from wav2vec_hf.decoding.lm_text import lm_text_normalizer
    from wav2vec_hf.decoding.processor import CTCProcessorWithLanguageModel

    processor = CTCProcessorWithLanguageModel.from_pretrained(args.model)
    data = dataset_logits(args.model, args.data, max_utterances=args.utterances)
    normalize = lm_text_normalizer(processor.tokenizer.get_vocab()).normalize
    lm = processor.language_model
    return (
        processor.decoder.labels,
        lm.path,
        lm.unigrams,
        data.logits,
        [normalize(r) for r in data.references],
        data.seconds,
    )


def add_set_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose the logits a decoder benchmark runs on: a model's, or synthetic ones."""
    parser.add_argument("--model", default=None, help="fine-tuned model folder with an attached LM")
    parser.add_argument("--data", default=None, help="labelled audio for --model")
    parser.add_argument("--order", type=int, default=4, help="synthetic setting: LM order")
    parser.add_argument("--lm-sentences", type=int, default=20_000, help="synthetic setting: LM text size")
    parser.add_argument("--noise", type=float, default=1.0, help="synthetic setting: logit noise")
    parser.add_argument("--peak", type=float, default=12.0, help="synthetic setting: spike height")
    parser.add_argument("--ambiguity", type=float, default=0.25, help="synthetic setting: confusable letters")
    parser.add_argument("--seed", type=int, default=0)


def load_set(args, parser: argparse.ArgumentParser, folder: Path):
    """``(labels, lm_path, unigrams, logits, references, seconds, source)`` of ``add_set_arguments``'s
    choice (the synthetic LM is written into ``folder``)."""
    if args.model:
        if not args.data:
            parser.error("--model needs --data")
        return (*model_set(args), f"model {args.model} on {args.data}")
    source = f"synthetic emissions (noise {args.noise}, peak {args.peak}, ambiguity {args.ambiguity})"
    return (*synthetic_set(args, folder), source)
