"""``wav2vec-hf build-lm``: a word n-gram LM (ARPA + unigram list) from text, optionally attached to a model."""

from __future__ import annotations

import argparse
import contextlib
import sys


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options shared by this command and ``scripts/build_lm.py``."""
    parser.add_argument(
        "--text", required=True, nargs="+", help="UTF-8 text files (.gz too), one sentence a line"
    )
    parser.add_argument(
        "--output_dir",
        "--out",
        required=True,
        help="output folder: <order>gram.arpa, unigrams.txt, build.json",
    )
    parser.add_argument("--order", type=int, default=4, help="n-gram order (the papers use 4)")
    parser.add_argument(
        "--prune",
        type=int,
        nargs="+",
        default=None,
        metavar="COUNT",
        help="per-order raw-count thresholds, unigrams first (must be 0): '0 0 1' drops trigrams and up "
        "seen once; the last value also applies to higher orders",
    )
    parser.add_argument(
        "--vocab",
        default=None,
        help="a tokenizer vocab.json or a model folder: normalise the text with the model's rules "
        "(text_normalizer.json, else the vocabulary's case) and spell words with its characters "
        "(default: UPPERCASE A-Z and apostrophe, or the --attach model's)",
    )
    parser.add_argument(
        "--attach",
        default=None,
        metavar="MODEL_DIR",
        help="attach the LM to this fine-tuned model folder (writes alphabet.json and language_model/, "
        "names CTCProcessorWithLanguageModel as its processor)",
    )
    parser.add_argument(
        "--alpha", type=float, default=None, help="LM weight stored with --attach (default 0.5)"
    )
    parser.add_argument(
        "--beta", type=float, default=None, help="word bonus stored with --attach (default 1.5)"
    )
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``build-lm`` sub-command."""
    parser = subparsers.add_parser(
        "build-lm",
        help="build a Kneser-Ney n-gram LM (ARPA) from text; optionally attach it to a fine-tuned model",
        description="Estimate an interpolated modified Kneser-Ney n-gram LM of any order from text files, "
        "normalised like the model's tokenizer vocabulary, and write it as ARPA (loads in kenlm) with its "
        "unigram list. No KenLM binaries needed.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the LM (and attach it); prints a summary. Returns the exit code."""
    from wav2vec_hf.decoding.alphabet import AlphabetError
    from wav2vec_hf.decoding.language_model import LanguageModelError
    from wav2vec_hf.run_lock import RunLockError, hold_run_lock

    try:
        with contextlib.ExitStack() as locks:  # one run per output folder (and per --attach model)
            locks.enter_context(hold_run_lock(args.output_dir, prog="wav2vec-hf build-lm"))
            if args.attach:
                locks.enter_context(hold_run_lock(args.attach, prog="wav2vec-hf build-lm", create=False))
            _build(args)
    except (ValueError, FileNotFoundError, LanguageModelError, AlphabetError, RunLockError) as error:
        print(f"wav2vec-hf build-lm: error: {error}", file=sys.stderr)
        return 2
    return 0


def _build(args: argparse.Namespace) -> None:
    from pathlib import Path

    from wav2vec_hf.data.normalization import PROJECT_NORMALIZER
    from wav2vec_hf.decoding.language_model import FusionWeights
    from wav2vec_hf.decoding.lm_build import build_lm
    from wav2vec_hf.decoding.lm_text import lm_text_normalizer, read_vocabulary
    from wav2vec_hf.decoding.processor import attach_language_model

    vocab_source = args.vocab or args.attach
    model_dir = vocab_source if vocab_source and Path(vocab_source).is_dir() else None
    normalizer = (
        lm_text_normalizer(read_vocabulary(vocab_source), model_dir) if vocab_source else PROJECT_NORMALIZER
    )
    built = build_lm(args.text, args.output_dir, order=args.order, pruning=args.prune, normalizer=normalizer)
    print(built.summary())
    if args.attach:
        weights = FusionWeights()
        if args.alpha is not None:
            weights.alpha = args.alpha
        if args.beta is not None:
            weights.beta = args.beta
        processor = attach_language_model(args.attach, args.output_dir, weights=weights)
        lm = processor.language_model
        print(
            f"attached to {args.attach}: language_model/{lm.path.name}, {len(lm.unigrams)} known words, "
            f"alpha={lm.weights.alpha} beta={lm.weights.beta}"
        )
