"""``Wav2VecHFError``: the one base of the errors this package raises on purpose.

Every such error (bad audio, manifests, checkpoints, LMs, configs, a failed step of a recipe, a run
that diverged, a missing optional package, ...) says what is wrong and how to fix it. ``except
Wav2VecHFError`` catches all of them, and the command line turns any that reaches it into one line
on stderr and exit status 2 (``cli.main``). Each error also keeps its built-in base (``ValueError``,
``FileNotFoundError``, ``RuntimeError``, ``ImportError``, ...), so ``except ValueError`` code still
catches what it caught before.

This module imports nothing: every layer may use it.
"""


class Wav2VecHFError(Exception):
    """Base of the package's deliberate errors (see the module docstring)."""


__all__ = ["Wav2VecHFError"]
