"""``wav2vec-hf pretrain``: the pretraining loop (same options as ``scripts/pretrain.py``).

For several processes or GPUs run it through Accelerate: ``accelerate launch scripts/pretrain.py ...``
(or ``accelerate launch -m wav2vec_hf.cli pretrain ...``).
"""

from __future__ import annotations

import argparse
import logging
import sys

from wav2vec_hf.cli_options import add_deferred_command, adopt

PROG = "wav2vec-hf pretrain"


def register(subparsers) -> None:
    """Add the ``pretrain`` sub-command (options are parsed by ``pretraining.arguments`` when it runs)."""
    add_deferred_command(
        subparsers,
        "pretrain",
        help="pretrain wav2vec / vq-wav2vec / wav2vec 2.0 / BERT on units (run under accelerate launch)",
        description="Pretrain a model of the wav2vec family; `wav2vec-hf pretrain --help` lists the options.",
        run=run,
    )


def run(args: argparse.Namespace) -> int:
    """Parse the pretraining options and run."""
    return main(args.options)


def parse(argv: list[str], prog: str = PROG):
    """``argv`` -> ``PretrainingConfig``; a first argument ending in .json / .yaml / .yml is the
    ``--config`` file (``pretraining.arguments`` reads it: recipe < file < command line).

    Raises:
        ValueError, FileNotFoundError, KeyError: a bad config file, preset, recipe or option value.
    """
    from wav2vec_hf.cli_config import split_config_argument
    from wav2vec_hf.pretraining.arguments import parse_arguments

    config_file, rest = split_config_argument(argv)
    if config_file is not None:
        rest = ["--config", config_file, *rest]
    return parse_arguments(rest, prog=prog, style=lambda parser: adopt(parser, prog))


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: the command line), run the loop, print where the results are."""
    from wav2vec_hf.cli_messages import for_command
    from wav2vec_hf.data import AudioError, DataValidationError, ManifestError
    from wav2vec_hf.hub.export_publisher import UploadsFailedError, publisher_for
    from wav2vec_hf.hub.publish import PublishError
    from wav2vec_hf.pretraining.health import TrainingDivergedError

    prog = PROG
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    for noisy in ("accelerate", "transformers", "torch"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = parse(sys.argv[1:] if argv is None else list(argv), prog)
    except KeyError as error:  # str(KeyError) is the repr of its message: print the message
        print(f"{prog}: error: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    from wav2vec_hf.pretraining.loop import run_pretraining
    from wav2vec_hf.process_group import release_process_group
    from wav2vec_hf.run_lock import RunLockError, hold_run_lock

    try:
        # One run per output folder: the lock is the command's (run_pretraining is also a library
        # function, called by the demo on folders of its own run); only the main rank takes it.
        with hold_run_lock(config.training.output_dir, prog=prog):
            result = run_pretraining(config, export_publisher=publisher_for)
    except TrainingDivergedError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 3
    except PublishError as error:  # --push_to_hub: refused at the start (2), or exports not uploaded (1)
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1 if isinstance(error, UploadsFailedError) else 2
    except (
        DataValidationError,
        ManifestError,
        AudioError,  # a bad file met while training (sets too large to decode up front)
        FileNotFoundError,
        FileExistsError,
        RunLockError,
    ) as error:
        print(f"{prog}: error: {for_command(error, '--on_bad skip')}", file=sys.stderr)
        return 2
    release_process_group()
    if result.interrupted:
        print(f"stopped after update {result.updates} (checkpoints in {result.output_dir / 'checkpoints'})")
    elif result.export_dir is not None:
        print(f"done: {result.updates} updates; model in {result.export_dir}")
    return 0
