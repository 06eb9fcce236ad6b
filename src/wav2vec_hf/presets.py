"""Named model configurations: the papers' models, the released checkpoints, tiny ones for tests.

``get_preset(name)`` returns a fresh config; ``list_presets()`` names them all. Other model
families add theirs with ``register_preset(name, factory, description)`` (wav2vec 2.0 presets live
next to their own code and register here).

wav2vec / vq-wav2vec presets (fairseq 2019/2020 README commands and the papers):

- ``wav2vec-base``: the paper's wav2vec: 5 encoder layers (receptive field 465 samples, hop 160),
  9 context layers of kernel 3 (receptive field 210 ms), ReLU, 10 negatives, 12 steps.
- ``wav2vec-large``: as ``wav2vec_large.pt``: 5 + 2 (1x1) encoder layers, 12 context layers with
  kernels 2..13, skip connections (residual scale 0.5), log compression.
- ``vq-wav2vec-gumbel``: as ``vq-wav2vec.pt``: 5 + 3 (1x1) encoder layers, GELU, Gumbel quantiser
  G = 2, V = 320 shared codewords, 2-layer logit projection, temperature 2 -> 0.5.
- ``vq-wav2vec-kmeans``: as ``vq-wav2vec_kmeans.pt``: the same with k-means (gamma 0.25, loss weight 1).
- ``wav2vec-tiny``, ``vq-wav2vec-gumbel-tiny``, ``vq-wav2vec-kmeans-tiny``: 32 channels, the paper's
  strides (10 ms frames), 3 context layers, 4 steps, 4 negatives, V = 16: for tests (35-40k parameters).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from transformers import PretrainedConfig

from wav2vec_hf.models.wav2vec.configuration_wav2vec import (
    VQ_WAV2VEC_FEATURE_LAYERS,
    WAV2VEC_BASE_AGGREGATOR_LAYERS,
    WAV2VEC_FEATURE_LAYERS,
    WAV2VEC_LARGE_AGGREGATOR_LAYERS,
    WAV2VEC_LARGE_FEATURE_LAYERS,
    VQWav2VecConfig,
    Wav2VecConfig,
)


@dataclass(frozen=True)
class Preset:
    """A named configuration: ``factory()`` builds a fresh config each time."""

    name: str
    factory: Callable[[], PretrainedConfig]
    description: str


_PRESETS: dict[str, Preset] = {}


def register_preset(name: str, factory: Callable[[], PretrainedConfig], description: str = "") -> None:
    """Add a named configuration (a later registration under the same name is an error)."""
    if name in _PRESETS:
        raise ValueError(f"preset {name!r} is already registered.")
    _PRESETS[name] = Preset(name, factory, description)


def get_preset(name: str) -> PretrainedConfig:
    """A fresh config for the preset ``name``.

    Raises:
        KeyError: unknown name; the message lists the known ones.
    """
    try:
        return _PRESETS[name].factory()
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known presets: {', '.join(list_presets())}.") from None


def list_presets() -> list[str]:
    """Every preset name, sorted."""
    return sorted(_PRESETS)


def describe_preset(name: str) -> str:
    """The one-line description of a preset."""
    return _PRESETS[name].description


# --- wav2vec / vq-wav2vec ---------------------------------------------------------------------

_LARGE_CONTEXT = {
    "conv_aggregator_layers": WAV2VEC_LARGE_AGGREGATOR_LAYERS,
    "skip_connections_agg": True,
    "residual_scale": 0.5,
}
_TINY_ENCODER = tuple((32, kernel, stride) for _, kernel, stride in WAV2VEC_FEATURE_LAYERS)
_TINY_CONTEXT = ((32, 2, 1), (32, 3, 1), (32, 4, 1))
_TINY = {
    "conv_feature_layers": _TINY_ENCODER,
    "conv_aggregator_layers": _TINY_CONTEXT,
    "prediction_steps": 4,
    "num_negatives": 4,
}
_TINY_VQ = {**_TINY, "skip_connections_agg": True, "vq_vars": 16, "vq_groups": 2, "vq_depth": 2}


def _wav2vec_base() -> Wav2VecConfig:
    return Wav2VecConfig(
        conv_feature_layers=WAV2VEC_FEATURE_LAYERS,
        conv_aggregator_layers=WAV2VEC_BASE_AGGREGATOR_LAYERS,
        num_negatives=10,
        prediction_steps=12,
    )


def _wav2vec_large() -> Wav2VecConfig:
    return Wav2VecConfig(
        conv_feature_layers=WAV2VEC_LARGE_FEATURE_LAYERS, log_compression=True, **_LARGE_CONTEXT
    )


def _vq_wav2vec(vq_type: str) -> VQWav2VecConfig:
    return VQWav2VecConfig(
        conv_feature_layers=VQ_WAV2VEC_FEATURE_LAYERS,
        activation="gelu",
        log_compression=False,
        vq_type=vq_type,
        vq_vars=320,
        vq_groups=2,
        vq_depth=2,
        combine_groups=True,
        vq_temp=(2.0, 0.5, 0.999995),
        vq_gamma=0.25,
        # The README's Gumbel command set no --loss-weights (no diversity term); k-means used [1].
        diversity_loss_weight=0.0,
        kmeans_loss_weight=1.0 if vq_type == "kmeans" else 0.0,
        **_LARGE_CONTEXT,
    )


register_preset("wav2vec-base", _wav2vec_base, "wav2vec paper model: 5 conv encoder, 9 x kernel-3 context")
register_preset("wav2vec-large", _wav2vec_large, "wav2vec_large.pt: 7 conv encoder, 12-layer context k=2..13")
register_preset("vq-wav2vec-gumbel", lambda: _vq_wav2vec("gumbel"), "vq-wav2vec.pt: Gumbel, G=2, V=320")
register_preset(
    "vq-wav2vec-kmeans", lambda: _vq_wav2vec("kmeans"), "vq-wav2vec_kmeans.pt: k-means, G=2, V=320"
)
register_preset("wav2vec-tiny", lambda: Wav2VecConfig(**_TINY), "tiny wav2vec for tests")
register_preset(
    "vq-wav2vec-gumbel-tiny",
    lambda: VQWav2VecConfig(**_TINY_VQ, activation="gelu", vq_type="gumbel", diversity_loss_weight=0.1),
    "tiny Gumbel vq-wav2vec for tests (with a 0.1 diversity term)",
)
register_preset(
    "vq-wav2vec-kmeans-tiny",
    lambda: VQWav2VecConfig(**_TINY_VQ, activation="gelu", vq_type="kmeans", kmeans_loss_weight=1.0),
    "tiny k-means vq-wav2vec for tests",
)


__all__ = ["Preset", "describe_preset", "get_preset", "list_presets", "register_preset"]
