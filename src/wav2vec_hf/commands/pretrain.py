"""``wav2vec-hf pretrain``: the pretraining loop (same options as ``scripts/pretrain.py``).

For several processes or GPUs run it through Accelerate: ``accelerate launch scripts/pretrain.py ...``
(or ``accelerate launch -m wav2vec_hf.cli pretrain ...``).
"""

from __future__ import annotations

import argparse
import logging
import sys


def register(subparsers) -> None:
    """Add the ``pretrain`` sub-command (options are parsed by ``pretraining.arguments``)."""
    parser = subparsers.add_parser(
        "pretrain",
        help="pretrain wav2vec / vq-wav2vec / wav2vec 2.0 / BERT on units (run under accelerate launch)",
        description="Pretrain a model of the wav2vec family; `wav2vec-hf pretrain --help` lists the options.",
        add_help=False,
        # Every "--option" goes through untouched to the pretraining parser (HfArgumentParser): this
        # sub-parser knows no option of its own ("+" is a prefix nobody uses).
        prefix_chars="+",
    )
    parser.add_argument("options", nargs="*", help="pretraining options (see --help)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Parse the pretraining options and run."""
    return main(args.options)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line), run the loop, print where the results are."""
    from wav2vec_hf.cli_messages import for_command
    from wav2vec_hf.data import AudioError, DataValidationError, ManifestError
    from wav2vec_hf.hub.publish import PublishError
    from wav2vec_hf.pretraining.arguments import parse_arguments
    from wav2vec_hf.pretraining.health import TrainingDivergedError
    from wav2vec_hf.pretraining.hub_push import UploadsFailedError

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    for noisy in ("accelerate", "transformers", "torch"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = parse_arguments(argv)
    except (ValueError, FileNotFoundError, KeyError) as error:
        print(f"pretrain: error: {error}", file=sys.stderr)
        return 2
    from wav2vec_hf.pretraining.loop import run_pretraining
    from wav2vec_hf.process_group import release_process_group
    from wav2vec_hf.run_lock import RunLockError, hold_run_lock

    try:
        # One run per output folder: the lock is the command's (run_pretraining is also a library
        # function, called by the demo on folders of its own run); only the main rank takes it.
        with hold_run_lock(config.training.output_dir, prog="pretrain"):
            result = run_pretraining(config)
    except TrainingDivergedError as error:
        print(f"pretrain: {error}", file=sys.stderr)
        return 3
    except PublishError as error:  # --push_to_hub: refused at the start (2), or exports not uploaded (1)
        print(f"pretrain: error: {error}", file=sys.stderr)
        return 1 if isinstance(error, UploadsFailedError) else 2
    except (
        DataValidationError,
        ManifestError,
        AudioError,  # a bad file met while training (sets too large to decode up front)
        FileNotFoundError,
        FileExistsError,
        RunLockError,
    ) as error:
        print(f"pretrain: error: {for_command(error, '--on_bad skip')}", file=sys.stderr)
        return 2
    release_process_group()
    if result.interrupted:
        print(f"stopped after update {result.updates} (checkpoints in {result.output_dir / 'checkpoints'})")
    elif result.export_dir is not None:
        print(f"done: {result.updates} updates; model in {result.export_dir}")
    return 0
