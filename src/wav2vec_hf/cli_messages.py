"""Turning the library's error messages into the words of the command in use.

The library's messages name its API: bad data can be skipped with ``on_bad='skip'``. On the command
line that option is a flag whose spelling depends on the command (``--on_bad skip`` for ``pretrain`` and
``finetune``, ``--skip-bad`` for ``transcribe``), and some commands have none. ``for_command`` rewrites
the hint so that the user is told the flag of the command they ran, or, where there is none, no flag.
"""

from __future__ import annotations

import re

# Where the library names its option, "on_bad='skip'" (or with double quotes).
_API = r"on_bad=(?:'skip'|\"skip\")"
_PASS_CLAUSE = re.compile(rf",? or pass {_API}[^.\n]*")  # "Fix them, or pass on_bad='skip' to skip them."
_PARENTHESIS = re.compile(rf" ?\({_API}[^)\n]*\)")  # "... remove it (on_bad='skip' skips such files ...)."
_ANY = re.compile(_API)


def for_command(error: BaseException | str, skip_flag: str | None) -> str:
    """The message of ``error`` with the library's ``on_bad='skip'`` hint in the command's words.

    Args:
        error: the exception (or message) to print.
        skip_flag: the command's flag that skips bad data, e.g. ``"--on_bad skip"`` or
            ``"--skip-bad"``; None for a command without one (the hint is dropped).
    """
    message = str(error)
    if skip_flag is not None:
        return _ANY.sub(skip_flag, message)
    message = _PASS_CLAUSE.sub("", message)
    message = _PARENTHESIS.sub("", message)
    return _ANY.sub("skipping bad data (not available in this command)", message)


__all__ = ["for_command"]
