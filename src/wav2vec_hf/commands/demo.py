"""``wav2vec-hf demo``: the main job on the built-in corpus (see ``wav2vec_hf.demo``)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="run the project's main job on the built-in corpus",
        description="Build the built-in speech corpus and run the family's pipeline on it, step by step.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--output-dir", default="runs/demo", help="where the corpus, models and reports go")
    parser.add_argument("--unlabeled-minutes", type=float, default=20.0)
    parser.add_argument("--labeled-minutes", type=float, default=3.0)
    parser.add_argument("--dev-minutes", type=float, default=2.0)
    parser.add_argument("--test-minutes", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None, help="processes for corpus synthesis")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; a failing step is reported with its log file."""
    from wav2vec_hf.demo import DemoStepError, run_demo

    options = {
        key: value for key, value in vars(args).items() if key not in ("func", "command", "output_dir")
    }
    try:
        run_demo(args.output_dir, **options)
    except DemoStepError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
