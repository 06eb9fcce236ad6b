"""``--push_to_hub`` in the pretraining loop, against the stand-in Hub on 127.0.0.1 (``tests.hub.fake_hub``)."""

from __future__ import annotations

import pytest
from huggingface_hub import ModelCard, constants

from tests.hub.fake_hub import FakeHub
from tests.pretraining.support import build_tiny_corpus, run
from tests.pretraining.test_loop_cli import quick
from wav2vec_hf.hub.publish import PublishError

TOKEN = "hf_FAKEtokenForPretrainingTests0123456789"


@pytest.fixture
def online(monkeypatch):
    """huggingface_hub allowed to send requests (the suite runs offline), with a token."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("HF_TOKEN", TOKEN)


def test_every_export_is_pushed_in_order_and_the_repo_ends_with_the_final_one(
    tmp_path, online, monkeypatch, capsys
):
    corpus = build_tiny_corpus(tmp_path)
    output = tmp_path / "run"
    with FakeHub() as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        result = run(
            quick(corpus, output, "--max_steps", "4", "--export_steps", "2", "--push_to_hub", "true",
                  "--hub_model_id", "org/tiny-pretrained", "--hub_private_repo", "true")
        )  # fmt: skip
        repo = hub.repos["org/tiny-pretrained"]
        uploaded = hub.files("org/tiny-pretrained")
        # huggingface_hub may fetch its daily agent-harness registry from the endpoint: not ours.
        assert [r for r in hub.unhandled if "agent-harnesses" not in r] == []

    summaries = [commit["header"]["summary"] for commit in repo.commits]
    assert summaries == [f"Pretraining export at update {n} (wav2vec-hf)" for n in (2, 4, 4)]
    assert repo.private
    final = result.export_dir
    for name in ("model.safetensors", "config.json", "preprocessor_config.json"):
        assert uploaded[name] == (final / name).read_bytes()
    assert (output / "exports" / "update-00000002" / "model.safetensors").read_bytes() != uploaded[
        "model.safetensors"
    ]  # the last commit carries the final weights, not the first export's
    card = ModelCard(uploaded["README.md"].decode())
    assert "org/tiny-pretrained" in card.text
    # The card's rows come from the loop's own records (not hand-written fixtures).
    assert "| device | cpu |" in card.text and "| num processes | 1 |" in card.text
    assert "| model preset | wav2vec2-tiny |" in card.text and "| updates | 4 |" in card.text
    printed = capsys.readouterr()
    assert TOKEN not in printed.out + printed.err
    assert "pushed to org/tiny-pretrained@main" in printed.out


def test_push_is_refused_before_training_when_offline_or_without_a_repo(tmp_path, monkeypatch):
    corpus = build_tiny_corpus(tmp_path)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PublishError, match="HF_HUB_OFFLINE"):
        run(quick(corpus, tmp_path / "a", "--push_to_hub", "true", "--hub_model_id", "org/x"))
    assert not (tmp_path / "a" / "checkpoints").exists()  # nothing trained
    with pytest.raises(ValueError, match="--hub_model_id"):
        run(quick(corpus, tmp_path / "b", "--push_to_hub", "true"))


def test_the_loop_knows_no_hub_a_push_without_a_publisher_is_refused_before_training(tmp_path):
    from accelerate.state import AcceleratorState, GradientState

    from wav2vec_hf.pretraining.arguments import parse_arguments
    from wav2vec_hf.pretraining.loop import run_pretraining

    corpus = build_tiny_corpus(tmp_path)
    config = parse_arguments(
        quick(corpus, tmp_path / "a", "--push_to_hub", "true", "--hub_model_id", "org/x")
    )
    try:
        with pytest.raises(
            ValueError, match=r"export_publisher=wav2vec_hf\.hub\.export_publisher\.publisher_for"
        ):
            run_pretraining(config)  # a library call without the command's wiring: never a silent non-push
    finally:
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
    assert not (tmp_path / "a" / "checkpoints").exists()  # nothing trained
