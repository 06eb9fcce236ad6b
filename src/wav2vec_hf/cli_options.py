"""One option style for every ``wav2vec-hf`` command, in one place.

* **Spellings.** The canonical spelling is transformers' ``--output_dir``; the dashed ``--output-dir``
  is accepted for every option, as are the older names a command lists after the canonical one
  (``add_argument("--output_dir", "--out", ...)``). ``help`` shows the canonical name and the older
  names as aliases; the dashed spellings are not listed (the parser's epilog says they work).
  ``accept_spellings(parser)`` does this for a finished parser, argparse or ``HfArgumentParser``.
* **Errors.** A user's mistake is one line, ``wav2vec-hf CMD: error: ...``, and exit status 2: no usage
  block, no traceback (``CommandParser.error``; ``adopt`` gives the same to an ``HfArgumentParser``).
* **Config files.** ``CommandParser`` reads ``wav2vec-hf CMD run.yaml`` and ``--config run.yaml`` before
  parsing (``cli_config``); the command line wins over the file.
"""

from __future__ import annotations

import argparse
import sys
import types
from typing import NoReturn

from wav2vec_hf.cli_config import ConfigFileError, expand_config

SPELLINGS_NOTE = (
    "Options are spelled as in transformers (--output_dir); dashes work too (--output-dir). "
    "A JSON/YAML file of option values may come first (%(prog)s run.yaml) or with --config FILE; "
    "the command line wins over it."
)


def underscored(option: str) -> str:
    """``--output-dir`` -> ``--output_dir`` (the canonical spelling)."""
    return "--" + option[2:].replace("-", "_") if option.startswith("--") else option


def dashed(option: str) -> str:
    """``--output_dir`` -> ``--output-dir``."""
    return "--" + option[2:].replace("_", "-") if option.startswith("--") else option


class BooleanFlag(argparse.BooleanOptionalAction):
    """``--x`` / ``--no_x`` (or ``--no-x``): argparse's ``BooleanOptionalAction`` with both spellings."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, not dashed(option_string or "").startswith("--no-"))


def _canonical_strings(action: argparse.Action) -> list[str]:
    """The option strings ``help`` shows: the first (both, for a ``--x`` / ``--no-x`` pair), underscored."""
    count = 2 if isinstance(action, argparse.BooleanOptionalAction) else 1
    return [underscored(option) for option in action.option_strings[:count]]


def accept_spellings(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Make every option of ``parser`` canonical (underscores) and accept its other spellings.

    For each option, the first name becomes ``--name_with_underscores`` (the one ``help`` shows);
    the dashed spelling and every further name (an old alias) keep working, hidden from the option
    list; the old names are appended to the option's help as ``(alias: --out)``. Idempotent.

    Raises:
        ValueError: two options would share a spelling, or a ``BooleanOptionalAction`` that is not a
            ``BooleanFlag`` (its ``--no_x`` spelling would set True).
    """
    table = parser._option_string_actions
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        if isinstance(action, argparse.BooleanOptionalAction) and not isinstance(action, BooleanFlag):
            raise ValueError(f"{action.option_strings[0]}: use action=cli_options.BooleanFlag")
        canonical = _canonical_strings(action)
        spellings = {s for option in action.option_strings for s in (underscored(option), dashed(option))}
        for spelling in spellings:
            if table.get(spelling, action) is not action:
                raise ValueError(f"{spelling}: two options of {parser.prog} share this spelling")
            table[spelling] = action
        aliases: list[str] = []
        for option in map(underscored, action.option_strings):
            if option not in canonical and option not in aliases:
                aliases.append(option)
        if aliases and action.help not in (None, argparse.SUPPRESS) and "(alias" not in action.help:
            action.help = f"{action.help} (alias: {', '.join(aliases)})"
        action.option_strings = canonical
    if parser.epilog is None:
        parser.epilog = SPELLINGS_NOTE
    return parser


def add_config_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--config FILE`` (read before parsing by ``CommandParser``; listed in ``help``)."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="JSON/YAML file of option values (also as the first argument); the command line wins",
    )
    return parser


def finish_command_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A command's parser made ready: ``--config FILE`` added, every option's spellings accepted."""
    return accept_spellings(add_config_option(parser))


def _one_line_error(parser: argparse.ArgumentParser, message: str, hint: bool = True) -> NoReturn:
    """``PROG: error: MESSAGE``, one line on stderr, exit 2 (argparse's status for a usage error);
    ``hint``: add where the options are listed (argparse's own messages do not say)."""
    hint_text = f" (`{parser.prog} --help` lists the options)" if hint and "--help" not in message else ""
    parser.exit(2, f"{parser.prog}: error: {message}{hint_text}\n")


def _one_option_per_action(tuples: list) -> list:
    """Abbreviation matches, one per option: ``--batch`` matches ``--batch_size`` and ``--batch-size``."""
    unique: dict[int, object] = {}
    for item in tuples:
        unique.setdefault(id(item[0]), item)
    return list(unique.values())


class CommandParser(argparse.ArgumentParser):
    """The parser of ``wav2vec-hf`` and its commands: one-line errors, config files, both spellings."""

    def error(self, message: str) -> NoReturn:
        _one_line_error(self, message)

    def _get_option_tuples(self, option_string):
        return _one_option_per_action(super()._get_option_tuples(option_string))

    def parse_known_args(self, args=None, namespace=None):
        """Parse ``args`` with its config file's options in front (``cli_config.expand_config``)."""
        if "--config" in self._option_string_actions:  # a command's parser, not the top level
            try:
                args = expand_config(self, list(sys.argv[1:] if args is None else args))
            except ConfigFileError as error:  # names the file and the key: no hint needed
                _one_line_error(self, str(error), hint=False)
        return super().parse_known_args(args, namespace)


def add_deferred_command(
    subparsers, name: str, *, help: str, description: str, run
) -> argparse.ArgumentParser:
    """A sub-command whose options another parser reads when it runs (``finetune``, ``pretrain``: an
    ``HfArgumentParser``, which needs transformers): every token after the command name, ``--help``
    included, goes to ``run(args)`` as ``args.options``, so ``wav2vec-hf --help`` never builds it."""
    parser = subparsers.add_parser(
        name,
        help=help,
        description=description,
        add_help=False,
        prefix_chars="+",  # no option of its own: "--x" is a plain word here ("+" is a prefix nobody uses)
    )
    parser.add_argument("options", nargs=argparse.REMAINDER, help=f"{name} options (see --help)")
    parser.set_defaults(func=run)
    parser.parses_own_options = True  # cli.build_parser leaves its options alone
    return parser


def adopt(parser: argparse.ArgumentParser, prog: str | None = None) -> argparse.ArgumentParser:
    """Give a parser made elsewhere (``HfArgumentParser``) this module's style: ``prog``, one-line
    errors, one abbreviation match per option and ``accept_spellings``."""
    if prog:
        parser.prog = prog
    parser.error = types.MethodType(_one_line_error, parser)  # type: ignore[method-assign]
    original = parser._get_option_tuples
    parser._get_option_tuples = lambda option: _one_option_per_action(original(option))  # type: ignore[method-assign]
    return accept_spellings(parser)


__all__ = [
    "SPELLINGS_NOTE",
    "BooleanFlag",
    "CommandParser",
    "accept_spellings",
    "add_config_option",
    "add_deferred_command",
    "adopt",
    "dashed",
    "finish_command_parser",
    "underscored",
]
