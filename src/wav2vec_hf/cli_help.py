"""Stored ``--help`` text of the commands whose parser needs transformers (``finetune``, ``pretrain``).

Their options come from transformers' ``HfArgumentParser`` over ``TrainingArguments``: building it
imports torch and transformers (~4 s on a laptop) just to print text that changes only when this
package or transformers changes. So the help text is stored in the package, under ``help_text/``,
with the versions it was made with, and ``wav2vec-hf finetune --help`` prints it when they match
the installed ones (and the terminal is as wide as the stored text assumes); otherwise the parser is
built as before. ``tests/test_cli_help.py`` checks that every stored text equals the live parser's,
so a changed option cannot leave a stale help behind; after changing options run::

    python -m wav2vec_hf.cli_help --write

The stored text is formatted for ``WIDTH`` columns (argparse wraps to the terminal's width).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
from importlib import metadata
from pathlib import Path

HELP_FOLDER = Path(__file__).parent / "help_text"
COMMANDS = ("finetune", "pretrain")
HELP_FLAGS = ("-h", "--help")
WIDTH = 80  # argparse's width when the output is not a terminal and $COLUMNS is unset


def _versions() -> dict[str, str]:
    """The versions the help text depends on (read from package metadata, importing nothing)."""
    from wav2vec_hf import __version__

    try:
        transformers_version = metadata.version("transformers")
    except metadata.PackageNotFoundError:
        transformers_version = "absent"
    return {"wav2vec_hf": __version__, "transformers": transformers_version}


def _terminal_width() -> int:
    """The width argparse formats to: ``$COLUMNS`` or the terminal's, minus its 2-column margin."""
    return shutil.get_terminal_size().columns - 2


def is_help_request(argv: list[str]) -> bool:
    """``argv`` (the command's own options) asks only for help: ``--help`` / ``-h`` and nothing else."""
    return len(argv) == 1 and argv[0] in HELP_FLAGS


def stored_help(command: str) -> str | None:
    """The stored help of ``command`` when it was made with the installed versions at this terminal's
    width (``None``: build the parser)."""
    path = HELP_FOLDER / f"{command}.json"
    if not path.is_file() or _terminal_width() != WIDTH - 2:
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record["text"] if record.get("versions") == _versions() else None


def live_help(command: str) -> str:
    """``wav2vec-hf COMMAND --help`` as the parser prints it now, at ``WIDTH`` columns."""
    from wav2vec_hf.cli import main

    buffer = io.StringIO()
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(WIDTH)
    try:
        with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
            main([command, "--help"], use_stored_help=False)
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return buffer.getvalue()


def write_stored_help() -> list[Path]:
    """Store every command's live help with the installed versions; returns the files written."""
    HELP_FOLDER.mkdir(exist_ok=True)
    written = []
    for command in COMMANDS:
        path = HELP_FOLDER / f"{command}.json"
        record = {"versions": _versions(), "width": WIDTH, "text": live_help(command)}
        path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m wav2vec_hf.cli_help --write``: refresh the stored help texts."""
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["--write"]:
        print("usage: python -m wav2vec_hf.cli_help --write", file=sys.stderr)
        return 2
    for path in write_stored_help():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["COMMANDS", "WIDTH", "is_help_request", "live_help", "stored_help", "write_stored_help"]
