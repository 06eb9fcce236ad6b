"""``wav2vec-hf <command>``: each command is a thin call into the package's modules.

A command lives in ``wav2vec_hf.commands.<name>`` and exposes ``register(subparsers)``, which adds
its sub-parser and sets ``func`` to the callable that runs it (``func(args) -> int``).

One style for every command (``cli_options``, ``cli_config``):

* **Option names** are transformers' underscores, and dashes work everywhere: ``--output_dir`` =
  ``--output-dir``. Older names stay as aliases (``help`` lists them): ``--out`` / ``--output`` for
  ``--output_dir``, ``--data`` / ``--dev`` for ``--eval``, ``--pretrained`` for ``self-train --model``.
* **One name per meaning**: ``--model`` is the model a command reads (``transcribe`` and ``push-to-hub``
  also take it as their first positional argument); ``--output_dir`` is the folder it writes;
  ``--train`` is training data; ``--eval`` is labelled data a command scores with WER / CER (evaluation
  during fine-tuning, ``evaluate``'s sets, ``tune-lm``'s and ``self-train``'s dev set); ``--test`` is
  labelled data only reported (``self-train``); ``--valid`` is pretraining's unlabelled validation audio.
* **A config file**, JSON or YAML, as in transformers' examples: ``wav2vec-hf CMD run.yaml`` or
  ``--config run.yaml``; its values are the defaults and the command line wins.
* **A user's mistake** (a bad value, an unknown option, preset or recipe, a missing file) exits 2
  with one line, ``wav2vec-hf CMD: error: ...``, never a traceback.
* **Fast help**: building this parser imports no torch / transformers / datasets (``import wav2vec_hf``
  defers its Auto-class registration until transformers is imported: ``import_hooks``); commands
  import what they need when they run. ``finetune`` and ``pretrain`` hand their options to
  transformers' ``HfArgumentParser``, built only when they run or show ``--help`` (their help text is
  also stored in the package and printed without building it: ``cli_help``).

Also ``python -m wav2vec_hf <command>`` (``wav2vec_hf/__main__.py``), which is how an installed wheel
runs a command under a launcher: ``accelerate launch -m wav2vec_hf pretrain ...``.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from wav2vec_hf import cli_help, commands
from wav2vec_hf.cli_options import SPELLINGS_NOTE, CommandParser, finish_command_parser
from wav2vec_hf.errors import Wav2VecHFError

PROG = "wav2vec-hf"


def _command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per module in ``wav2vec_hf.commands`` (imports no torch)."""
    parser = CommandParser(
        prog=PROG,
        description="The wav2vec family as Hugging Face models: corpus, pretraining, fine-tuning, decoding, conversion.",
        epilog=SPELLINGS_NOTE.replace("%(prog)s", f"{PROG} CMD"),
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    for command_parser in _command_parsers(parser).values():
        if not getattr(command_parser, "parses_own_options", False):  # finetune, pretrain: later
            finish_command_parser(command_parser)
    return parser


def main(argv: list[str] | None = None, *, use_stored_help: bool = True) -> int:
    """Entry point of the ``wav2vec-hf`` console script.

    Any ``Wav2VecHFError`` a command does not handle itself (bad input; a missing optional package,
    whose message holds the ``pip install 'wav2vec-hf[extra]'`` command) is printed as the command's
    error and exits 2. ``finetune --help`` and ``pretrain --help`` print their stored text when it
    matches the installed versions (``cli_help``).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if use_stored_help and argv[:1] and argv[0] in cli_help.COMMANDS and cli_help.is_help_request(argv[1:]):
        text = cli_help.stored_help(argv[0])
        if text is not None:  # exits as argparse's own --help does
            sys.stdout.write(text)
            raise SystemExit(0)
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Wav2VecHFError as error:  # a missing extra, or any deliberate error a command left to us
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
