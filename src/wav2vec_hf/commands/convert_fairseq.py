"""``wav2vec-hf convert-fairseq``: a fairseq wav2vec-family checkpoint -> a Hugging Face folder."""

from __future__ import annotations

import argparse
import logging
import sys


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options shared by this command and ``scripts/convert_fairseq.py``."""
    parser.add_argument("--checkpoint", required=True, help="the fairseq .pt file")
    parser.add_argument(
        "--output_dir", "--output", required=True, help="the folder to write (save_pretrained layout)"
    )
    parser.add_argument(
        "--trust_pickle",
        action="store_true",
        help="allow the full (code-executing) unpickler for files the restricted reader refuses; "
        "only for checkpoints whose origin you trust",
    )
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``convert-fairseq`` sub-command."""
    parser = subparsers.add_parser(
        "convert-fairseq",
        help="convert a fairseq wav2vec / vq-wav2vec / wav2vec 2.0 checkpoint to a Hugging Face folder",
        description="Convert a fairseq wav2vec-family checkpoint into a folder that loads with "
        "transformers' from_pretrained (model, feature extractor, conversion.json).",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Convert ``args.checkpoint`` into ``args.output``; prints a one-line summary. Returns the exit code."""
    from wav2vec_hf.convert.checkpoint import CheckpointError
    from wav2vec_hf.convert.fairseq import convert_fairseq_checkpoint

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = convert_fairseq_checkpoint(args.checkpoint, args.output_dir, trust_pickle=args.trust_pickle)
    except CheckpointError as error:
        print(f"wav2vec-hf convert-fairseq: error: {error}", file=sys.stderr)
        return 2
    parameters = sum(p.numel() for p in result.model.parameters())
    print(f"{result.kind}: {type(result.model).__name__} with {parameters} parameters -> {result.output_dir}")
    return 0
