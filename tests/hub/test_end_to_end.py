"""End to end, as a user would: ``wav2vec-hf push-to-hub`` in its own process (token from HF_TOKEN,
Hub from HF_ENDPOINT) to a stand-in Hub on 127.0.0.1, then every ``python`` block of every published
card run verbatim in a process where ``wav2vec_hf`` cannot be imported, downloading from that Hub."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.hub.conftest import FAKE_TOKEN
from tests.hub.fake_hub import FakeHub
from tests.hub.folders import KINDS, write_speech
from wav2vec_hf.hub.cards import CardOptions
from wav2vec_hf.hub.plan import plan_upload
from wav2vec_hf.hub.publish import push_plan
from wav2vec_hf.hub.redaction import REDACTED

# The stand-in Hub echoes the token in a validate-yaml warning; the scrubbed re-issue is tested in test_publish.
pytestmark = pytest.mark.filterwarnings("ignore:Warnings while validating metadata")
REPO_ROOT = Path(__file__).resolve().parents[2]
_PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", flags=re.DOTALL)
_OFFLINE_VARIABLES = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "HF_TOKEN",
    "PYTHONPATH",
)

# Runs snippet files in one process (one torch import) with wav2vec_hf made unimportable.
SNIPPET_RUNNER = r"""
import contextlib, importlib.abc, io, json, sys, traceback

class BlockWav2VecHF(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "wav2vec_hf" or name.startswith("wav2vec_hf."):
            raise ModuleNotFoundError(f"{name} is blocked: a card's snippet must work without wav2vec-hf")
        return None

sys.meta_path.insert(0, BlockWav2VecHF())
results = {}
for label, path in json.loads(sys.argv[1]).items():
    output = io.StringIO()
    try:
        with contextlib.redirect_stdout(output):
            exec(compile(open(path, encoding="utf-8").read(), label, "exec"), {"__name__": "__main__"})
        results[label] = {"ok": True, "stdout": output.getvalue()}
    except BaseException:
        results[label] = {"ok": False, "stdout": output.getvalue(), "error": traceback.format_exc()}
results["wav2vec_hf imported"] = any(m.split(".")[0] == "wav2vec_hf" for m in sys.modules)
print("RESULTS " + json.dumps(results))
"""


def _environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _OFFLINE_VARIABLES}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", HF_HUB_DISABLE_TELEMETRY="1")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def published(hub_folders, tmp_path_factory):
    """Every kind published to one stand-in Hub: the CLI (in a subprocess) for ctc-lm, the API for the rest."""
    from huggingface_hub import constants

    home = tmp_path_factory.mktemp("cli-home")
    with FakeHub(echo_token_in_errors=True, warn_on_validate="metadata checked", lifetime_s=300) as hub:
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "wav2vec_hf.cli",
                "push-to-hub",
                str(hub_folders["ctc-lm"]),
                "--repo-id",
                "org/ctc-lm",
            ],
            stdin=subprocess.DEVNULL,
            env=_environment(
                HF_ENDPOINT=hub.url,
                HF_TOKEN=FAKE_TOKEN,
                HF_HOME=str(home),
                PYTHONPATH=str(REPO_ROOT / "src"),
            ),
            capture_output=True,
            text=True,
            timeout=240,
        )
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(constants, "HF_HUB_OFFLINE", False)
            patch.setenv("HF_TOKEN", FAKE_TOKEN)
            patch.setenv("NO_PROXY", "127.0.0.1,localhost")
            for kind in KINDS:
                if kind != "ctc-lm":
                    plan = plan_upload(hub_folders[kind], CardOptions(repo_id=f"org/{kind}"))
                    push_plan(plan, f"org/{kind}", endpoint=hub.url)
        yield hub, cli


def test_cli_upload_in_its_own_process(published, hub_folders):
    hub, cli = published
    assert cli.returncode == 0, cli.stderr
    assert "uploaded 15 files to" in cli.stdout
    assert FAKE_TOKEN not in cli.stdout + cli.stderr
    assert REDACTED in cli.stderr  # the server echoed the token in a warning; it was scrubbed
    authorizations = {r.headers.get("authorization") for r in hub.requests if r.method == "POST"}
    assert authorizations == {f"Bearer {FAKE_TOKEN}"}  # HF_TOKEN, read the way huggingface_hub reads it
    expected = plan_upload(hub_folders["ctc-lm"], CardOptions(repo_id="org/ctc-lm"))
    assert hub.files("org/ctc-lm") == {
        planned.path_in_repo: planned.read_bytes() for planned in expected.files
    }
    assert all(FAKE_TOKEN.encode() not in r.body for r in hub.requests)


def test_every_cards_snippets_run_from_the_hub_without_wav2vec_hf(published, tmp_path):
    hub, _ = published
    snippets = {}
    for kind in KINDS:
        card = hub.files(f"org/{kind}")["README.md"].decode()
        blocks = _PYTHON_BLOCK.findall(card)
        assert blocks, f"the {kind} card has no python snippet"
        for index, block in enumerate(blocks):
            path = tmp_path / f"{kind}-{index}.py"
            path.write_text(block, encoding="utf-8")
            snippets[f"{kind}#{index}"] = str(path)
    write_speech(tmp_path / "speech.wav")
    run = subprocess.run(
        [sys.executable, "-c", SNIPPET_RUNNER, json.dumps(snippets)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        env=_environment(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf-home")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULTS ")]
    assert lines, f"the snippet runner crashed:\n{run.stderr[-3000:]}"
    results = json.loads(lines[-1][len("RESULTS ") :])
    failures = {
        label: result["error"]
        for label, result in results.items()
        if isinstance(result, dict) and not result["ok"]
    }
    assert not failures, "\n\n".join(f"{label}:\n{error}" for label, error in failures.items())
    assert results.pop("wav2vec_hf imported") is False
    assert set(results) == {*snippets}
    prompted = [label for label, result in results.items() if "custom code" in result["stdout"]]
    assert not prompted, f"these snippets made transformers ask about remote code: {prompted}"
    # The printed shapes are the models' real ones for 1 s of audio:
    # wav2vec tiny: (16000 - 465) // 160 + 1 = 98 frames of 32 channels;
    # wav2vec 2.0 tiny: strides (10, 4, 2, 2, 2), kernels (20, 8, 4, 4, 4) -> 48 frames of 64.
    assert "torch.Size([1, 32, 98])" in results["wav2vec#0"]["stdout"]
    assert "torch.Size([1, 48, 64])" in results["wav2vec2#0"]["stdout"]
    units = results["vq-wav2vec#0"]["stdout"].split()
    assert units and all(re.fullmatch(r"\d+-\d+", unit) for unit in units[:-1])
    assert "with LM:" in results["ctc-lm#0"]["stdout"] and "greedy:" in results["ctc-lm#0"]["stdout"]
    assert hub.unhandled == [], hub.unhandled
