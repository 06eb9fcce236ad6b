"""``wav2vec-hf <command>``: each command is a thin call into the package's modules.

A command lives in ``wav2vec_hf.commands.<name>`` and exposes ``register(subparsers)``, which adds
its sub-parser and sets ``func`` to the callable that runs it (``func(args) -> int``).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from wav2vec_hf import commands


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per module in ``wav2vec_hf.commands``."""
    parser = argparse.ArgumentParser(
        prog="wav2vec-hf",
        description="The wav2vec family as Hugging Face models: corpus, pretraining, fine-tuning, decoding, conversion.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``wav2vec-hf`` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
