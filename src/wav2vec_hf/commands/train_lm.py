"""``wav2vec-hf train-lm``: a small causal Transformer LM (GPT-2 style) from text, for n-best rescoring."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options shared by this command and ``scripts/train_lm.py``."""
    from wav2vec_hf.selftraining.neural_lm import LEVELS, NeuralLMConfig

    defaults = NeuralLMConfig()
    parser.add_argument(
        "--text", required=True, nargs="+", help="UTF-8 text files (.gz too), one sentence a line"
    )
    parser.add_argument(
        "--output_dir", "--out", required=True, help="output folder (AutoModelForCausalLM + AutoTokenizer)"
    )
    parser.add_argument("--level", choices=LEVELS, default=defaults.level, help="character or word tokens")
    parser.add_argument("--layers", type=int, default=defaults.n_layer, help="Transformer layers")
    parser.add_argument("--heads", type=int, default=defaults.n_head, help="attention heads")
    parser.add_argument("--width", type=int, default=defaults.n_embd, help="model width (n_embd)")
    parser.add_argument(
        "--max-length", type=int, default=defaults.n_positions, help="longest sequence in tokens"
    )
    parser.add_argument("--steps", type=int, default=defaults.max_steps, help="optimiser updates")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="sentences per update")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate, help="peak AdamW rate")
    parser.add_argument("--dropout", type=float, default=defaults.dropout, help="dropout")
    parser.add_argument(
        "--min-word-count",
        type=int,
        default=defaults.min_word_count,
        help="word level: rarer words become <unk>",
    )
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=defaults.validation_fraction,
        help="lines held out for perplexity",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed")
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train-lm`` sub-command."""
    parser = subparsers.add_parser(
        "train-lm",
        help="train a small causal Transformer LM on text (for rescoring n-best lists in self-training)",
        description="Build a character- or word-level tokenizer from the text (no downloads), train a small "
        "GPT2LMHeadModel with transformers' Trainer, save model + tokenizer (loads with AutoModelForCausalLM) "
        "and report the held-out perplexity.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Train and report; returns the exit code."""
    from wav2vec_hf.selftraining.neural_lm import NeuralLMConfig, train_lm

    try:
        config = NeuralLMConfig(
            level=args.level,
            n_layer=args.layers,
            n_head=args.heads,
            n_embd=args.width,
            n_positions=args.max_length,
            max_steps=args.steps,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            dropout=args.dropout,
            min_word_count=args.min_word_count,
            validation_fraction=args.validation_fraction,
            seed=args.seed,
        )
        trained = train_lm(args.text, args.output_dir, config)
    except (ValueError, FileNotFoundError) as error:
        print(f"wav2vec-hf train-lm: error: {error}", file=sys.stderr)
        return 2
    perplexity = (
        f"{trained.validation_perplexity:.2f} per token on {trained.validation_sentences} held-out lines"
        if trained.validation_perplexity is not None
        else "not measured (no held-out lines)"
    )
    print(
        f"LM at {trained.out_dir}: {trained.parameters} parameters, {trained.vocab_size} tokens ({config.level}), "
        f"{trained.train_sentences} training lines, perplexity {perplexity}, {trained.seconds:.1f} s"
    )
    return 0
