"""One error base (issue 22): every deliberate error of the package is a ``Wav2VecHFError`` and keeps
its built-in base; the command line turns one that a command left unhandled into exit 2, one message."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from wav2vec_hf import cli
from wav2vec_hf.errors import Wav2VecHFError

PACKAGE = Path(cli.__file__).resolve().parent
CONTROL_FLOW = {"StopAfterStage"}  # an exception used to stop a loop on purpose, never shown to a user


def _exception_classes() -> list[tuple[str, str]]:
    """(module, class) of every class whose bases look like exceptions, found with ast."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = "wav2vec_hf." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                names = [getattr(base, "id", getattr(base, "attr", "")) for base in node.bases]
                if any(n.endswith(("Error", "Exception", "Failed")) for n in names):
                    found.append((module, node.name))
    return found


def test_every_deliberate_error_shares_the_base_and_keeps_its_builtin_one():
    classes = _exception_classes()
    assert len(classes) >= 25
    for module, name in classes:
        cls = getattr(importlib.import_module(module), name)
        if name in CONTROL_FLOW:
            assert not issubclass(cls, Wav2VecHFError), name
            continue
        assert issubclass(cls, Wav2VecHFError), f"{module}.{name}"
        builtin = [base for base in cls.__mro__ if base.__module__ == "builtins" and base not in (object,)]
        assert builtin[0] is not Exception or cls is Wav2VecHFError, f"{module}.{name} lost its built-in base"


def test_an_error_no_command_handled_is_one_message_and_exit_2(monkeypatch, capsys):
    from wav2vec_hf.data.audio import AudioError

    parser = cli.build_parser()

    def failing(args):
        raise AudioError("/data/a.wav", "unreadable", "cannot decode this audio; re-export it.")

    original = parser.parse_args

    def parse(argv):
        args = original(argv)
        args.func = failing
        return args

    monkeypatch.setattr(parser, "parse_args", parse)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    assert cli.main(["evaluate", "--model", "m", "--eval", "x.tsv"]) == 2
    err = capsys.readouterr().err
    assert err == "wav2vec-hf evaluate: error: /data/a.wav: cannot decode this audio; re-export it.\n"


def test_other_exceptions_still_propagate(monkeypatch):
    parser = cli.build_parser()
    original = parser.parse_args

    def parse(argv):
        args = original(argv)
        args.func = lambda args: 1 / 0
        return args

    monkeypatch.setattr(parser, "parse_args", parse)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    with pytest.raises(ZeroDivisionError):
        cli.main(["evaluate", "--model", "m", "--eval", "x.tsv"])
