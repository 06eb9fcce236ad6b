"""fairseq wav2vec 2.0 fixtures -> converter -> stock transformers models: every fixture array must match.

For each fixture folder of generation wav2vec2, the checkpoint goes through the dispatcher
(``convert_fairseq_checkpoint``) into a temporary folder, is loaded back with stock
``Wav2Vec2ForPreTraining.from_pretrained``, and every array of ``expected.npz`` is recomputed
with the transformers model (``transformers_arrays``) and compared. An array name this test does
not know fails the test, so new fixture arrays cannot go unchecked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import Wav2Vec2ForPreTraining

from tests.helpers import fairseq_fixture_folders, fixture_folder_params
from wav2vec_hf.convert import generations
from wav2vec_hf.convert.checkpoint import load_fairseq_checkpoint
from wav2vec_hf.convert.fairseq import convert_fairseq_checkpoint

ATOL = RTOL = 1e-4
LOGIT_ATOL = 2e-4


def _wav2vec2_folders() -> list[Path]:
    folders = []
    for folder in fairseq_fixture_folders():
        try:
            kind = generations.detect_generation(load_fairseq_checkpoint(folder / "model.pt"))
        except Exception:
            continue  # test_fixture_coverage.py fails for folders nobody can read
        if kind == generations.WAV2VEC2:
            folders.append(folder)
    return folders


WAV2VEC2_FOLDERS = _wav2vec2_folders()


def transformers_arrays(
    model: Wav2Vec2ForPreTraining,
    inputs: np.ndarray,
    input_lengths: np.ndarray,
    *,
    batch_attention_mask: bool = True,
) -> dict[str, np.ndarray]:
    """Recompute the fixture arrays with a stock transformers model, under the fixture's names.

    Per utterance i (batch of one, no padding), with ``w = model.wav2vec2``:

    * ``extract_features_i`` (1, C, T): ``w.feature_extractor(x)``
    * ``features_i`` (1, T, C): ``w.feature_projection.layer_norm`` of it (= forward's ``extract_features``)
    * ``post_extract_proj_i`` (1, T, D): ``w.feature_projection.projection(features)``
    * ``pos_conv_i`` (1, T, D): ``w.encoder.pos_conv_embed(post_extract_proj)`` (the added term)
    * ``layer_j_i`` (1, T, D): output of ``w.encoder.layers[j]`` (forward hook; before the final
      LayerNorm of a stable-layer-norm encoder, as fairseq's ``layer_results``)
    * ``encoder_out_i`` (1, T, D): ``last_hidden_state`` of the full forward
    * ``final_proj_i`` (1, T, F): ``projected_states`` (= ``project_hid``) of the full forward
    * ``quantizer_logits_i`` (1, T, G·V): ``model.quantizer.weight_proj(features)``
    * ``quantized_i`` (1, T, codevector_dim): ``model.quantizer(features)[0]`` (eval: argmax)
    * ``codevector_idx_i`` (1, T, G): per-group argmax of the logits
    * ``project_q_i`` (1, T, F): ``projected_quantized_states`` of the full forward

    Batch (all rows, right zero padding, ``attention_mask`` from ``input_lengths`` unless
    ``batch_attention_mask`` is False): ``batch_encoder_out`` (B, T, D), ``batch_features``
    (B, T, C) and ``batch_frame_padding_mask`` (B, T; True = padding).
    """
    wav2vec2 = model.wav2vec2
    groups = model.config.num_codevector_groups
    arrays: dict[str, np.ndarray] = {"input_lengths": np.asarray(input_lengths)}
    layer_outputs: dict[int, torch.Tensor] = {}
    hooks = [
        layer.register_forward_hook(lambda _m, _i, out, j=j: layer_outputs.__setitem__(j, out))
        for j, layer in enumerate(wav2vec2.encoder.layers)
    ]
    try:
        with torch.no_grad():
            for i, length in enumerate(input_lengths):
                x = torch.from_numpy(inputs[i : i + 1, : int(length)])
                extract = wav2vec2.feature_extractor(x)
                post_extract_proj, features = wav2vec2.feature_projection(extract.transpose(1, 2))
                logits = model.quantizer.weight_proj(features)
                batch, frames, _ = logits.shape
                output = model(x)
                encoder_out = wav2vec2(x).last_hidden_state  # the hooks now hold this run's layers
                arrays |= {
                    f"extract_features_{i}": extract,
                    f"features_{i}": features,
                    f"post_extract_proj_{i}": post_extract_proj,
                    f"pos_conv_{i}": wav2vec2.encoder.pos_conv_embed(post_extract_proj),
                    f"encoder_out_{i}": encoder_out,
                    f"final_proj_{i}": output.projected_states,
                    f"quantizer_logits_{i}": logits,
                    f"quantized_{i}": model.quantizer(features)[0],
                    f"codevector_idx_{i}": logits.view(batch, frames, groups, -1).argmax(-1),
                    f"project_q_{i}": output.projected_quantized_states,
                }
                arrays |= {f"layer_{j}_{i}": out for j, out in layer_outputs.items()}

            lengths = torch.from_numpy(np.asarray(input_lengths))
            attention_mask = (torch.arange(inputs.shape[1])[None] < lengths[:, None]).long()
            batch_output = wav2vec2(
                torch.from_numpy(inputs), attention_mask=attention_mask if batch_attention_mask else None
            )
            frames = batch_output.last_hidden_state.shape[1]
            valid = model._get_feature_vector_attention_mask(frames, attention_mask)
            arrays |= {
                "batch_encoder_out": batch_output.last_hidden_state,
                "batch_features": batch_output.extract_features,
                "batch_frame_padding_mask": ~valid,
            }
    finally:
        for hook in hooks:
            hook.remove()
    return {
        name: value.numpy() if isinstance(value, torch.Tensor) else value for name, value in arrays.items()
    }


def compare_to_fixture(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray]) -> list[str]:
    """Every difference between the fixture arrays and ours, as readable lines (empty = parity).

    Float arrays: ``atol = rtol = 1e-4`` (``2e-4`` for quantiser logits); code indices, lengths
    and the padding mask exactly; ``batch_*`` float arrays on valid (unpadded) frames only.
    """
    problems = []
    valid = ~expected["batch_frame_padding_mask"] if "batch_frame_padding_mask" in expected else None
    for name, want in expected.items():
        if name not in actual:
            problems.append(f"{name}: array unknown to the parity test (add it to transformers_arrays)")
            continue
        got = actual[name]
        if got.shape != want.shape:
            problems.append(f"{name}: shape {got.shape} != fixture {want.shape}")
            continue
        if name.startswith(("codevector_idx_", "input_lengths", "batch_frame_padding_mask")):
            mismatches = int((got != want).sum())
            if mismatches:
                problems.append(f"{name}: {mismatches} of {want.size} entries differ")
            continue
        if name in ("batch_encoder_out", "batch_features"):
            got, want = got[valid], want[valid]
        atol = LOGIT_ATOL if name.startswith("quantizer_logits_") else ATOL
        if not np.allclose(got, want, atol=atol, rtol=RTOL):
            problems.append(
                f"{name}: max abs diff {np.abs(got - want).max():.3g} (atol {atol:g}, rtol {RTOL:g})"
            )
    return problems


@pytest.fixture(scope="module", params=fixture_folder_params(WAV2VEC2_FOLDERS))
def converted(request, tmp_path_factory, fairseq_fixtures_dir):
    """(fixture folder, stock model loaded from the converted folder, fixture arrays).

    Without fixtures, ``fairseq_fixtures_dir`` skips (a user's clone) or fails (CI).
    """
    folder: Path | None = request.param
    if folder is None:
        pytest.fail(f"no wav2vec2 fixture folder under {fairseq_fixtures_dir}")
    output = tmp_path_factory.mktemp(folder.name)
    result = convert_fairseq_checkpoint(folder / "model.pt", output)
    assert result.kind == generations.WAV2VEC2
    model = Wav2Vec2ForPreTraining.from_pretrained(output).eval()
    with np.load(folder / "expected.npz") as archive:
        expected = dict(archive)
    return folder, model, expected


def test_every_fixture_array_matches(converted):
    folder, model, expected = converted
    inputs = np.load(folder / "inputs.npy")
    actual = transformers_arrays(model, inputs, expected["input_lengths"])
    problems = compare_to_fixture(expected, actual)
    assert not problems, f"{folder.name}:\n" + "\n".join(problems)
    # The comparison is not vacuous: every fixture array was recomputed and checked.
    assert set(expected) <= set(actual)


def test_parity_check_detects_a_perturbed_weight(converted):
    folder, model, expected = converted
    inputs = np.load(folder / "inputs.npy")
    with torch.no_grad():
        model.wav2vec2.encoder.layers[-1].final_layer_norm.bias.add_(1e-2)
    try:
        problems = compare_to_fixture(expected, transformers_arrays(model, inputs, expected["input_lengths"]))
    finally:
        with torch.no_grad():
            model.wav2vec2.encoder.layers[-1].final_layer_norm.bias.sub_(1e-2)
    assert any(line.startswith("encoder_out_0") for line in problems)
    assert not any(line.startswith("features_0") for line in problems)  # upstream of the change


def test_padded_batch_needs_the_attention_mask_for_fairseq_parity(converted):
    """fairseq masks padded frames as attention keys for every model; without the mask they leak in."""
    folder, model, expected = converted
    inputs = np.load(folder / "inputs.npy")
    actual = transformers_arrays(model, inputs, expected["input_lengths"], batch_attention_mask=False)
    padded_row = int(np.argmin(expected["input_lengths"]))
    valid = ~expected["batch_frame_padding_mask"][padded_row]
    difference = np.abs(
        actual["batch_encoder_out"][padded_row][valid] - expected["batch_encoder_out"][padded_row][valid]
    )
    assert difference.max() > 1e-2
    # The unpadded rows do not depend on the mask.
    full_row = int(np.argmax(expected["input_lengths"]))
    np.testing.assert_allclose(
        actual["batch_encoder_out"][full_row], expected["batch_encoder_out"][full_row], atol=ATOL, rtol=RTOL
    )


def test_every_wav2vec2_fixture_is_collected(fairseq_fixtures_dir):
    """Absent fixtures skip (a user's clone) or, under CI=true, fail (``fairseq_fixtures_dir``)."""
    assert WAV2VEC2_FOLDERS, f"no wav2vec2 fixture folder found under {fairseq_fixtures_dir}"
