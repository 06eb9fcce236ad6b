"""Optional dependencies ("extras"): which extra installs which module, and one error that names it.

``pip install wav2vec-hf`` installs what pretraining, CTC fine-tuning, greedy decoding, fairseq
conversion and the Hub need. The rest comes with an extra (``[project.optional-dependencies]`` of
pyproject.toml)::

    lm           kenlm               beam search with an n-gram LM
    plots        matplotlib          pretraining's PNG curves, the demo's figures
    tts          espeakng-loader     the built-in synthetic corpus (eSpeak NG)
    tensorboard  tensorboard         pretraining's default tracker
    seq2seq      sentencepiece       self-training's seq2seq final model (word pieces)
    demo         lm + plots + tts    ``wav2vec-hf demo``
    all          every extra above

Code that needs one of these modules imports it with ``require_extra``, so a missing package is one
``MissingExtraError`` naming the ``pip install`` command, never a bare ``ModuleNotFoundError``; the
commands check their extras up front (``require_extras``) so a run does not fail after hours.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from wav2vec_hf.errors import Wav2VecHFError

PACKAGE = "wav2vec-hf"

EXTRAS: dict[str, tuple[str, ...]] = {
    "lm": ("kenlm",),
    "plots": ("matplotlib",),
    "tts": ("espeakng_loader",),
    "tensorboard": ("tensorboard",),
    "seq2seq": ("sentencepiece",),
}
"""Extra name -> the modules it provides (those the package imports)."""
EXTRAS["demo"] = EXTRAS["lm"] + EXTRAS["plots"] + EXTRAS["tts"]

DISTRIBUTIONS = {"espeakng_loader": "espeakng-loader"}
"""Module -> pip distribution name, where they differ."""


class MissingExtraError(Wav2VecHFError, ImportError):
    """An optional package is not installed; the message says which extra installs it."""


def install_command(*extras: str) -> str:
    """``pip install 'wav2vec-hf[a,b]'``: the command that installs ``extras``."""
    return f"pip install '{PACKAGE}[{','.join(extras)}]'"


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (found without importing them).

    Raises:
        KeyError: ``extra`` is not one of ``EXTRAS``.
    """
    if extra not in EXTRAS:
        raise KeyError(f"unknown extra {extra!r}; known: {', '.join(sorted(EXTRAS))}")
    return [module for module in EXTRAS[extra] if not _importable(module)]


def require_extra(module: str, extra: str, purpose: str | None = None) -> ModuleType:
    """Import ``module`` (e.g. ``"matplotlib.pyplot"``), which the optional ``extra`` installs.

    Args:
        module: the dotted module name.
        extra: the extra of pyproject.toml that installs it (a key of ``EXTRAS``).
        purpose: what needs it, for the message (default: the extra's name).

    Raises:
        MissingExtraError: the module's package is not installed; the message names the pip command.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        top_level = module.split(".")[0]
        if error.name != top_level:
            raise  # the package is there, but a part or a dependency of it is not: not ours to explain
        raise MissingExtraError(_message([top_level], (extra,), purpose)) from error


def require_extras(*extras: str, purpose: str) -> None:
    """Check, without importing them, that every module of ``extras`` is installed.

    Raises:
        MissingExtraError: one error listing every missing package and the pip command that installs them.
    """
    missing = [(extra, module) for extra in extras for module in missing_modules(extra)]
    if missing:
        needed = tuple(dict.fromkeys(extra for extra, _ in missing))
        raise MissingExtraError(_message([module for _, module in missing], needed, purpose))


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or sys.modules[module] = None
        return False


def _message(modules: list[str], extras: tuple[str, ...], purpose: str | None) -> str:
    names = [DISTRIBUTIONS.get(module, module) for module in dict.fromkeys(modules)]
    what = purpose or f"the '{extras[0]}' feature"
    verb, pronoun = ("are", "them") if len(names) > 1 else ("is", "it")
    return (
        f"{what} needs {', '.join(names)}, which {verb} not installed; "
        f"install {pronoun} with: {install_command(*extras)}"
    )


__all__ = [
    "EXTRAS",
    "PACKAGE",
    "MissingExtraError",
    "install_command",
    "missing_modules",
    "require_extra",
    "require_extras",
]
