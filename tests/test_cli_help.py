"""The stored ``finetune`` / ``pretrain`` help texts: equal to the live parsers', used only when valid.

A failure of the first test means an option changed: run ``python -m wav2vec_hf.cli_help --write``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wav2vec_hf import cli_help
from wav2vec_hf.cli import main


@pytest.mark.parametrize("command", cli_help.COMMANDS)
def test_stored_help_equals_the_live_parser(command, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(cli_help.WIDTH))
    record = json.loads((cli_help.HELP_FOLDER / f"{command}.json").read_text())
    stored, live = cli_help.stored_help(command), cli_help.live_help(command)
    assert "--output_dir" in live
    if record["versions"] != cli_help._versions():  # made with another transformers: never shown here
        assert stored is None
    else:
        assert stored == live, "stale help text: run python -m wav2vec_hf.cli_help --write"


def test_stored_help_is_printed_without_importing_transformers(tmp_path):
    code = (
        "import sys; from wav2vec_hf.cli import main\ntry: main(['finetune', '--help'])\n"
        "except SystemExit as e: rc = e.code\n"
        "print('TRANSFORMERS' if 'transformers' in sys.modules else 'CLEAN', rc)"
    )
    env = {"COLUMNS": str(cli_help.WIDTH), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout
    current = (
        json.loads((cli_help.HELP_FOLDER / "finetune.json").read_text())["versions"] == cli_help._versions()
    )
    assert out.rstrip().endswith("CLEAN 0" if current else "TRANSFORMERS 0")
    assert "--speed_perturbation" in out


def test_other_versions_or_widths_build_the_parser(monkeypatch, tmp_path):
    record = json.loads((cli_help.HELP_FOLDER / "finetune.json").read_text())
    record["versions"]["transformers"] = "0.0.1"
    monkeypatch.setattr(cli_help, "HELP_FOLDER", tmp_path)
    (tmp_path / "finetune.json").write_text(json.dumps(record))
    monkeypatch.setenv("COLUMNS", str(cli_help.WIDTH))
    assert cli_help.stored_help("finetune") is None
    record["versions"]["transformers"] = cli_help._versions()["transformers"]
    (tmp_path / "finetune.json").write_text(json.dumps(record))
    assert cli_help.stored_help("finetune") == record["text"]
    monkeypatch.setenv("COLUMNS", "132")
    assert cli_help.stored_help("finetune") is None


def test_help_with_other_options_is_not_a_help_request():
    assert cli_help.is_help_request(["--help"]) and cli_help.is_help_request(["-h"])
    assert not cli_help.is_help_request(["--model", "x", "--help"])


def test_the_stored_help_goes_through_main(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(cli_help.WIDTH))
    monkeypatch.setattr(cli_help, "stored_help", lambda command: f"stored help of {command}\n")
    with pytest.raises(SystemExit) as exited:
        main(["pretrain", "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out == "stored help of pretrain\n"
