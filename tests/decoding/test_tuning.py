"""Alpha/beta search and the ``tune-lm`` command."""

from __future__ import annotations

import json

import pytest

from tests.decoding.support import (
    LABELS,
    dev_sentences,
    emissions,
    lm_sentences,
    make_model_folder,
    write_grammar_lm,
)
from wav2vec_hf.cli import main
from wav2vec_hf.decoding.decoder import CTCBeamSearchDecoder, DecodeOptions
from wav2vec_hf.decoding.language_model import NgramLanguageModel
from wav2vec_hf.decoding.processor import attach_language_model
from wav2vec_hf.decoding.tuning import tune_weights


@pytest.fixture(scope="module")
def dev_set(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune_lm")
    path, unigrams = write_grammar_lm(folder, order=3)
    transcripts = dev_sentences(40, exclude=lm_sentences(4000))
    return CTCBeamSearchDecoder(LABELS, NgramLanguageModel.from_file(path, unigrams)), transcripts


def test_grid_finds_weights_that_beat_no_lm(dev_set):
    decoder, transcripts = dev_set
    logits = emissions(transcripts, seed=21)

    def decode(alpha: float, beta: float) -> list[str]:
        options = DecodeOptions(alpha=alpha, beta=beta, beam_width=16)
        return [h[0].text for h in decoder.decode_batch(logits, options)]

    seen = []
    result = tune_weights(
        decode, transcripts, alphas=[0.0, 0.5, 1.0], betas=[0.0, 2.0], progress=lambda *x: seen.append(x)
    )
    assert len(result.wer) == 6 == len(seen)
    alpha, _, best = result.best
    assert best == min(result.wer.values())
    assert alpha > 0 and best < 0.7 * result.wer[(0.0, 0.0)]  # the LM matters on ambiguous emissions
    table = result.surface()
    assert table.count("*") == 2 and f"{100 * best:.2f}*" in table

    refined = tune_weights(
        decode, transcripts, alphas=[0.0, 1.0], betas=[0.0, 2.0], search="refine", refine_rounds=1
    )
    assert len(refined.wer) > 4  # the zoom added points around the best corner
    assert refined.best_wer <= min(refined.wer[(a, b)] for a in (0.0, 1.0) for b in (0.0, 2.0))
    with pytest.raises(ValueError, match="search"):
        tune_weights(decode, transcripts, search="bayes")


def test_tune_lm_command_writes_the_best_weights(tmp_path, capsys):
    from wav2vec_hf.recipes.corpus import build_corpus

    corpus = build_corpus(
        tmp_path / "corpus",
        unlabeled_minutes=0.05,
        labeled_minutes=0.05,
        dev_minutes=0.15,
        test_minutes=0.05,
        lm_sentences=2000,
        num_workers=1,
        progress=False,
    )
    model = tmp_path / "model"
    make_model_folder(model)
    assert main(["build-lm", "--text", str(corpus.root / "lm_text.txt"), "--order", "3",
                 "--out", str(tmp_path / "lm"), "--attach", str(model)]) == 0  # fmt: skip
    arguments = [
        "--model",
        str(model),
        "--eval",
        str(corpus.manifest("dev")),
        "--alphas",
        "0,1",
        "--betas",
        "0,2",
    ]
    assert (
        main(["tune-lm", *arguments, "--search", "grid", "--max-utterances", "3", "--beam-width", "4"]) == 0
    )
    printed = capsys.readouterr().out
    assert "greedy WER" in printed and "alpha \\ beta" in printed
    best_line = next(line for line in printed.splitlines() if line.startswith("best:"))
    attrs = json.loads((model / "language_model" / "attrs.json").read_text())
    assert f"alpha={attrs['alpha']:g} beta={attrs['beta']:g}" in best_line
    assert attrs["alpha"] in (0.0, 1.0) and attrs["beta"] in (0.0, 2.0)


def test_tune_lm_command_needs_an_attached_lm(tmp_path, capsys):
    model = tmp_path / "model"
    make_model_folder(model)
    assert main(["tune-lm", "--model", str(model), "--eval", str(tmp_path / "dev.tsv")]) == 2
    assert "alphabet.json not found" in capsys.readouterr().err


def test_attach_refuses_an_lm_the_model_cannot_spell(tmp_path):
    from wav2vec_hf.decoding.ngram import estimate_kneser_ney, write_arpa

    lm = tmp_path / "lm"
    lm.mkdir()
    model = estimate_kneser_ney(["ÇA ÉTÉ TRÈS JOLI", "ÉTÉ ÇA", "JOLI ÉTÉ"], 2)  # not normalised for the model
    write_arpa(model, lm / "2gram.arpa")
    (lm / "unigrams.txt").write_text("".join(w + "\n" for w in model.unigrams()))
    folder = tmp_path / "model"
    make_model_folder(folder)
    with pytest.raises(ValueError, match=r"cannot emit.*--vocab"):
        attach_language_model(folder, lm)
