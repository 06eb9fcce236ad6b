"""``wav2vec-hf finetune``: CTC fine-tuning with the recipe of ``wav2vec_hf.finetuning`` (same options as
``scripts/finetune_ctc.py``)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from wav2vec_hf.cli_options import add_deferred_command, adopt

PROG = "wav2vec-hf finetune"


def register(subparsers) -> None:
    """Add the ``finetune`` sub-command (its options are parsed by ``HfArgumentParser`` when it runs)."""
    add_deferred_command(
        subparsers,
        "finetune",
        help="CTC fine-tuning of a pretrained wav2vec / vq-wav2vec / wav2vec 2.0 folder (Trainer)",
        description="CTC fine-tuning; `wav2vec-hf finetune --help` lists every option.",
        run=run,
    )


def parse(argv: list[str], prog: str = PROG):
    """``argv`` (its config file read: ``wav2vec-hf finetune run.yaml``) -> a ``FinetuneCommand``.

    Raises:
        ValueError: a config file, recipe or option error, or a contradiction found by TrainingArguments.
    """
    from wav2vec_hf.cli_config import expand_config
    from wav2vec_hf.finetuning.arguments import build_parser
    from wav2vec_hf.finetuning.recipe_resolution import parse_finetune_arguments

    def style(parser):
        return adopt(parser, prog)

    argv = expand_config(style(build_parser()), argv)
    return parse_finetune_arguments(argv, prog=prog, style=style)


def main(argv: list[str] | None = None) -> int:
    """Parse the fine-tuning options (``--recipe`` applied), run ``finetune_ctc`` and print the final metrics."""
    prog = PROG
    try:
        command = parse(sys.argv[1:] if argv is None else argv, prog)
    except ValueError as error:  # config file, recipe, or a contradiction found by TrainingArguments
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    if command.print_only:
        print(json.dumps(command.recipe.to_json(), indent=2))
        return 0
    model_args, data_args, recipe_args, training_args = command.arguments
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if training_args.process_index != 0:  # the other processes of a torchrun / accelerate launch
        logging.getLogger("wav2vec_hf").setLevel(logging.WARNING)

    from wav2vec_hf.cli_messages import for_command
    from wav2vec_hf.data import DataValidationError
    from wav2vec_hf.finetuning.ctc import finetune_ctc
    from wav2vec_hf.hub.finetuned_publisher import publisher_for
    from wav2vec_hf.hub.publish import PublishError
    from wav2vec_hf.process_group import release_process_group
    from wav2vec_hf.run_lock import RunLockError, hold_run_lock

    try:
        # One run per output folder (only the main rank of a torchrun / accelerate launch locks it).
        with hold_run_lock(training_args.output_dir, prog=prog):
            result = finetune_ctc(
                model_args,
                data_args,
                recipe_args,
                training_args,
                recipe=command.recipe,
                hub_publisher=publisher_for,
            )
    except (DataValidationError, FileNotFoundError, ValueError, RunLockError) as error:
        print(f"{prog}: error: {for_command(error, '--on_bad skip')}", file=sys.stderr)
        return 2
    except PublishError as error:  # --push_to_hub refused at the start, or the upload after training failed
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    release_process_group()
    shown = {k: round(v, 4) for k, v in result.metrics.items() if k in ("eval_wer", "eval_cer", "eval_loss")}
    print(f"fine-tuned model in {result.output_dir} after {result.seconds:.0f} s: {shown}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Entry of the sub-command."""
    return main(list(args.options))
