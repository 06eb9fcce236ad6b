"""Model cards: every template renders, huggingface_hub's own parser reads it back, and the facts
come from the folder and the run's records."""

from __future__ import annotations

import json
import math
import re

import pytest
from huggingface_hub import ModelCard, metadata_load

from tests.hub.folders import KINDS, UNIT_TOKENS
from wav2vec_hf.hub.artefacts import ArtefactError
from wav2vec_hf.hub.cards import CardError, CardOptions, check_card, render_card
from wav2vec_hf.hub.scores import EvalScore, ScoresError, read_results_file

EXPECTED = {
    # kind: (pipeline_tag, generation tag, remote code, arXiv ids cited)
    "wav2vec": ("feature-extraction", "wav2vec", True, {"1904.05862"}),
    "vq-wav2vec": ("feature-extraction", "vq-wav2vec", True, {"1910.05453", "1904.05862"}),
    "units-bert": ("fill-mask", "vq-wav2vec", False, {"1910.05453", "1904.05862"}),
    "wav2vec2": ("feature-extraction", "wav2vec2", False, {"2006.11477"}),
    "ctc": ("automatic-speech-recognition", "wav2vec2", False, {"2006.11477"}),
    "ctc-remote": ("automatic-speech-recognition", "wav2vec", True, {"1904.05862"}),
    "ctc-lm": ("automatic-speech-recognition", "wav2vec2", False, {"2006.11477", "2010.11430"}),
}
ALL_ARXIV = {"1904.05862", "1910.05453", "2006.11477", "2010.11430"}


@pytest.mark.parametrize("kind", KINDS)
def test_every_template_renders_and_parses_back(kind, hub_folders, tmp_path):
    rendered = render_card(
        hub_folders[kind], CardOptions(repo_id=f"org/{kind}", datasets=["librispeech_asr"])
    )
    path = tmp_path / "README.md"
    path.write_text(rendered.text, encoding="utf-8")

    metadata = metadata_load(path)
    card = ModelCard.load(path, ignore_metadata_errors=False)
    pipeline_tag, generation, remote_code, cited = EXPECTED[kind]
    assert metadata["license"] == "apache-2.0"
    assert metadata["language"] == ["en"]
    assert metadata["datasets"] == ["librispeech_asr"]
    assert metadata["library_name"] == "transformers"
    assert metadata["pipeline_tag"] == pipeline_tag == card.data.pipeline_tag
    assert generation in metadata["tags"] and "wav2vec-hf" in metadata["tags"]
    assert ("custom_code" in metadata["tags"]) == remote_code
    assert ("trust_remote_code=True" in card.text) == remote_code
    assert f'"org/{kind}"' in card.text  # the snippet loads the published repo
    for arxiv in ALL_ARXIV:
        assert (f"eprint        = {{{arxiv}}}" in card.text) == (arxiv in cited), arxiv
    assert "## Limitations" in card.text and "## How to use" in card.text
    assert "{{" not in card.text and "{%" not in card.text  # nothing left unrendered


def test_ctc_lm_model_index_has_greedy_and_lm_results_per_eval_set(hub_folders, tmp_path):
    rendered = render_card(hub_folders["ctc-lm"], CardOptions(repo_id="org/ctc-lm"))
    path = tmp_path / "README.md"
    path.write_text(rendered.text, encoding="utf-8")
    card = ModelCard.load(path)
    results = {
        (r.dataset_name, r.dataset_split, r.metric_name): (r.metric_type, r.metric_value)
        for r in card.data.eval_results
    }
    assert card.data.model_name == "ctc-lm"
    assert results == {
        ("built-in corpus dev", "dev", "WER (greedy)"): ("wer", 58.12),
        ("built-in corpus dev", "dev", "CER (greedy)"): ("cer", 23.01),
        ("built-in corpus dev", "dev", "WER (2-gram LM)"): ("wer", 41.23),
        ("built-in corpus dev", "dev", "CER (2-gram LM)"): ("cer", 19.87),
        ("built-in corpus test", "test", "WER (greedy)"): ("wer", 60.0),
        ("built-in corpus test", "test", "CER (greedy)"): ("cer", 25.0),
        ("built-in corpus test", "test", "WER (2-gram LM)"): ("wer", 45.0),
    }
    assert all(r.task_type == "automatic-speech-recognition" for r in card.data.eval_results)
    assert sorted(card.data.metrics) == ["cer", "wer"]
    # The body's table shows the same numbers and the LM settings; the fusion weights come from attrs.json.
    assert (
        "| built-in corpus dev | dev | 2-gram LM (alpha 0.7, beta 1.25, beam_width 16) | 41.23 | 19.87 |"
        in card.text
    )
    assert "alpha 0.7 (LM weight), beta 1.25" in card.text
    assert "self-training" in card.data.tags  # self_training.json is present
    assert "| self-training round | 1 |" in card.text and "| pseudo-labelled utterances | 300 |" in card.text
    assert '"language_model/lm.arpa"' in card.text  # the decoder snippet downloads the LM files


def test_ctc_card_reads_finetuning_record(hub_folders):
    rendered = render_card(hub_folders["ctc"], CardOptions(repo_id="org/ctc"))
    text = rendered.text
    card = ModelCard(text)
    # dev.tsv is a local manifest, no Hub dataset: its scores are in the table, not in model-index
    assert card.data.eval_results is None and "model-index" not in card.data.to_dict()
    assert "| dev.tsv |  | greedy | 95.00 | 41.20 |" in text
    assert any("dev.tsv are in the card's table but not in its model-index" in n for n in rendered.notes)
    for row in (
        "| peak learning rate | 0.0003 |",
        "| updates | 400 |",
        "| batch size (utterances per device) | 8 |",
        "| head-only updates | 50 |",
        "| time masking (p, length) | (0.05, 10) |",
        "| labelled training data | runs/demo/corpus/labeled.tsv |",
        "| training time | 5.0 min |",
        "| device | cpu |",
    ):
        assert row in text, row
    assert "best greedy WER is 95%" in text  # the honest limitation at WER >= 0.9
    assert card.data.base_model is None  # a local base model is not linked...
    assert any(
        "runs/demo/pretrained" in note for note in render_card(hub_folders["ctc"]).notes
    )  # ...but named


def _rewrite_finetuning(folder, change) -> None:
    path = folder / "finetuning.json"
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def test_model_index_names_the_hub_dataset_the_run_recorded(copy_folder):
    folder = copy_folder("ctc")
    hub = {"name": "openslr/librispeech_asr", "hub_id": "openslr/librispeech_asr", "config": "clean"}

    def hub_data(record):
        record["datasets"] = {"train": {**hub, "split": "train.100"}, "eval": {**hub, "split": "validation"}}

    _rewrite_finetuning(folder, hub_data)
    card = ModelCard(render_card(folder, CardOptions(repo_id="org/ctc")).text)
    assert {
        (r.dataset_type, r.dataset_name, r.dataset_config, r.dataset_split) for r in card.data.eval_results
    } == {("openslr/librispeech_asr", "openslr/librispeech_asr", "clean", "validation")}
    assert card.data.datasets == ["openslr/librispeech_asr"]  # the training data, linked
    assert "| labelled training data | openslr/librispeech_asr (split train.100) |" in card.text


def test_in_memory_and_local_data_never_reach_model_index_and_never_as_a_repr(copy_folder):
    folder = copy_folder("ctc")
    held = "Dataset({\n    features: ['audio', 'text'],\n    num_rows: 64\n})"

    def older_record(record):  # written before "datasets": the repr of an in-memory eval set
        record["arguments"]["data"]["eval"] = held

    _rewrite_finetuning(folder, older_record)
    text = render_card(folder, CardOptions(repo_id="org/ctc")).text
    card = ModelCard(text)
    assert card.data.eval_results is None and card.data.datasets is None
    assert "Dataset(" not in text and "num_rows" not in text
    assert "| in-memory dataset |  | greedy | 95.00 | 41.20 |" in text
    assert "| evaluation data | in-memory dataset |" in text

    def new_record(record):
        record["arguments"]["data"]["eval"] = "in-memory dataset (64 rows)"
        record["datasets"] = {
            "train": {"name": "labeled.tsv"},
            "eval": {"name": "in-memory dataset (64 rows)"},
        }

    _rewrite_finetuning(folder, new_record)
    card = ModelCard(render_card(folder, CardOptions(repo_id="org/ctc")).text)
    assert card.data.eval_results is None and card.data.datasets is None
    assert "| in-memory dataset (64 rows) |  | greedy | 95.00 | 41.20 |" in card.text
    assert "| labelled training data | runs/demo/corpus/labeled.tsv |" in card.text  # the path as given


def test_results_without_a_hub_dataset_id_stay_out_of_model_index(hub_folders, tmp_path):
    results = tmp_path / "results.json"
    local = {"name": "my dev set", "split": "dev"}
    hub = {"name": "LibriSpeech test-clean", "type": "openslr/librispeech_asr", "split": "test"}
    results.write_text(
        json.dumps(
            {
                "results": [
                    {"dataset": local, "decoder": "greedy", "wer": 0.2},
                    {"dataset": hub, "decoder": "greedy", "wer": 0.1},
                ]
            }
        )
    )
    scores = read_results_file(results)
    assert [score.dataset_type for score in scores] == [None, "openslr/librispeech_asr"]  # no made-up id
    rendered = render_card(hub_folders["ctc"], CardOptions(repo_id="org/ctc", results=scores))
    card = ModelCard(rendered.text)
    assert [(r.dataset_type, r.metric_value) for r in card.data.eval_results] == [
        ("openslr/librispeech_asr", 10.0)
    ]
    assert "| my dev set | dev | greedy | 20.00 |" in rendered.text
    assert any("my dev set are in the card's table" in note for note in rendered.notes)


def test_pretrained_card_reads_pretraining_records(hub_folders):
    text = render_card(hub_folders["wav2vec"], CardOptions(repo_id="org/w")).text
    for row in (
        "| model preset | wav2vec-tiny |",
        "| updates | 120 |",
        "| peak learning rate | 0.0005 |",
        "| Adam betas | (0.9, 0.98) |",
        "| samples per batch (max) | 64,000 |",
        "| training time | 12.6 min |",  # 754 s
        "| audio processed (h) | 2 |",
        "| validation accuracy | 0.375 |",
        "| health | healthy |",
        "| num processes | 2 |",
        "| unlabelled training audio | runs/demo/corpus/unlabeled.tsv |",
    ):
        assert row in text, row
    assert "model-index" not in text  # a pretrained model has no WER
    # Frame facts from config.json: 5 strides (5, 4, 2, 2, 2) = 160 samples = 10 ms; 465-sample receptive field.
    assert "one frame every 10 ms" in text and "receptive field (29 ms)" in text


def test_vq_card_states_codebook_and_bitrate(hub_folders):
    text = render_card(hub_folders["vq-wav2vec"], CardOptions(repo_id="org/vq")).text
    config = json.loads((hub_folders["vq-wav2vec"] / "config.json").read_text())
    groups, entries = config["vq_groups"], config["vq_vars"]
    assert f"{groups} groups of\n{entries} entries ({entries**groups:,} possible codes" in text
    assert f"at most\n{groups * math.log2(entries) * 100 / 1000:.2f} kbit/s" in text
    assert "model.quantize(waveform)" in text


def test_units_bert_snippet_uses_its_own_unit_tokens(hub_folders):
    text = render_card(hub_folders["units-bert"], CardOptions(repo_id="org/units")).text
    assert f'units = "{" ".join(UNIT_TOKENS[:8])}"' in text
    assert "AutoModelForMaskedLM" in text and "trust_remote_code" not in text


def test_cards_without_records_say_so(hub_folders):
    text = render_card(hub_folders["wav2vec2"], CardOptions(repo_id="org/w2")).text
    assert "No training hyperparameters were recorded" in text
    assert "Hardware: not recorded by this run." in text
    ctc_text = render_card(hub_folders["ctc-remote"], CardOptions(repo_id="org/c")).text
    assert "No evaluation results were recorded" in ctc_text and "model-index" not in ctc_text


def test_options_override_records(hub_folders):
    results = [
        EvalScore("LibriSpeech test-clean", "librispeech_asr", "greedy", wer=0.031, dataset_split="test")
    ]
    options = CardOptions(
        repo_id="org/ctc",
        license="cc-by-4.0",
        language=["en", "fr"],
        base_model="facebook/wav2vec2-base",
        model_name="my-asr",
        tags=["demo"],
        self_trained=True,
        results=results,
    )
    card = ModelCard(render_card(hub_folders["ctc"], options).text)
    assert (card.data.license, card.data.language, card.data.base_model) == (
        "cc-by-4.0",
        ["en", "fr"],
        "facebook/wav2vec2-base",
    )
    assert card.data.model_name == "my-asr" and "demo" in card.data.tags and "self-training" in card.data.tags
    assert [(r.dataset_type, r.metric_value) for r in card.data.eval_results] == [("librispeech_asr", 3.1)]
    assert "2010.11430" in card.text


def test_converted_fairseq_checkpoint_defaults_to_fairseq_license(copy_folder):
    folder = copy_folder("vq-wav2vec")
    fairseq_args = {
        "optimizer": "adam",
        "lr": [1e-05],
        "max_update": 400000,
        "max_tokens": 1500000,
        "seed": 2,
    }
    fairseq_args.update(distributed_world_size=16, fp16=True)
    from wav2vec_hf.convert.run_record import ConversionRecord

    # The converter's own type: a renamed field breaks this test.
    conversion = ConversionRecord(
        source_file="vq-wav2vec.pt", source_sha256="ab" * 32, num_updates=400000,
        fairseq_config={"args": fairseq_args},
    )  # fmt: skip
    (folder / "conversion.json").write_text(json.dumps(conversion.to_dict()), encoding="utf-8")
    card = ModelCard(render_card(folder, CardOptions(repo_id="org/w")).text)
    assert card.data.license == "mit" and "fairseq" in card.data.tags
    assert "converted from the fairseq checkpoint `vq-wav2vec.pt`" in card.text
    for row in (
        "| fairseq updates | 400,000 |",
        "| optimizer | adam |",
        "| learning rate | 1e-05 |",
        "| samples per GPU batch (max_tokens) | 1,500,000 |",
        "| GPUs (fairseq distributed_world_size) | 16 |",
        "| mixed precision | fp16 |",
    ):
        assert row in card.text, row


@pytest.mark.parametrize("kind", [*KINDS, "wav2vec2-without-feature-extractor"])
def test_every_snippet_is_valid_python(kind, hub_folders, copy_folder):
    if kind == "wav2vec2-without-feature-extractor":
        folder = copy_folder("wav2vec2")
        (folder / "preprocessor_config.json").unlink()
    else:
        folder = hub_folders[kind]
    text = render_card(folder, CardOptions(repo_id="org/x")).text
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        compile(block, f"{kind} snippet", "exec")
    if kind == "wav2vec2-without-feature-extractor":
        assert "Wav2Vec2FeatureExtractor(do_normalize=False" in text


def test_results_on_a_pretrained_model_are_left_out_with_a_note(hub_folders):
    results = [EvalScore("dev", "dev", "greedy", wer=0.5)]
    rendered = render_card(hub_folders["wav2vec2"], CardOptions(results=results))
    assert rendered.scores == [] and "model-index" not in rendered.text
    assert any("does not transcribe" in note for note in rendered.notes)


def test_bad_records_and_results_name_the_file_and_field(copy_folder, tmp_path):
    folder = copy_folder("ctc")
    (folder / "finetuning.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ArtefactError, match=r"finetuning\.json"):
        render_card(folder)

    bad = tmp_path / "results.json"
    bad.write_text(json.dumps({"results": [{"dataset": {"name": "dev"}, "wer": "low"}]}), encoding="utf-8")
    with pytest.raises(ScoresError, match=r"results\[0\]\.wer"):
        read_results_file(bad)
    bad.write_text(json.dumps({"results": [{"dataset": {"name": "dev"}, "decoder": "beam", "wer": 0.1}]}))
    with pytest.raises(ScoresError, match=r"results\[0\]\.decoder"):
        read_results_file(bad)
    with pytest.raises(CardError, match="Hub model id"):
        render_card(copy_folder("ctc-remote"), CardOptions(base_model="not an id"))


def test_check_card_rejects_what_the_hub_parser_rejects(hub_folders):
    good = render_card(hub_folders["ctc-lm"], CardOptions(repo_id="org/x")).text
    assert check_card(good).model_name == "x"
    broken_index = good.replace("  results:\n", "  resultz:\n", 1)
    with pytest.raises(CardError, match="cannot parse"):
        check_card(broken_index)
    with pytest.raises(CardError, match="no YAML metadata"):
        check_card("# just a title\n")


def test_record_text_cannot_break_the_card(copy_folder):
    folder = copy_folder("ctc")
    record = json.loads((folder / "finetuning.json").read_text())
    record["arguments"]["data"]["train"] = "my | odd\npath"
    (folder / "finetuning.json").write_text(json.dumps(record))
    text = render_card(folder, CardOptions(repo_id="org/x")).text
    assert "| labelled training data | my \\| odd path |" in text
    with pytest.raises(CardError, match="Hub repo id"):
        render_card(folder, CardOptions(repo_id='org/x"); import os; ("'))
