"""End to end: the default recipe leaves the all-blank plateau, and the run folder is a normal HF ASR model."""

from __future__ import annotations

import json

import pytest
from transformers import (
    AutoModelForCTC,
    AutoProcessor,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2ForCTC,
    Wav2Vec2Processor,
)

from tests.finetuning.fixtures import ESCAPE_STEPS
from wav2vec_hf.cli import main
from wav2vec_hf.data import open_audio_source
from wav2vec_hf.data.normalization import TextNormalizer
from wav2vec_hf.finetuning.metrics import character_error_rate, word_error_rate
from wav2vec_hf.finetuning.run_record import FinetuningRecord
from wav2vec_hf.hub.cards import CardOptions, render_card
from wav2vec_hf.inference.transcribe import transcribe_arrays

ALL_BLANK_CER = 1.0  # an empty transcript deletes every reference character


def test_default_recipe_escapes_the_all_blank_plateau(escape_run):
    metrics = escape_run.result.metrics
    print(f"escape run: {escape_run.seconds:.1f} s, dev metrics {metrics}")
    assert metrics["eval_empty_rate"] == 0.0  # every dev utterance gets a transcript
    assert metrics["eval_blank_rate"] < 0.97
    assert metrics["eval_cer"] < 0.9 * ALL_BLANK_CER  # clearly below the all-blank level


def test_saved_folder_reproduces_the_reported_dev_scores(escape_run):
    folder = escape_run.result.output_dir
    processor = AutoProcessor.from_pretrained(folder)
    assert type(processor) is Wav2Vec2Processor and type(processor.tokenizer) is Wav2Vec2CTCTokenizer
    assert processor.feature_extractor.return_attention_mask is False  # group-norm BASE style
    model = AutoModelForCTC.from_pretrained(folder)
    assert type(model) is Wav2Vec2ForCTC
    assert model.config.ctc_zero_infinity and model.config.vocab_size == len(processor.tokenizer)
    normalizer = TextNormalizer.from_folder(folder)
    dev = open_audio_source(escape_run.corpus / "dev.tsv")
    references = [normalizer(record.transcript) for record in dev]
    hypotheses = transcribe_arrays(model, processor, [dev.load(i) for i in range(len(dev))], batch_size=4)
    metrics = escape_run.result.metrics
    assert character_error_rate(references, hypotheses) == pytest.approx(metrics["eval_cer"], abs=1e-9)
    assert word_error_rate(references, hypotheses) == pytest.approx(metrics["eval_wer"], abs=1e-9)


def test_run_report_records_the_recipe_data_checks_and_best_checkpoint(escape_run):
    folder = escape_run.result.output_dir
    run = json.loads((folder / "finetuning.json").read_text())
    assert run["model_class"] == "Wav2Vec2ForCTC" and run["generation"] == "wav2vec2"
    assert run["arguments"]["recipe"]["head_steps"] == ESCAPE_STEPS["head_steps"]
    assert run["arguments"]["peak_learning_rate"] == 1e-3  # chosen from the model size
    # --freeze_feature_encoder left unset: recorded as resolved for a from-scratch model (trained, not frozen)
    assert run["arguments"]["model"]["freeze_feature_encoder"] is False
    assert run["reports"]["eval_unknown_characters"]["utterances"] == run["eval_utterances"]
    assert run["vocabulary"][:3] == ["<pad>", "<unk>", "|"]
    record = FinetuningRecord.from_dict(run)  # the file is the typed record, field for field
    assert (
        record.to_dict() == run and record.arguments.recipe_option("head_steps") == ESCAPE_STEPS["head_steps"]
    )
    assert run["hardware"]["device"] == "cpu" and run["hardware"]["num_processes"] == 1  # for the card
    card = render_card(folder, CardOptions(repo_id="org/escape")).text
    assert "| device | cpu |" in card and "| num processes | 1 |" in card
    # The best checkpoint is the one with the lowest dev WER among the evaluations during training.
    state = json.loads((folder / "checkpoint-120" / "trainer_state.json").read_text())
    evaluations = {e["step"]: e["eval_wer"] for e in state["log_history"] if "eval_wer" in e}
    assert sorted(evaluations) == [60, 120]
    best_step = min(evaluations, key=lambda step: (evaluations[step], step))
    assert run["best_checkpoint"].endswith(f"checkpoint-{best_step}")
    assert run["metrics"]["eval_wer"] == pytest.approx(evaluations[best_step])


def test_finetune_command_reports_bad_data_with_the_file_and_the_fix(tmp_path, escape_run, capsys):
    table = tmp_path / "train.tsv"
    table.write_text("path\ttranscript\nmissing.wav\tHELLO\n")
    code = main(["finetune", "--model", str(escape_run.result.output_dir), "--train", str(table),
                 "--output_dir", str(tmp_path / "out")])  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err
    assert "missing.wav" in error and "missing_file" in error and "--on_bad skip" in error
    assert "on_bad='skip'" not in error  # the command names its flag, not the library's argument
