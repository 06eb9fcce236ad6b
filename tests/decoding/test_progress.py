"""Progress bars of the long decoding steps: drawn only when asked for and stderr is a terminal, and
the frames they count add up to the work done."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
import soundfile
from transformers import AutoFeatureExtractor, Wav2Vec2Processor

from tests.decoding.support import (
    LABELS,
    dev_sentences,
    emissions,
    lm_sentences,
    make_model_folder,
    write_grammar_lm,
)
from wav2vec_hf.decoding.decoder import CTCBeamSearchDecoder, DecodeOptions, _batch_events, _frames_per_step
from wav2vec_hf.decoding.inference import load_model, logits_of
from wav2vec_hf.decoding.language_model import NgramLanguageModel
from wav2vec_hf.decoding.processor import CTCProcessorWithLanguageModel
from wav2vec_hf.decoding.tuning import tune_weights


class Terminal(io.StringIO):
    """A stderr that says it is a terminal (tqdm draws only on terminals)."""

    def isatty(self) -> bool:
        return True


def on_terminal(monkeypatch) -> Terminal:
    """Make stderr a ``Terminal`` (inside the test: pytest's capture replaces stderr after setup)."""
    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    return stream


@pytest.fixture(scope="module")
def lm_set(tmp_path_factory):
    """(LM file, its unigrams, 12 dev transcripts, their noisy emissions)."""
    folder = tmp_path_factory.mktemp("progress")
    path, unigrams = write_grammar_lm(folder, order=3)
    transcripts = dev_sentences(12, exclude=lm_sentences(4000))
    return path, unigrams, transcripts, emissions(transcripts, seed=5, noise=1.5, peak=8.0)


def test_the_steps_frames_add_up_to_the_input_frames(lm_set):
    path, unigrams, _, logits = lm_set
    decoder = CTCBeamSearchDecoder(LABELS, NgramLanguageModel.from_file(path, unigrams))
    options = DecodeOptions(beam_width=8)
    lengths = np.asarray([x.shape[0] for x in logits])
    by_token = np.concatenate([x.T for x in logits], axis=1)
    events = _batch_events(by_token, lengths, decoder.blank, decoder.never_emitted, options)
    per_step = _frames_per_step(events, lengths)
    assert per_step.shape == (events.count.max() + 1,) and (per_step >= 0).all()
    assert per_step.sum() == lengths.sum()

    reported: list[int] = []
    with_bar = decoder.decode_batch(logits, options, reported.append)
    assert sum(reported) == lengths.sum() and len(reported) > 3  # moves during the search, not once
    assert [h[0].text for h in with_bar] == [h[0].text for h in decoder.decode_batch(logits, options)]

    chunked: list[int] = []  # several lockstep batches
    decoder.decode_batch(logits, DecodeOptions(beam_width=8, lockstep_utterances=5), chunked.append)
    assert sum(chunked) == lengths.sum()


def test_beam_search_bar_only_when_asked_and_on_a_terminal(lm_set, tmp_path, monkeypatch):
    path, _, _, logits = lm_set
    make_model_folder(tmp_path / "model")
    lm = CTCProcessorWithLanguageModel.from_processor(
        Wav2Vec2Processor.from_pretrained(str(tmp_path / "model")), path
    )
    terminal = on_terminal(monkeypatch)
    quiet = lm.batch_decode(logits, beam_width=8).text
    assert terminal.getvalue() == ""
    shown = lm.batch_decode(logits, beam_width=8, progress=True).text
    drawn = terminal.getvalue()
    total = sum(x.shape[0] for x in logits)
    assert "beam search" in drawn and "100%" in drawn and shown == quiet
    with lm:
        assert lm.batch_decode(logits, beam_width=8, progress=True, num_processes=2).text == quiet

    piped = io.StringIO()  # not a terminal: nothing drawn even when asked
    monkeypatch.setattr(sys, "stderr", piped)
    lm.batch_decode(logits, beam_width=8, progress=True)
    assert piped.getvalue() == "" and total > 100


def test_weight_search_bar_counts_the_points_and_shows_the_best(lm_set, monkeypatch):
    path, unigrams, transcripts, logits = lm_set
    terminal = on_terminal(monkeypatch)
    decoder = CTCBeamSearchDecoder(LABELS, NgramLanguageModel.from_file(path, unigrams))

    def decode(alpha: float, beta: float) -> list[str]:
        return [
            h[0].text
            for h in decoder.decode_batch(logits, DecodeOptions(alpha=alpha, beta=beta, beam_width=8))
        ]

    result = tune_weights(decode, transcripts, alphas=[0.0, 1.0], betas=[0.0, 2.0], search="refine",
                          refine_rounds=1, progress=True)  # fmt: skip
    drawn = terminal.getvalue()
    alpha, beta, _ = result.best
    assert "LM weights" in drawn and f"best alpha={alpha:g} beta={beta:g}" in drawn
    assert f"{len(result.wer)}/{len(result.wer)}" in drawn  # the total grew with the refine round
    seen = []
    again = tune_weights(decode, transcripts, alphas=[0.0, 1.0], betas=[0.0, 2.0], search="refine",
                         refine_rounds=1, progress=lambda *point: seen.append(point))  # fmt: skip
    assert again.wer == result.wer and len(seen) == len(result.wer)  # a function is still called per point


def test_logits_bar_counts_audio_seconds(tmp_path, monkeypatch):
    make_model_folder(tmp_path / "model")
    rows = ["path\ttranscript"]
    for index, seconds in enumerate((1.4, 0.6, 2.1)):
        soundfile.write(tmp_path / f"{index}.wav", np.zeros(int(16000 * seconds)), 16000)
        rows.append(f"{index}.wav\tONE")
    (tmp_path / "table.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    model = load_model(tmp_path / "model")
    extractor = AutoFeatureExtractor.from_pretrained(str(tmp_path / "model"))
    terminal = on_terminal(monkeypatch)
    logits_of(model, extractor, tmp_path / "table.tsv", batch_seconds=1.0)
    assert terminal.getvalue() == ""
    logits_of(model, extractor, tmp_path / "table.tsv", batch_seconds=1.0, progress=True)
    assert "logits" in terminal.getvalue() and "4/4" in terminal.getvalue()  # 4.1 s of audio
