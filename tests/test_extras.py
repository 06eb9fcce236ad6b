"""Optional dependencies: pyproject.toml's extras match ``wav2vec_hf.extras``, the core imports without
them, and a missing one is one error that names ``pip install 'wav2vec-hf[extra]'``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from wav2vec_hf import cli
from wav2vec_hf.extras import DISTRIBUTIONS, EXTRAS, MissingExtraError, require_extra, require_extras

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
OPTIONAL_MODULES = sorted({module for modules in EXTRAS.values() for module in modules})


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]


def test_pyproject_extras_install_the_modules_of_extras_py(project):
    optional = project["optional-dependencies"]
    for extra, modules in EXTRAS.items():
        assert extra in optional, f"extra {extra!r} of wav2vec_hf/extras.py is missing from pyproject.toml"
        wanted = {DISTRIBUTIONS.get(module, module) for module in modules}
        assert wanted <= _names(optional[extra]), extra
    every_extra = set().union(*(_names(optional[extra]) for extra in EXTRAS))
    assert _names(optional["all"]) == every_extra
    assert _names(optional["test"]) == every_extra | _names(optional["dev"])  # the suite needs them all
    assert {"pytest", "ruff", "hypothesis", "kaldingram"} <= _names(optional["dev"])


def test_optional_packages_are_not_core_dependencies(project):
    core = _names(project["dependencies"])
    assert "jiwer" in core
    assert "librosa" not in core, "librosa is never imported; it pulls numba and llvmlite"
    assert not core & {DISTRIBUTIONS.get(m, m) for m in OPTIONAL_MODULES}


def test_the_core_imports_without_any_extra():
    """Every module of the package imports with the optional packages blocked (their imports are lazy)."""
    code = (
        "import sys, importlib, pkgutil\n"
        f"for name in {[*OPTIONAL_MODULES, 'pyctcdecode']!r}:\n"
        "    sys.modules[name] = None  # import raises ModuleNotFoundError\n"
        "import wav2vec_hf\n"
        "skip = ('wav2vec_hf.__main__',)\n"
        "for info in pkgutil.walk_packages(wav2vec_hf.__path__, 'wav2vec_hf.'):\n"
        "    if info.name not in skip:\n"
        "        importlib.import_module(info.name)\n"
        "from wav2vec_hf.cli import build_parser\n"
        "build_parser()\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("ok")


def test_a_missing_extra_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    from wav2vec_hf.pretraining.plots import plot_curves

    with pytest.raises(MissingExtraError, match=re.escape("pip install 'wav2vec-hf[plots]'")) as caught:
        plot_curves([{"split": "train", "update": 1, "loss": 1.0}], tmp_path / "curves.png")
    assert "pretraining curves needs matplotlib" in str(caught.value)
    assert isinstance(caught.value, ImportError)  # callers catching ImportError still do


def test_require_extra_blames_only_the_module_itself(monkeypatch):
    with pytest.raises(ModuleNotFoundError) as caught:
        require_extra("wav2vec_hf.no_such_module", "plots")  # the package is there: not a missing extra
    assert not isinstance(caught.value, MissingExtraError)
    assert require_extra("json", "plots").dumps([]) == "[]"


def test_require_extras_lists_every_missing_package_at_once(monkeypatch):
    monkeypatch.setitem(sys.modules, "kenlm", None)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    with pytest.raises(MissingExtraError) as caught:
        require_extras("demo", purpose="wav2vec-hf demo")
    assert str(caught.value) == (
        "wav2vec-hf demo needs kenlm, espeakng-loader, which are not installed; "
        "install them with: pip install 'wav2vec-hf[demo]'"
    )
    with pytest.raises(KeyError, match="unknown extra 'plot'"):
        require_extras("plot", purpose="x")


def test_commands_exit_2_with_the_install_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert cli.main(["demo", "--output-dir", str(tmp_path / "demo")]) == 2
    assert "pip install 'wav2vec-hf[demo]'" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()  # refused before any step

    monkeypatch.setitem(sys.modules, "sentencepiece", None)
    argv = ["self-train", "--pretrained", "p", "--labeled", "l", "--unlabeled", "u", "--dev", "d"]
    argv += ["--lm-text", "t", "--output-dir", str(tmp_path / "st"), "--final-model", "seq2seq"]
    assert cli.main(argv) == 2
    assert "pip install 'wav2vec-hf[seq2seq]'" in capsys.readouterr().err
