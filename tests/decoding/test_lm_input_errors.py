"""Bad LM input fails at load time with one ``LanguageModelError`` naming the file and the fix (#18)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.decoding.support import LABELS, VOCAB, write_grammar_lm
from wav2vec_hf.decoding.alphabet import (
    AlphabetError,
    check_alphabet_matches,
    read_alphabet,
    write_alphabet,
)
from wav2vec_hf.decoding.language_model import (
    FusionWeights,
    LanguageModelError,
    NgramLanguageModel,
    write_attrs,
)

pytest.importorskip("kenlm")


@pytest.fixture(scope="module")
def good_folder(tmp_path_factory):
    """A valid ``language_model/`` folder: a trigram ARPA, unigrams.txt, attrs.json."""
    folder = tmp_path_factory.mktemp("lm") / "language_model"
    folder.mkdir()
    write_grammar_lm(folder, order=3, sentences=500)
    write_attrs(folder, FusionWeights())
    return folder


@pytest.fixture()
def folder(good_folder, tmp_path):
    target = tmp_path / "language_model"
    shutil.copytree(good_folder, target)
    return target


def test_the_good_folder_loads(folder):
    assert NgramLanguageModel.load_from_dir(folder).unigrams


def test_the_shared_error_class_covers_alphabet_errors():
    assert issubclass(AlphabetError, LanguageModelError)
    assert issubclass(LanguageModelError, ValueError)


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.95])
def test_truncated_arpa_is_named_with_the_fix(folder, keep):
    arpa = folder / "3gram.arpa"
    text = arpa.read_text(encoding="utf-8")
    arpa.write_text(text[: int(len(text) * keep)], encoding="utf-8")
    with pytest.raises(LanguageModelError, match=r"3gram\.arpa: .*build-lm"):
        NgramLanguageModel.load_from_dir(folder)


def test_arpa_with_a_wrong_data_count_is_named_with_the_fix(folder):
    arpa = folder / "3gram.arpa"
    text = arpa.read_text(encoding="utf-8")
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("ngram 2="))
    count = int(lines[index].split("=")[1])
    lines[index] = f"ngram 2={count + 7}"
    arpa.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(LanguageModelError, match=r"3gram\.arpa: .*build-lm"):
        NgramLanguageModel.load_from_dir(folder)


def test_random_bytes_as_a_binary_are_named_with_the_fix(folder):
    (folder / "3gram.arpa").unlink()
    (folder / "3gram.bin").write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(LanguageModelError, match=r"3gram\.bin: .*build-lm"):
        NgramLanguageModel.load_from_dir(folder)


@pytest.mark.parametrize("content", ["", "\n\n  \n"])
def test_empty_unigrams_are_named_with_the_fix(folder, content):
    (folder / "unigrams.txt").write_text(content, encoding="utf-8")
    with pytest.raises(LanguageModelError, match=r"unigrams\.txt is empty.*build-lm"):
        NgramLanguageModel.load_from_dir(folder)


@pytest.mark.parametrize("drop", ["alpha", "beta", "unk_score_offset", "score_boundary"])
def test_missing_attrs_fields_are_named_with_the_fix(folder, drop):
    attrs = FusionWeights().to_json()
    del attrs[drop]
    (folder / "attrs.json").write_text(json.dumps(attrs), encoding="utf-8")
    with pytest.raises(LanguageModelError, match=rf"attrs\.json: .*missing \['{drop}'\].*tune-lm"):
        NgramLanguageModel.load_from_dir(folder)


def test_attrs_json_that_is_not_json_is_named(folder):
    (folder / "attrs.json").write_text('{"alpha": 0.5,', encoding="utf-8")
    with pytest.raises(LanguageModelError, match=r"attrs\.json: not valid JSON"):
        NgramLanguageModel.load_from_dir(folder)


def _alphabet_error(tmp_path, labels) -> str:
    write_alphabet(tmp_path, labels)
    with pytest.raises(LanguageModelError) as caught:
        check_alphabet_matches(read_alphabet(tmp_path), VOCAB, str(tmp_path / "alphabet.json"))
    return str(caught.value)


def test_alphabet_missing_a_character_is_named_with_the_fix(tmp_path):
    message = _alphabet_error(tmp_path, [x for x in LABELS if x != "Q"])
    assert "alphabet.json" in message and "re-attach" in message and "'Q'" in message


def test_alphabet_with_an_extra_character_is_named_with_the_fix(tmp_path):
    message = _alphabet_error(tmp_path, [*LABELS, "É"])
    assert "alphabet.json" in message and "re-attach" in message and "'É'" in message


def test_alphabet_in_another_order_is_named_with_the_fix(tmp_path):
    labels = list(LABELS)
    labels[5], labels[6] = labels[6], labels[5]  # order matters: one label per logit column
    message = _alphabet_error(tmp_path, labels)
    assert "id 5" in message and "re-attach" in message


def test_a_build_lm_folder_with_empty_unigrams_is_refused_when_attached(folder):
    from wav2vec_hf.decoding.language_model import read_unigrams
    from wav2vec_hf.decoding.lm_build import find_built_lm

    (folder / "unigrams.txt").write_text("\n", encoding="utf-8")
    lm_file, unigrams_file = find_built_lm(folder)
    with pytest.raises(LanguageModelError, match=r"3gram\.arpa: no word of its unigram list.*build-lm"):
        NgramLanguageModel.from_file(lm_file, read_unigrams(unigrams_file))


def test_a_build_lm_folder_with_two_lm_files_is_refused(folder):
    from wav2vec_hf.decoding.lm_build import find_built_lm

    shutil.copy(folder / "3gram.arpa", folder / "4gram.arpa")
    with pytest.raises(LanguageModelError, match=r"exactly one .*build-lm"):
        find_built_lm(folder)


# ----------------------------------------------------------------------------------------------------
# Commands that load an LM: exit 2 with one line naming the file
# ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_with_lm(tmp_path_factory, good_folder):
    from tests.decoding.support import make_model_folder
    from wav2vec_hf.decoding.processor import attach_language_model

    folder = tmp_path_factory.mktemp("model")
    make_model_folder(folder)
    attach_language_model(folder, good_folder)
    return folder


@pytest.mark.parametrize("command", ["transcribe", "evaluate", "tune-lm"])
def test_commands_exit_2_with_one_line_on_a_corrupt_lm(model_with_lm, tmp_path, capsys, command):
    import soundfile

    from wav2vec_hf.cli import main

    model = tmp_path / "model"
    shutil.copytree(model_with_lm, model)
    arpa = model / "language_model" / "3gram.arpa"
    arpa.write_text(arpa.read_text(encoding="utf-8")[:2000], encoding="utf-8")  # cut mid-file
    audio = tmp_path / "a.wav"
    soundfile.write(audio, np.zeros(16000, dtype=np.float32), 16000)
    (tmp_path / "a.txt").write_text("A\n", encoding="utf-8")
    argv = {
        "transcribe": ["transcribe", "--model", str(model), str(audio), "--no-progress"],
        "evaluate": ["evaluate", "--model", str(model), "--eval", str(tmp_path)],
        "tune-lm": ["tune-lm", "--model", str(model), "--eval", str(tmp_path)],
    }[command]
    assert main(argv) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(lines) == 1, lines
    assert "3gram.arpa" in lines[0] and "build-lm" in lines[0]


def test_transcribe_names_an_alphabet_that_does_not_match_before_loading(model_with_lm, tmp_path, capsys):
    import soundfile

    from wav2vec_hf.cli import main

    model = tmp_path / "model"
    shutil.copytree(model_with_lm, model)
    write_alphabet(model, [*LABELS[:3], *reversed(LABELS[3:])])
    audio = tmp_path / "a.wav"
    soundfile.write(audio, np.zeros(16000, dtype=np.float32), 16000)
    assert main(["transcribe", "--model", str(model), str(audio), "--no-progress"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(lines) == 1 and "alphabet.json" in lines[0] and "re-attach" in lines[0], lines
