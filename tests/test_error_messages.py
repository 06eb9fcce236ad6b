"""Errors that name the cause: one line naming the file and the fix, exit 2 for a user's mistake (issue #17)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from huggingface_hub import constants

from tests.hub.folders import build_ctc, build_wav2vec2, write_speech
from wav2vec_hf import cli
from wav2vec_hf.cli_messages import for_command


@pytest.fixture(autouse=True)
def reset_accelerate():
    """Commands that reach the pretraining loop leave Accelerate's process-wide state behind."""
    yield
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()


@pytest.fixture(scope="module")
def ctc_model(tmp_path_factory) -> Path:
    return build_ctc(tmp_path_factory.mktemp("models") / "ctc")


@pytest.fixture
def audio(tmp_path) -> dict[str, Path]:
    """Two good utterances, a corrupt one, and tables of them."""
    good = [write_speech(tmp_path / f"good{i}.wav", seconds=2.0) for i in range(2)]
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF" + os.urandom(2000))
    good_table = tmp_path / "good.tsv"
    good_table.write_text("path\ttranscript\n" + "".join(f"{p}\tAB CAB\n" for p in good), encoding="utf-8")
    bad_table = tmp_path / "bad.tsv"
    bad_table.write_text(f"path\ttranscript\n{good[0]}\tAB\n{bad}\tAB\n", encoding="utf-8")
    return {"good": good_table, "bad": bad_table, "wav": good[0], "bad_wav": bad}


def error_line(capsys, prefix: str) -> str:
    """The one line a command printed on stderr (progress and loading noise aside), checked to start with ``prefix``."""
    noise = ("Loading weights", "Writing model shards", "INFO ", "WARNING ")
    lines = [
        line for line in capsys.readouterr().err.splitlines() if line.strip() and not line.startswith(noise)
    ]
    assert len(lines) == 1, lines
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


PRETRAIN = ["pretrain", "--model_type", "wav2vec2", "--preset", "wav2vec2-tiny", "--max_steps", "2"]
PRETRAIN_QUIET = ["--progress_bar", "false", "--report_to", "none", "--plots", "false"]


# --- a manifest that is not UTF-8 ------------------------------------------------------------------


def latin1_manifest(tmp_path: Path, audio: dict[str, Path]) -> Path:
    manifest = tmp_path / "latin1.tsv"
    manifest.write_bytes(f"path\ttranscript\n{audio['wav']}\tcaf\xe9 AB\n".encode("latin-1"))
    return manifest


@pytest.mark.parametrize("command", ["finetune", "evaluate", "pretrain"])
def test_non_utf8_manifest_names_the_file_the_line_and_the_fix(command, tmp_path, audio, ctc_model, capsys):
    manifest = latin1_manifest(tmp_path, audio)
    argv = {
        "finetune": ["finetune", "--model", "wav2vec2-tiny", "--train", str(manifest), "--output_dir", str(tmp_path / "o")],
        "evaluate": ["evaluate", "--model", str(ctc_model), "--data", str(manifest)],
        "pretrain": [*PRETRAIN, "--train", str(manifest), "--output_dir", str(tmp_path / "o")],
    }[command]  # fmt: skip
    assert cli.main(argv) == 2  # pretrain: was a UnicodeDecodeError traceback
    line = error_line(capsys, f"wav2vec-hf {command}: error: {manifest}:2: not UTF-8 (byte 0xe9")
    assert "save the file as UTF-8" in line


def test_non_utf8_fairseq_labels_are_named_with_their_line(tmp_path, audio):
    from wav2vec_hf.data import ManifestError, open_audio_source

    manifest = tmp_path / "train.tsv"
    manifest.write_text(f"{audio['wav'].parent}\n{audio['wav'].name}\t32000\n")
    (tmp_path / "train.wrd").write_bytes("CAF\xc9\n".encode("latin-1"))
    with pytest.raises(ManifestError, match=r"train\.wrd:1: not UTF-8 \(byte 0xc9 at column 4\)"):
        open_audio_source(manifest)


# --- an empty manifest in pretrain ---------------------------------------------------------------


def test_pretrain_on_a_manifest_without_rows_says_so(tmp_path, capsys):
    manifest = tmp_path / "train.tsv"
    manifest.write_text(f"{tmp_path}\n")  # the root line, and no utterance
    rc = cli.main([*PRETRAIN, *PRETRAIN_QUIET, "--train", str(manifest), "--output_dir", str(tmp_path / "o")])
    assert rc == 2  # was a ValueError traceback pointing at a skip report that does not exist
    line = error_line(capsys, f"wav2vec-hf pretrain: error: train: {manifest} lists no utterances")
    assert "skip report" not in line


# --- a missing model folder ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["transcribe", "evaluate"])
@pytest.mark.parametrize("offline", [True, False])
def test_a_missing_model_folder_is_named_not_a_hub_connection_error(
    command, offline, tmp_path, audio, capsys, monkeypatch
):
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        missing = "runs-that-do-not-exist/model"  # could be a Hub id: offline, it is not looked up
    else:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        missing = str(tmp_path / "runs" / "finetuned")  # a local path: never sent to the Hub
    argv = {
        "transcribe": ["transcribe", missing, str(audio["wav"]), "--no-progress"],
        "evaluate": ["evaluate", "--model", missing, "--data", str(audio["good"])],
    }[command]
    assert cli.main(argv) == 2
    line = error_line(capsys, f"wav2vec-hf {command}: error: {missing}: no such model folder")
    assert "huggingface.co" not in line and "Repo id" not in line


# --- convert-fairseq on a file that is no checkpoint -----------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"not a checkpoint\n", "not a torch checkpoint (a text file"),
        (b'{"model": {}}\n', "not a torch checkpoint (a text file"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n", "a Git LFS pointer"),
        (b"\x80\x02garbage", "a damaged checkpoint"),
    ],
)
def test_convert_fairseq_never_suggests_trust_pickle_for_a_non_checkpoint(
    tmp_path, capsys, content, expected
):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    assert cli.main(["convert-fairseq", "--checkpoint", str(path), "--output", str(tmp_path / "out")]) == 2
    line = error_line(capsys, f"wav2vec-hf convert-fairseq: error: {path}: ")
    assert expected in line and "--trust-pickle" not in line
    assert not (tmp_path / "out").exists()


# --- hints name the flag of the command in use ------------------------------------------------------


def test_for_command_rewrites_the_library_hint():
    message = "bad.wav: corrupt; remove it (on_bad='skip' skips such files and counts them).\nFix them, or pass on_bad='skip' to skip and count them."
    assert for_command(message, "--skip-bad") == (
        "bad.wav: corrupt; remove it (--skip-bad skips such files and counts them).\n"
        "Fix them, or pass --skip-bad to skip and count them."
    )
    assert for_command(message, None) == "bad.wav: corrupt; remove it.\nFix them."


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        ("finetune", "--on_bad skip"),
        ("pretrain", "--on_bad skip"),
        ("transcribe", "--skip_bad"),
        ("evaluate", None),
    ],
)
def test_bad_audio_hint_names_the_flag_of_the_command(command, flag, tmp_path, audio, ctc_model, capsys):
    bad = str(audio["bad"])
    argv = {
        "finetune": ["finetune", "--model", "wav2vec2-tiny", "--train", bad, "--output_dir", str(tmp_path / "o")],
        "pretrain": [*PRETRAIN, *PRETRAIN_QUIET, "--train", bad, "--output_dir", str(tmp_path / "o")],
        "transcribe": ["transcribe", str(ctc_model), str(audio["bad_wav"]), "--no-progress"],
        "evaluate": ["evaluate", "--model", str(ctc_model), "--data", bad],
    }[command]  # fmt: skip
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "bad.wav" in err
    assert "on_bad='skip'" not in err  # the library's API name, not a flag of any command
    if flag is None:
        assert "on_bad" not in err and "skip-bad" not in err  # evaluate has no such flag
    else:
        assert flag in err


# --- pretrain --push_to_hub failures --------------------------------------------------------------------


def test_pretrain_push_to_hub_refused_offline_is_one_line_exit_2(tmp_path, audio, capsys, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    argv = [*PRETRAIN, *PRETRAIN_QUIET, "--train", str(audio["good"]), "--output_dir", str(tmp_path / "o")]
    assert cli.main([*argv, "--push_to_hub", "true", "--hub_model_id", "org/x"]) == 2  # was a traceback
    error_line(capsys, "wav2vec-hf pretrain: error: --push_to_hub: HF_HUB_OFFLINE is set")


def test_failed_uploads_name_every_export_that_did_not_reach_the_hub(tmp_path, monkeypatch):
    from wav2vec_hf.hub import export_publisher as hub_push
    from wav2vec_hf.hub.publish import PublishError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_TOKEN", "hf_FAKEtokenForTestsOnly0123456789abcdef")

    def failing_push(plan, repo_id, **options):
        raise PublishError(f"upload to {repo_id} failed: 503 Service Unavailable\n(retry later)")

    monkeypatch.setattr(hub_push, "push_plan", failing_push)
    publisher = hub_push.ExportPublisher("org/x")
    exports = [build_wav2vec2(tmp_path / "exports" / f"update-0000000{n}") for n in (2, 4)]
    for update, folder in zip((2, 4), exports, strict=True):
        publisher.submit(folder, update)
    with pytest.raises(hub_push.UploadsFailedError) as raised:
        publisher.finish()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("2 of 2 exports did not reach org/x: ")
    assert (
        all(str(folder) in message for folder in exports)
        and "503 Service Unavailable (retry later)" in message
    )
    assert "wav2vec-hf push-to-hub DIR --repo-id org/x" in message
    assert raised.value.failed == exports


def test_pretrain_exits_1_with_one_line_when_exports_did_not_reach_the_hub(
    tmp_path, audio, capsys, monkeypatch
):
    from wav2vec_hf.hub import export_publisher as hub_push
    from wav2vec_hf.pretraining import loop

    def run_pretraining(config, accelerator=None, export_publisher=None):
        raise hub_push.UploadsFailedError(
            "1 of 1 exports did not reach org/x: runs/a/exports/update-00000002 (503)", []
        )

    monkeypatch.setattr(loop, "run_pretraining", run_pretraining)
    argv = [*PRETRAIN, *PRETRAIN_QUIET, "--train", str(audio["good"]), "--output_dir", str(tmp_path / "o")]
    assert cli.main(argv) == 1
    error_line(
        capsys,
        "wav2vec-hf pretrain: error: 1 of 1 exports did not reach org/x: runs/a/exports/update-00000002",
    )
    assert not (tmp_path / "o" / ".wav2vec-hf.lock").exists()


def test_lock_is_released_when_a_command_fails(tmp_path, audio, capsys):
    shutil.rmtree(tmp_path / "o", ignore_errors=True)
    manifest = latin1_manifest(tmp_path, audio)
    assert cli.main([*PRETRAIN, "--train", str(manifest), "--output_dir", str(tmp_path / "o")]) == 2
    capsys.readouterr()
    assert not (tmp_path / "o" / ".wav2vec-hf.lock").exists()
