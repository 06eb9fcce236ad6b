"""Labelled audio for CTC: feasibility checks, unknown characters, datasets and padding."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.data.audio_files import write_tone
from wav2vec_hf.data import open_audio_source
from wav2vec_hf.finetuning.data import (
    TOO_SHORT_FOR_LABELS,
    CTCCollator,
    CTCDataset,
    ctc_frames_needed,
    label_length_ratio,
    prepare_ctc_set,
)
from wav2vec_hf.finetuning.vocabulary import Vocabulary


def _table(folder: Path, rows: list[tuple[str, int, int, str]]) -> Path:
    lines = ["path\ttranscript"]
    for name, samples, rate, text in rows:
        write_tone(folder / name, samples, rate)
        lines.append(f"{name}\t{text}")
    table = folder / "table.tsv"
    table.write_text("\n".join(lines) + "\n")
    return table


def frames_of(samples: int) -> int:
    """A model with one output frame per 320 samples (wav2vec 2.0's hop)."""
    return max(0, (samples - 400) // 320 + 1)


def test_frames_needed_counts_a_blank_between_repeated_labels():
    assert ctc_frames_needed([1, 2, 3]) == 3
    assert ctc_frames_needed([1, 1, 2, 2, 2]) == 8
    assert ctc_frames_needed([]) == 0


def test_utterances_too_short_for_their_labels_are_refused_or_counted(tmp_path):
    table = _table(
        tmp_path,
        [
            ("long.wav", 16000, 16000, "hello"),  # 49 frames for 6 needed
            ("short.wav", 2000, 16000, "hello world again"),  # 6 frames for 18 needed
            ("eight.wav", 8000, 8000, "Hi!"),  # 8 kHz: 16000 samples at the model's rate
            ("punct.wav", 8000, 16000, "?!"),  # nothing left after normalisation
        ],
    )
    audio = open_audio_source(table)
    vocabulary = Vocabulary.from_transcripts(["hello world again hi"])
    with pytest.raises(ValueError, match="cannot be used for CTC") as error:
        prepare_ctc_set(audio, vocabulary, frames_of)
    assert "short.wav" in str(error.value) and "needs at least 18" in str(error.value)
    ctc_set = prepare_ctc_set(audio, vocabulary, frames_of, on_bad="skip")
    assert [r.id for r in ctc_set.audio] == ["long", "eight"]
    assert ctc_set.texts == ["HELLO", "HI"]
    assert ctc_set.frames == [49, 49]
    assert ctc_set.dropped.counts == {TOO_SHORT_FOR_LABELS: 1, "empty_transcript": 1}
    assert label_length_ratio(ctc_set).tolist() == pytest.approx([6 / 49, 2 / 49])


def test_unknown_evaluation_characters_are_reported_not_dropped(tmp_path):
    table = _table(tmp_path, [("a.wav", 16000, 16000, "café"), ("b.wav", 16000, 16000, "cafe")])
    vocabulary = Vocabulary.from_transcripts(["cafe"])
    ctc_set = prepare_ctc_set(open_audio_source(table), vocabulary, frames_of)
    assert len(ctc_set) == 2  # kept: the unknown letter is scored as an error, not hidden
    assert ctc_set.unknown.counts == {"É": 1} and ctc_set.unknown.examples["É"] == ["a"]
    assert ctc_set.labels[0][-1] == vocabulary.unknown_id


@pytest.mark.parametrize("with_mask", [True, False])
def test_collator_pads_audio_with_zeros_and_labels_with_minus_100(tmp_path, with_mask):
    table = _table(tmp_path, [("a.wav", 16000, 16000, "ab"), ("b.wav", 9600, 16000, "abba")])
    vocabulary = Vocabulary.from_transcripts(["ab"])
    dataset = CTCDataset(prepare_ctc_set(open_audio_source(table), vocabulary, frames_of))
    assert dataset.lengths == [16000, 9600]
    batch = CTCCollator(return_attention_mask=with_mask)([dataset[0], dataset[1]])
    assert batch["input_values"].shape == (2, 16000)
    assert torch.all(batch["input_values"][1, 9600:] == 0)
    assert batch["input_lengths"].tolist() == [16000, 9600]
    assert batch["labels"].tolist() == [[*vocabulary.encode("AB"), -100, -100], vocabulary.encode("ABBA")]
    assert ("attention_mask" in batch) is with_mask
    if with_mask:
        assert batch["attention_mask"].sum(-1).tolist() == [16000, 9600]
