"""Config files for every ``wav2vec-hf`` command: ``wav2vec-hf CMD run.yaml`` or ``--config run.yaml``.

As in transformers' example scripts, a single JSON or YAML file holds a command's options; the
command line adds to it and wins. The file is a mapping of option names (as on the command line,
without the dashes; dashes or underscores) to values::

    # wav2vec-hf evaluate eval.yaml --device cuda
    model: runs/finetuned
    eval: [corpus/dev.tsv, corpus/test.tsv]
    beam_width: 64
    no_lm: false

A key whose value is a mapping and that names no option is a section, read as if its keys were at
the top (``model:`` / ``data:`` / ``training:`` groups, say). Values become command-line tokens placed
*before* the command line's own (``config_argv``), so argparse parses, checks and converts them like
typed options, and an option given on the command line comes later and wins: a flag (``no_lm: true``)
is written when true; ``null`` leaves the default; a list fills an option that takes several values
(and repeats an option that may be repeated); a positional argument (transcribe's ``files``) is
added after the options.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from wav2vec_hf.errors import Wav2VecHFError

CONFIG_SUFFIXES = (".json", ".yaml", ".yml")


class ConfigFileError(Wav2VecHFError, ValueError):
    """A config file that cannot be read, or a key or value it cannot give; the message names the file."""


def split_config_argument(argv: list[str]) -> tuple[str | None, list[str]]:
    """``(config path or None, the other arguments)``: the path is a first argument ending in .json /
    .yaml / .yml, or the value of ``--config FILE`` / ``--config=FILE`` anywhere.

    Raises:
        ConfigFileError: two config files, or ``--config`` without its value.
    """
    argv = list(argv)
    paths: list[str] = []
    if argv and not argv[0].startswith("-") and argv[0].lower().endswith(CONFIG_SUFFIXES):
        paths.append(argv.pop(0))
    rest: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == "--":  # everything after it is positional
            rest.extend(argv[index:])
            break
        if token == "--config":
            if index + 1 >= len(argv):
                raise ConfigFileError("--config: expected a JSON or YAML file")
            paths.append(argv[index + 1])
            index += 2
            continue
        if token.startswith("--config="):
            paths.append(token.split("=", 1)[1])
        else:
            rest.append(token)
        index += 1
    if len(paths) > 1:
        raise ConfigFileError(f"two config files ({', '.join(paths)}): give one")
    return (paths[0] if paths else None), rest


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a JSON (``.json``) or YAML (any other suffix) file.

    Raises:
        ConfigFileError: a missing file, a syntax error (with its line) or a file that is not a mapping.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigFileError(f"{path}: no such config file")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigFileError(f"{path}: not UTF-8 ({error.reason}); save the config as UTF-8") from None
    try:
        if file.suffix.lower() == ".json":
            content = json.loads(text)
        else:
            import yaml

            content = yaml.safe_load(text)
    except json.JSONDecodeError as error:
        raise ConfigFileError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    except Exception as error:  # yaml.YAMLError, imported lazily
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigFileError(f"{path}{where}: not valid YAML ({getattr(error, 'problem', error)})") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ConfigFileError(f"{path}: the file must hold a mapping of option names to values")
    return content


def _lookup(parser: argparse.ArgumentParser, name: str) -> tuple[argparse.Action | None, str]:
    """The action that option ``name`` (underscores) names, and its spelling (``""``: a positional)."""
    for spelling in (f"--{name}", f"--{name.replace('_', '-')}"):
        action = parser._option_string_actions.get(spelling)
        if action is not None:
            return action, spelling
    for action in parser._actions:
        if not action.option_strings and action.dest == name:
            return action, ""
    return None, ""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value)
    return str(value)


def _tokens(action: argparse.Action, option: str, value: Any, where: str) -> list[str]:
    """Command-line tokens that give ``value`` to ``action`` (``option``: its spelling)."""
    if value is None:
        return []
    if action.nargs == 0:  # store_true / store_false / store_const / a --x / --no_x pair
        if not isinstance(value, bool):
            raise ConfigFileError(f"{where}: {option} is a flag: give true or false, not {value!r}")
        if isinstance(action, argparse.BooleanOptionalAction):
            negative = next(s for s in action.option_strings if s.replace("_", "-").startswith("--no-"))
            return [option if value else negative]
        return [option] if value else []
    many = action.nargs in ("+", "*", argparse.REMAINDER) or isinstance(action.nargs, int)
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if isinstance(action, argparse._AppendAction):
        return [f"{option}={_text(item)}" for item in values]
    if many:
        if not values:
            return []
        return [option, *(_text(item) for item in values)] if option else [_text(item) for item in values]
    if isinstance(value, (list, tuple)):
        raise ConfigFileError(f"{where}: {option or action.dest} takes one value, not a list ({value!r})")
    return [f"{option}={_text(value)}"] if option else [_text(value)]


def config_argv(parser: argparse.ArgumentParser, values: dict[str, Any], source: str) -> list[str]:
    """The command-line tokens that give ``parser`` the options in ``values`` (read from ``source``).

    Raises:
        ConfigFileError: a key that names no option of ``parser`` (the message lists the command's
            ``--help``), or a value the option cannot take.
    """
    options: list[str] = []
    positionals: list[str] = []

    def add(items: dict[str, Any], section: str | None) -> None:
        for key, value in items.items():
            name = str(key).strip().lstrip("-").replace("-", "_")
            where = f"{source}: {section}.{key}" if section else f"{source}: {key}"
            action, option = _lookup(parser, name)
            if action is None and isinstance(value, dict) and section is None:
                add(value, str(key))  # a section of options
                continue
            if name == "config":
                raise ConfigFileError(f"{where}: a config file cannot name another one; merge them")
            if action is None or isinstance(action, argparse._HelpAction):
                raise ConfigFileError(
                    f"{where}: no such option of {parser.prog}; `{parser.prog} --help` lists them"
                )
            tokens = _tokens(action, option, value, where)
            (options if option else positionals).extend(tokens)

    add(values, None)
    return options + positionals


def expand_config(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``argv`` with its config file (``split_config_argument``) replaced by the tokens it holds.

    Raises:
        ConfigFileError: see ``split_config_argument``, ``read_config_file`` and ``config_argv``.
    """
    path, rest = split_config_argument(argv)
    if path is None:
        return rest
    return [*config_argv(parser, read_config_file(path), path), *rest]


__all__ = [
    "CONFIG_SUFFIXES",
    "ConfigFileError",
    "config_argv",
    "expand_config",
    "read_config_file",
    "split_config_argument",
]
