"""``finetune --push_to_hub`` goes through the package's upload plan and card (against the stand-in Hub on
127.0.0.1, ``tests.hub.fake_hub``): no pickle leaves the machine, the Trainer never pushes on its own,
and the token is never shown."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from huggingface_hub import HfApi, ModelCard, constants

from tests.hub.fake_hub import FakeHub
from wav2vec_hf.data import open_audio_source
from wav2vec_hf.finetuning.arguments import parse_args
from wav2vec_hf.finetuning.ctc import finetune_ctc
from wav2vec_hf.hub import finetuned_publisher as hub_push
from wav2vec_hf.hub import publish as hub_publish
from wav2vec_hf.hub.publish import PublishError
from wav2vec_hf.recipes.corpus import build_corpus

TOKEN = "hf_FAKEtokenForFinetuningTests0123456789"
PICKLES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


@pytest.fixture
def online(monkeypatch):
    """huggingface_hub allowed to send requests (the suite runs offline), with a token."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_TOKEN", TOKEN)


def _arguments(tmp_path, *extra: str):
    corpus = build_corpus(
        tmp_path / "corpus",
        unlabeled_minutes=0.05,
        labeled_minutes=0.2,
        dev_minutes=0.1,
        test_minutes=0.05,
        lm_sentences=10,
        num_workers=1,
        progress=False,
    )
    argv = [
        "--model", "wav2vec2-tiny", "--train", str(corpus.root / "labeled.tsv"),
        "--output_dir", str(tmp_path / "run"), "--max_steps", "2", "--save_steps", "1", "--eval_steps", "1",
        "--per_device_train_batch_size", "4", "--disable_tqdm", "true", "--report_to", "none", *extra,
    ]  # fmt: skip
    return corpus.root, parse_args(argv)


def test_push_uploads_the_package_card_and_no_pickle(tmp_path, online, monkeypatch, capsys):
    corpus, (model_args, data_args, recipe_args, training_args) = _arguments(
        tmp_path, "--push_to_hub", "--hub_model_id", "org/tiny-ctc", "--hub_private_repo", "true"
    )
    data_args.eval = open_audio_source(corpus / "dev.tsv").to_hf_dataset()  # an in-memory datasets object
    with FakeHub() as hub:
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        finetune_ctc(model_args, data_args, recipe_args, training_args, hub_publisher=hub_push.publisher_for)
        repo = hub.repos["org/tiny-ctc"]
        uploaded = hub.files("org/tiny-ctc")
        assert [r for r in hub.unhandled if "agent-harnesses" not in r] == []

    output = tmp_path / "run"
    assert (output / "training_args.bin").is_file() and (output / "checkpoint-2").is_dir()  # there, but...
    assert not [
        name for name in uploaded if name.endswith(PICKLES) or name.startswith("checkpoint-")
    ]  # ...kept
    assert {"model.safetensors", "config.json", "vocab.json", "finetuning.json", "README.md"} <= set(uploaded)
    assert [commit["header"]["summary"] for commit in repo.commits] == [
        hub_push.COMMIT_MESSAGE
    ]  # no Trainer push
    assert repo.private
    card = ModelCard(uploaded["README.md"].decode())
    assert "wav2vec-hf" in card.data.tags and '"org/tiny-ctc"' in card.text  # the package's card
    assert "Dataset(" not in card.text and card.data.eval_results is None  # in-memory eval: table only
    record = json.loads(uploaded["finetuning.json"])
    eval_set = record["datasets"]["eval"]
    assert eval_set["name"].startswith("in-memory dataset (") and eval_set["hub_id"] is None
    assert "Dataset(" not in uploaded["finetuning.json"].decode()
    assert record["arguments"]["data"]["eval"].startswith("in-memory dataset")
    printed = capsys.readouterr()
    assert TOKEN not in printed.out + printed.err


def test_push_is_refused_before_training(tmp_path, monkeypatch):
    _, arguments = _arguments(tmp_path, "--push_to_hub", "--hub_model_id", "org/x")
    # Fine-tuning knows no Hub: a library call asking for a push without a publisher is refused.
    with pytest.raises(
        ValueError, match=r"hub_publisher=wav2vec_hf\.hub\.finetuned_publisher\.publisher_for"
    ):
        finetune_ctc(*arguments)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(PublishError, match="HF_HUB_OFFLINE"):
        finetune_ctc(*arguments, hub_publisher=hub_push.publisher_for)
    assert not (tmp_path / "run" / "model.safetensors").exists()  # nothing trained
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_publish, "get_token", lambda: None)
    with pytest.raises(PublishError, match="no Hugging Face token"):
        finetune_ctc(*arguments, hub_publisher=hub_push.publisher_for)


def test_target_takes_the_trainer_push_and_finds_the_namespace(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(HfApi, "whoami", lambda self, *a, **kw: {"name": "alice"})

    def arguments(**changes):
        fields = dict(push_to_hub=True, process_index=0, hub_token=TOKEN, hub_model_id=None,
                      output_dir=str(tmp_path / "my-run"), hub_strategy="every_save", hub_private_repo=None,
                      hub_revision=None)  # fmt: skip
        return SimpleNamespace(**{**fields, **changes})

    given = arguments()
    target = hub_push.hub_target(given)
    assert (target.repo_id, target.private, target.token) == ("alice/my-run", None, TOKEN)
    assert given.push_to_hub is False  # the Trainer will not push its own card and training_args.bin
    assert TOKEN not in repr(target)
    assert (
        hub_push.hub_target(arguments(hub_model_id="org/named", hub_private_repo=True)).repo_id == "org/named"
    )
    other_rank = arguments(process_index=1)
    assert hub_push.hub_target(other_rank) is None and other_rank.push_to_hub is False
    with pytest.raises(PublishError, match="repo-id"):
        hub_push.hub_target(arguments(hub_model_id="org/has space"))
