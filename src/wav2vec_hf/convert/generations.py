"""Which wav2vec-family generation a fairseq checkpoint holds."""

from __future__ import annotations

from wav2vec_hf.convert.checkpoint import CheckpointError, FairseqCheckpoint

WAV2VEC = "wav2vec"
VQ_WAV2VEC = "vq-wav2vec"
WAV2VEC2 = "wav2vec2"
WAV2VEC2_CTC = "wav2vec2-ctc"

_WAV2VEC2_NAMES = {"wav2vec2": WAV2VEC2, "wav2vec_ctc": WAV2VEC2_CTC, "wav2vec2_ctc": WAV2VEC2_CTC}


def detect_generation(checkpoint: FairseqCheckpoint) -> str:
    """Tell the generation from a checkpoint's config.

    2019/2020 checkpoints carry an argparse ``args``: wav2vec 2.0 when ``arch`` says so
    (``wav2vec2*``, ``wav2vec_ctc``), else wav2vec when it has no quantiser (``vq_type`` absent or
    ``"none"``), vq-wav2vec otherwise. Later checkpoints carry a hydra
    ``cfg`` whose ``model._name`` names the model (``wav2vec2``, ``wav2vec_ctc``).

    Returns:
        One of ``"wav2vec"``, ``"vq-wav2vec"``, ``"wav2vec2"``, ``"wav2vec2-ctc"``.

    Raises:
        CheckpointError: the checkpoint is of a model this package does not convert.
    """
    if checkpoint.args is not None:
        args = checkpoint.args
        arch = str(args.get("arch", "wav2vec"))
        # 2020 wav2vec 2.0 releases (wav2vec_small.pt, ...) still carry an argparse ``args``.
        if arch.startswith("wav2vec2") or arch == "wav2vec_ctc":
            return WAV2VEC2_CTC if ("ctc" in arch or "w2v_args" in args) else WAV2VEC2
        if not arch.startswith(("wav2vec", "vq_wav2vec")):
            raise CheckpointError(
                f"{checkpoint.path}: args.arch={arch!r} is not a wav2vec-family model; "
                "this converter handles wav2vec, vq-wav2vec and wav2vec 2.0 only."
            )
        vq_type = args.get("vq_type") or "none"
        return WAV2VEC if vq_type == "none" else VQ_WAV2VEC
    name = str((checkpoint.cfg or {}).get("model", {}).get("_name", ""))
    if name in _WAV2VEC2_NAMES:
        return _WAV2VEC2_NAMES[name]
    raise CheckpointError(
        f"{checkpoint.path}: cfg.model._name={name!r} is not a supported wav2vec-family model "
        f"(supported: {sorted(_WAV2VEC2_NAMES)})."
    )
