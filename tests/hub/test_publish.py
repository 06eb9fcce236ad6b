"""The upload, against a stand-in Hub on 127.0.0.1 (``fake_hub``): what huggingface_hub sends, what
the repo ends up holding, and that the token is used but never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from huggingface_hub import ModelCard, constants

from tests.hub.conftest import FAKE_TOKEN
from tests.hub.fake_hub import FakeHub
from wav2vec_hf.cli import main as cli_main
from wav2vec_hf.hub.cards import CardOptions
from wav2vec_hf.hub.plan import plan_upload
from wav2vec_hf.hub.publish import PublishError, push_folder, push_plan
from wav2vec_hf.hub.redaction import REDACTED


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def test_upload_sends_exactly_the_dry_run_folder(hub_folders, hub_client_online, tmp_path):
    folder = hub_folders["ctc-lm"]
    options = CardOptions(repo_id="org/tiny-asr")
    plan = plan_upload(folder, options)
    dry_run = _tree(plan.write(tmp_path / "dry"))

    with FakeHub() as hub:
        result = push_plan(plan, "org/tiny-asr", private=True, revision="experiment", endpoint=hub.url)
        assert hub.unhandled == []
        uploaded = hub.files("org/tiny-asr", branch="experiment")
        kinds = [(r.method, r.path) for r in hub.requests]
        creates = hub.requests_to(r"^/api/repos/create$")
        repo = hub.repos["org/tiny-asr"]

    assert uploaded == dry_run  # same paths, same bytes
    assert "main" in repo.branches and repo.branches["main"].files == {}  # nothing went to main
    assert repo.private and creates[0].headers["authorization"] == f"Bearer {FAKE_TOKEN}"  # HF_TOKEN was used
    assert kinds == [
        ("POST", "/api/repos/create"),
        ("POST", "/api/models/org/tiny-asr/branch/experiment"),
        ("POST", "/api/validate-yaml"),
        ("POST", "/api/models/org/tiny-asr/preupload/experiment"),
        ("POST", "/api/models/org/tiny-asr/commit/experiment"),
    ]
    assert result.commit_oid == repo.branches["experiment"].sha and result.revision == "experiment"
    assert repo.commits[0]["header"]["summary"] == "Upload ctc-lm model with wav2vec-hf"
    card = ModelCard(uploaded["README.md"].decode())
    assert card.data.pipeline_tag == "automatic-speech-recognition" and len(card.data.eval_results) == 7
    assert sorted(result.files) == sorted(uploaded)


def test_upload_into_an_existing_repo_adds_a_commit(hub_folders, hub_client_online):
    with FakeHub() as hub:
        push_plan(
            plan_upload(hub_folders["wav2vec2"], CardOptions(repo_id="org/m")), "org/m", endpoint=hub.url
        )
        result = push_folder(hub_folders["ctc"], "org/m", endpoint=hub.url, commit_message="fine-tuned")
        repo = hub.repos["org/m"]
    assert [commit["header"]["summary"] for commit in repo.commits] == [
        "Upload wav2vec2 model with wav2vec-hf",
        "fine-tuned",
    ]
    assert "vocab.json" in repo.branches["main"].files  # the second commit's processor is there
    assert result.commit_oid == repo.branches["main"].sha
    assert '"org/m"' in repo.branches["main"].files["README.md"].decode()  # the card names the repo


def test_token_never_appears_even_when_the_server_echoes_it(
    hub_folders, hub_client_online, capsys, caplog, recwarn
):
    plan = plan_upload(hub_folders["ctc"], CardOptions(repo_id="org/echo"))
    caplog.set_level(logging.DEBUG)
    with FakeHub(echo_token_in_errors=True, fail={"commit": 403}, warn_on_validate="metadata checked") as hub:
        with pytest.raises(PublishError) as raised:
            push_plan(plan, "org/echo", endpoint=hub.url)
        validate_answer = hub.requests_to("validate-yaml")
    message = str(raised.value)
    assert FAKE_TOKEN not in message
    assert REDACTED in message  # the server did echo it: the redaction is what kept it out
    assert "403" in message and "cannot write to this namespace" in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # no chained original
    captured = capsys.readouterr()
    assert validate_answer, "the client validated the card first"
    shown = [str(warning.message) for warning in recwarn]
    assert any("metadata checked" in text and REDACTED in text for text in shown)  # the server's warning...
    assert not any(FAKE_TOKEN in text for text in shown)  # ...without the token
    assert FAKE_TOKEN not in captured.out + captured.err
    assert REDACTED in caplog.text and FAKE_TOKEN not in caplog.text  # the 403's echo was scrubbed in logs
    assert FAKE_TOKEN not in plan.card.text


def test_cli_failure_output_has_no_token(hub_folders, hub_client_online, capsys, monkeypatch):
    with FakeHub(echo_token_in_errors=True, fail={"create_repo": 401}) as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)  # what HF_ENDPOINT sets at import
        code = cli_main(["push-to-hub", str(hub_folders["ctc-remote"]), "--repo-id", "org/c"])
    captured = capsys.readouterr()
    assert code == 2
    assert "upload to org/c failed" in captured.err and "invalid or expired" in captured.err
    assert FAKE_TOKEN not in captured.out + captured.err and REDACTED in captured.err


def test_refusals_before_any_request(hub_folders, hub_client_online, monkeypatch, tmp_path):
    plan = plan_upload(hub_folders["wav2vec2"])
    with FakeHub() as hub:
        with pytest.raises(PublishError, match="org/name"):
            push_plan(plan, "no-namespace", endpoint=hub.url)
        with pytest.raises(PublishError, match="org/name"):
            push_plan(plan, "a/b/c", endpoint=hub.url)

        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        with pytest.raises(PublishError, match="HF_HUB_OFFLINE"):
            push_plan(plan, "org/w", endpoint=hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

        monkeypatch.delenv("HF_TOKEN")
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
        monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-stored-tokens"))
        with pytest.raises(PublishError, match="no Hugging Face token found"):
            push_plan(plan, "org/w", endpoint=hub.url)
        assert hub.requests == []
