"""The built wheel works on its own: installed with ``pip install --prefix`` (not the checkout, not the
editable install), it finds its model-card templates and runs the README's commands as modules.

Dependencies come from the test environment (``--no-deps``); only ``wav2vec_hf`` comes from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.hub.folders import KINDS, build_all

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_FILES = ("pyproject.toml", "README.md", "model_cards", "src/wav2vec_hf")
TEMPLATES = sorted(path.name for path in (REPO_ROOT / "model_cards").glob("*.md"))

pytestmark = pytest.mark.slow


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the project (so the build leaves no build/ or egg-info here)."""
    source = tmp_path_factory.mktemp("source")
    for name in PROJECT_FILES:
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(
                REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
            )
        else:
            shutil.copy2(REPO_ROOT / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(source))
    (built,) = dist.glob("wav2vec_hf-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> tuple[Path, Path]:
    """(prefix, its site-packages) of the wheel installed with ``--prefix``."""
    prefix = tmp_path_factory.mktemp("prefix")
    # --ignore-installed: without it pip first UNINSTALLS this environment's (editable) wav2vec-hf.
    _pip("install", "--no-deps", "--no-index", "--ignore-installed", "--prefix", str(prefix), str(wheel))
    (site_packages,) = prefix.glob("lib*/python*/site-packages")
    check = "import importlib.metadata as m; print(m.version('wav2vec-hf'))"
    kept = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert kept.returncode == 0, "installing the wheel with --prefix removed the environment's wav2vec-hf"
    return prefix, site_packages


def _run(site_packages: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """``python *args`` with the wheel's copy first on the path and no hint to the checkout."""
    env = {key: value for key, value in os.environ.items() if key != "WAV2VEC_HF_MODEL_CARDS"}
    env["PYTHONPATH"] = str(site_packages)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_wheel_contents(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    data = "wav2vec_hf-0.1.0.data/data/share/wav2vec-hf/model_cards/"
    assert {name.removeprefix(data) for name in names if name.startswith(data)} == set(TEMPLATES)
    assert "wav2vec_hf/__main__.py" in names and "wav2vec_hf/recipes/texts/nouns.txt" in names
    assert {"wav2vec_hf/help_text/finetune.json", "wav2vec_hf/help_text/pretrain.json"} <= names
    # the compiled beam search is built with the wheel (the tests' machines have a C compiler)
    assert [n for n in names if n.startswith("wav2vec_hf/decoding/_search_core") and n.endswith(".so")]
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    core = [line for line in requires if "extra ==" not in line]
    assert not [line for line in requires if "librosa" in line]
    for optional in ("kenlm", "matplotlib", "espeakng-loader", "tensorboard", "sentencepiece"):
        assert not [line for line in core if optional in line], f"{optional} must be an extra"
    for extra in ("lm", "plots", "tts", "tensorboard", "seq2seq", "demo", "all", "dev", "test"):
        assert f"Provides-Extra: {extra}" in metadata


def test_installed_wheel_renders_every_card(installed, tmp_path):
    prefix, site_packages = installed
    folders = build_all(tmp_path / "folders")
    code = (
        "import json, sys, wav2vec_hf\n"
        "from wav2vec_hf.hub.cards import CardOptions, default_templates_dir, render_card\n"
        "folders = json.loads(sys.argv[1])\n"
        "texts = {kind: render_card(path, CardOptions(repo_id='org/m')).text for kind, path in folders.items()}\n"
        "print(json.dumps({'package': wav2vec_hf.__file__, 'templates': str(default_templates_dir()),\n"
        "                  'first_lines': {kind: text.splitlines()[0] for kind, text in texts.items()}}))\n"
    )
    arguments = json.dumps({kind: str(folders[kind]) for kind in KINDS})
    result = _run(site_packages, tmp_path, "-c", code, arguments)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["package"]).is_relative_to(site_packages), "the editable install was imported"
    assert Path(report["templates"]) == (prefix / "share" / "wav2vec-hf" / "model_cards").resolve()
    assert set(report["first_lines"]) == set(KINDS)
    assert set(report["first_lines"].values()) == {"---"}


def test_installed_wheel_runs_the_commands_as_modules(installed, tmp_path):
    prefix, site_packages = installed
    result = _run(site_packages, tmp_path, "-m", "wav2vec_hf", "pretrain", "--help")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--model_type" in result.stdout and "--report_to" in result.stdout

    result = _run(site_packages, tmp_path, "-m", "wav2vec_hf", "--help")
    assert result.returncode == 0, result.stderr[-3000:]
    for command in ("pretrain", "finetune", "build-lm", "self-train", "convert-fairseq", "push-to-hub"):
        assert command in result.stdout
    assert (prefix / "bin" / "wav2vec-hf").is_file()  # the console script
