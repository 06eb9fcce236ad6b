"""``wav2vec-hf finetune``: CTC fine-tuning with the recipe of ``wav2vec_hf.finetuning`` (same options as
``scripts/finetune_ctc.py``)."""

from __future__ import annotations

import argparse
import logging
import sys


def register(subparsers) -> None:
    """Add the ``finetune`` sub-command (its options are parsed by ``HfArgumentParser``)."""
    parser = subparsers.add_parser(
        "finetune",
        help="CTC fine-tuning of a pretrained wav2vec / vq-wav2vec / wav2vec 2.0 folder (Trainer)",
        description="CTC fine-tuning; `wav2vec-hf finetune --help` lists every option.",
        add_help=False,
        # Every token goes to HfArgumentParser: this sub-parser treats "--x" as a plain word.
        prefix_chars="+",
    )
    parser.add_argument("options", nargs="*", help="fine-tuning options (see --help)")
    parser.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    """Parse the fine-tuning options, run ``finetune_ctc`` and print the final metrics."""
    from wav2vec_hf.finetuning.arguments import build_parser

    parser = build_parser()
    parser.prog = "wav2vec-hf finetune"
    try:
        model_args, data_args, recipe_args, training_args = parser.parse_args_into_dataclasses(args=argv)
    except ValueError as error:  # a contradiction between options, found by TrainingArguments
        print(f"wav2vec-hf finetune: error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if training_args.process_index != 0:  # the other processes of a torchrun / accelerate launch
        logging.getLogger("wav2vec_hf").setLevel(logging.WARNING)

    from wav2vec_hf.cli_messages import for_command
    from wav2vec_hf.data import DataValidationError
    from wav2vec_hf.finetuning.ctc import finetune_ctc
    from wav2vec_hf.process_group import release_process_group
    from wav2vec_hf.run_lock import RunLockError, hold_run_lock

    try:
        # One run per output folder (only the main rank of a torchrun / accelerate launch locks it).
        with hold_run_lock(training_args.output_dir, prog=parser.prog):
            result = finetune_ctc(model_args, data_args, recipe_args, training_args)
    except (DataValidationError, FileNotFoundError, ValueError, RunLockError) as error:
        print(f"wav2vec-hf finetune: error: {for_command(error, '--on_bad skip')}", file=sys.stderr)
        return 2
    release_process_group()
    shown = {k: round(v, 4) for k, v in result.metrics.items() if k in ("eval_wer", "eval_cer", "eval_loss")}
    print(f"fine-tuned model in {result.output_dir} after {result.seconds:.0f} s: {shown}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry of the sub-command."""
    return main(list(args.options))
