"""The demo command runs its steps on a tiny corpus and reports a failing step with the log file."""

import json
import subprocess
import sys

import pytest

from wav2vec_hf import demo


def test_demo_builds_and_validates_a_tiny_corpus(tmp_path):
    out = tmp_path / "demo"
    command = [
        sys.executable,
        "-m",
        "wav2vec_hf.cli",
        "demo",
        "--output-dir",
        str(out),
        "--unlabeled-minutes",
        "0.2",
        "--labeled-minutes",
        "0.1",
        "--dev-minutes",
        "0.1",
        "--test-minutes",
        "0.1",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    results = json.loads((out / "results.json").read_text())
    checked = results["validate the corpus with the data layer"]
    built = results["build the built-in corpus"]["splits"]
    for split in ("unlabeled", "labeled", "dev", "test"):
        assert checked[split]["utterances"] == built[split]["utterances"] > 0
        assert abs(checked[split]["seconds"] - built[split]["seconds"]) < 0.05
    assert checked["labeled"]["with_transcript"] == checked["labeled"]["utterances"]
    assert (out / "demo.log").is_file()


def test_a_failing_step_names_itself_and_the_log(tmp_path, monkeypatch):
    def broken(run):
        raise ValueError("boom")

    monkeypatch.setattr(demo, "STEPS", [("the broken step", broken)])
    with pytest.raises(demo.DemoStepError, match=r"step 1 \(the broken step\) failed: boom.*demo\.log"):
        demo.run_demo(tmp_path / "d")
