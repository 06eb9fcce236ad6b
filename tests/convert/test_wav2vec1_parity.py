"""fairseq parity of converted wav2vec / vq-wav2vec checkpoints (ground truth: ../shared/fixtures/fairseq).

Every fixture folder whose checkpoint is wav2vec or vq-wav2vec is converted, saved with
``save_pretrained``, reloaded with ``from_pretrained`` and run on the fixture inputs; every array of
``expected.npz`` is compared. An array name this test does not know fails the test.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from tests.helpers import fairseq_fixture_folders, fixture_folder_params
from wav2vec_hf.convert import generations
from wav2vec_hf.convert.checkpoint import load_fairseq_checkpoint
from wav2vec_hf.convert.wav2vec1 import convert_wav2vec1_checkpoint
from wav2vec_hf.models.wav2vec import VQWav2VecForPreTraining, Wav2VecForPreTraining

FLOAT_TOLERANCE = {"atol": 1e-4, "rtol": 1e-4}
LOGIT_TOLERANCE = {"atol": 2e-4, "rtol": 1e-4}
# Array name (without the utterance suffix) -> what it is in our outputs.
PER_UTTERANCE = ("z", "q", "idx", "c", "vq_projection", "vq_logits", "prediction_steps_out")
WHOLE_SET = ("offset", "input_lengths")


def _wav2vec1_folders():
    folders = []
    for folder in fairseq_fixture_folders():
        try:
            kind = generations.detect_generation(load_fairseq_checkpoint(folder / "model.pt"))
        except Exception:
            continue  # test_fixture_coverage.py fails on folders nobody can read
        if kind in (generations.WAV2VEC, generations.VQ_WAV2VEC):
            folders.append(folder)
    return folders


FOLDERS = _wav2vec1_folders()
VQ_FOLDERS = [folder for folder in FOLDERS if folder.name != "wav2vec"]


def _classify(name: str) -> tuple[str, int | None]:
    """('z', 0) for 'z_0'; ('offset', None) for 'offset'; raises on names this test does not know."""
    if name in WHOLE_SET:
        return name, None
    match = re.fullmatch(r"(.+)_(\d+)", name)
    if match and match.group(1) in PER_UTTERANCE:
        return match.group(1), int(match.group(2))
    raise AssertionError(f"expected.npz holds {name!r}, which this parity test does not know how to check")


def _ours(model, waveform: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        out = model.wav2vec(torch.from_numpy(waveform)[None])
        steps = model.step_projection(out.context.unsqueeze(-1))
    arrays = {"z": out.features, "c": out.context, "prediction_steps_out": steps}
    optional = {
        "q": out.quantized_features,
        "idx": out.codevector_indices,
        "vq_logits": out.codevector_logits,
        "vq_projection": out.kmeans_projection,
    }
    arrays.update({key: value for key, value in optional.items() if value is not None})
    return {key: value.numpy() for key, value in arrays.items()}


def test_all_four_wav2vec1_fixture_folders_are_found(fairseq_fixtures_dir):
    names = {folder.name for folder in FOLDERS}
    assert {"wav2vec", "vq_wav2vec_gumbel", "vq_wav2vec_gumbel_nocombine", "vq_wav2vec_kmeans"} <= names


def test_unknown_array_names_fail():
    assert _classify("z_2") == ("z", 2)
    assert _classify("offset") == ("offset", None)
    with pytest.raises(AssertionError, match="does not know"):
        _classify("extract_features_0")
    with pytest.raises(AssertionError, match="does not know"):
        _classify("brand_new_array")


@pytest.fixture(scope="module")
def reloaded(tmp_path_factory):
    """Folder name -> the converted model after a save_pretrained / from_pretrained round trip."""
    cache = {}

    def get(folder):
        if folder.name not in cache:
            model = convert_wav2vec1_checkpoint(load_fairseq_checkpoint(folder / "model.pt"))
            target = tmp_path_factory.mktemp(folder.name)
            model.save_pretrained(target)
            model_class = type(model)
            cache[folder.name] = model_class.from_pretrained(target).eval()
        return cache[folder.name]

    return get


@pytest.mark.parametrize("folder", fixture_folder_params(FOLDERS))
def test_converted_model_matches_fairseq(fairseq_fixtures_dir, folder, reloaded):
    if folder is None:
        pytest.fail(f"no wav2vec / vq-wav2vec fixture folder under {fairseq_fixtures_dir}")
    model = reloaded(folder)
    expected = np.load(folder / "expected.npz")
    inputs = np.load(folder / "inputs.npy")
    lengths = expected["input_lengths"]
    assert isinstance(model, VQWav2VecForPreTraining) == ("q_0" in expected.files)
    assert isinstance(model, Wav2VecForPreTraining)

    outputs = {index: _ours(model, inputs[index, : int(length)]) for index, length in enumerate(lengths)}
    checked = []
    for name in expected.files:
        kind, utterance = _classify(name)
        want = expected[name]
        if kind == "input_lengths":
            assert inputs.shape[0] == len(want)
            continue
        if kind == "offset":
            assert model.config.resolved_offset == int(want)
            checked.append(name)
            continue
        got = outputs[utterance].get(kind)
        assert got is not None, f"{folder.name}: the model produced no {kind!r} for {name}"
        assert got.shape == want.shape, f"{name}: shape {got.shape} vs fairseq {want.shape}"
        if kind == "idx":
            mismatches = int((got != want).sum())
            assert mismatches == 0, f"{name}: {mismatches} code indices differ from fairseq"
        else:
            tolerance = LOGIT_TOLERANCE if kind in ("vq_logits", "prediction_steps_out") else FLOAT_TOLERANCE
            np.testing.assert_allclose(got, want, err_msg=f"{folder.name}/{name}", **tolerance)
        checked.append(name)
    # Everything fairseq recorded for this folder was compared (the quantiser arrays included).
    assert len(checked) == len(expected.files) - 1


@pytest.mark.parametrize("folder", fixture_folder_params(VQ_FOLDERS))
def test_bf16_autocast_keeps_almost_all_codes(fairseq_fixtures_dir, folder, reloaded):
    """Under bf16 autocast the convolutions run in bf16 (group norms stay fp32, as fairseq).

    z then differs from fp32 by ~5e-2 (8 bf16 conv layers), while the fixtures' smallest code margins
    are ~1e-3 of the logit spread (config.json), so a few frames near a decision boundary flip. We
    require >= 95% of per-group codes (>= 90% of whole frames) to equal fairseq's fp32 codes
    (measured: 97.4-100% per group).
    """
    if folder is None:
        pytest.fail(f"no vq-wav2vec fixture folder under {fairseq_fixtures_dir}")
    model = reloaded(folder)
    expected = np.load(folder / "expected.npz")
    inputs = np.load(folder / "inputs.npy")
    agree, frames_agree, total, frames = 0, 0, 0, 0
    for index, length in enumerate(expected["input_lengths"]):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            out = model.wav2vec(torch.from_numpy(inputs[index, : int(length)])[None])
        assert out.features.dtype == torch.bfloat16  # autocast really was active
        codes = out.codevector_indices.numpy()
        want = expected[f"idx_{index}"]
        agree += int((codes == want).sum())
        frames_agree += int((codes == want).all(-1).sum())
        total += want.size
        frames += want.shape[1]
    assert agree / total >= 0.95, f"only {agree}/{total} codes agree under bf16"
    assert frames_agree / frames >= 0.90, f"only {frames_agree}/{frames} frames agree under bf16"
