"""Demo steps: pretrain wav2vec 2.0 with the project's loop; briefly pretrain wav2vec and vq-wav2vec.

Both call ``run_pretraining`` exactly as ``wav2vec-hf pretrain`` does (``parse_arguments`` over a
command line), so the demo exercises the real loop, recipes, metrics file, health checks and export.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from wav2vec_hf.recipes.demo_steps.environment import accelerate_on, read_jsonl

if TYPE_CHECKING:
    from wav2vec_hf.recipes.demo_steps.run import DemoRun
    from wav2vec_hf.recipes.demo_steps.scales import DemoScale

# (name, model type, preset) of the brief wav2vec / vq-wav2vec runs.
WAV2VEC1_RUNS = (
    ("wav2vec", "wav2vec", "wav2vec-small-cpu"),
    ("vq-wav2vec", "vq-wav2vec", "vq-wav2vec-gumbel-small-cpu"),
)


def run_pretraining_command(argv: list[str], device: str = "cpu"):
    """``wav2vec-hf pretrain ARGV`` in this process, under Accelerate for ``device``; its result."""
    from wav2vec_hf.pretraining.arguments import parse_arguments
    from wav2vec_hf.pretraining.loop import run_pretraining

    with accelerate_on(device):
        return run_pretraining(parse_arguments(argv))


def _mean(records: list[dict], key: str) -> float | None:
    values = [r[key] for r in records if key in r]
    return sum(values) / len(values) if values else None


def training_summary(output_dir: Path, window: int = 10) -> dict[str, Any]:
    """First / last means (over ``window`` updates) of the loss and accuracy in ``metrics.jsonl``."""
    records = [r for r in read_jsonl(output_dir / "metrics.jsonl") if r.get("split") == "train"]
    window = max(1, min(window, len(records) // 2 or 1))
    first, last = records[:window], records[-window:]
    return {
        "updates": len(records),
        "window": window,
        "contrastive_loss_first": _mean(first, "contrastive_loss"),
        "contrastive_loss_last": _mean(last, "contrastive_loss"),
        "accuracy_first": _mean(first, "accuracy"),
        "accuracy_last": _mean(last, "accuracy"),
        "code_perplexity_last": _mean(last, "code_perplexity"),
    }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def wav2vec2_pretraining_arguments(
    scale: DemoScale, train: Path, valid: Path, output_dir: Path, seed: int, device: str = "cpu"
) -> list[str]:
    """The ``wav2vec-hf pretrain`` command line of a scale's wav2vec 2.0 run.

    Args:
        scale: the demo scale (preset, config overrides, updates, batch, seed).
        train, valid: pretraining and validation tables.
        output_dir: where the run writes its checkpoints and export.
        seed: the pretraining seed (the demo's ``--seed``).
        device: ``cuda`` adds bf16 mixed precision.
    """
    argv = [
        "--model_type", "wav2vec2",
        "--preset", scale.wav2vec2_preset,
        "--train", str(train),
        "--valid", str(valid),
        "--output_dir", str(output_dir),
        "--max_steps", str(scale.pretrain_steps),
        "--eval_steps", str(scale.pretrain_eval_steps),
        "--save_steps", "0",
        "--cache_audio",
        "--report_to", "none",
        "--seed", str(seed),
    ]  # fmt: skip
    if scale.config_overrides():
        argv += ["--config_overrides", scale.config_overrides()]
    if scale.pretrain_batch_samples:
        argv += ["--max_batch_samples", str(scale.pretrain_batch_samples)]
    if device == "cuda":
        argv += ["--mixed_precision", "bf16"]
    return argv


def pretrain_wav2vec2_step(run: DemoRun) -> dict[str, Any]:
    """Pretrain the scale's wav2vec 2.0 on the unlabelled split (validation: the dev voices)."""
    scale = run.scale
    output_dir = run.output_dir / "pretrain" / "wav2vec2"
    argv = wav2vec2_pretraining_arguments(
        scale,
        run.corpus_dir / "unlabeled.tsv",
        run.corpus_dir / "dev.tsv",
        output_dir,
        seed=run.options.get("seed", 0),
        device=run.device,
    )
    result = run_pretraining_command(argv, run.device)
    summary = training_summary(output_dir)
    chance = result.health.get("chance_accuracy")
    print(
        f"  wav2vec 2.0 ({scale.wav2vec2_preset}): {result.updates} updates, {result.audio_seconds / 60:.1f} min "
        f"of audio in {result.seconds:.0f} s; contrastive loss {_fmt(summary['contrastive_loss_first'])} -> "
        f"{_fmt(summary['contrastive_loss_last'])}, accuracy {_fmt(summary['accuracy_first'])} -> "
        f"{_fmt(summary['accuracy_last'])} (chance {_fmt(chance)}); dev accuracy "
        f"{_fmt((result.first_valid or {}).get('accuracy'))} -> {_fmt((result.last_valid or {}).get('accuracy'))}",
        flush=True,
    )
    run.state["pretrained"] = output_dir
    run.state["pretraining_metrics"] = {"wav2vec 2.0": output_dir / "metrics.jsonl"}
    run.state["chance_accuracy"] = {"wav2vec 2.0": chance}
    return {
        "output_dir": output_dir,
        "preset": scale.wav2vec2_preset,
        "config_overrides": scale.wav2vec2_overrides,
        "updates": result.updates,
        "audio_seconds": result.audio_seconds,
        "loop_seconds": result.seconds,
        "train": summary,
        "first_valid": result.first_valid,
        "last_valid": result.last_valid,
        "chance_accuracy": chance,
        "healthy": result.health.get("healthy"),
        "health_events": result.health.get("events"),
        "curves": output_dir / "plots" / "curves.png",
    }


def codebook_usage(model_dir: Path, data: Path, max_utterances: int = 40) -> dict[str, Any]:
    """Quantise ``data`` with a vq-wav2vec export: codebook usage and bitrate (``units.code_bitrate``)."""
    import torch
    from transformers import AutoModelForPreTraining

    import wav2vec_hf  # noqa: F401  (registers the wav2vec Auto classes)
    from wav2vec_hf.data import open_audio_source
    from wav2vec_hf.units import code_bitrate

    model = AutoModelForPreTraining.from_pretrained(str(model_dir)).eval()
    audio = open_audio_source(data)
    codes = []
    with torch.inference_mode():
        for index in range(min(len(audio), max_utterances)):
            wave = torch.as_tensor(audio.load(index, target_rate=16000), dtype=torch.float32)
            codes.append(model.quantize(wave[None])[0])
    config = model.config
    bitrate = code_bitrate(codes, num_vars=config.vq_vars, frames_per_second=config.frames_per_second)
    used = [
        int((torch.cat(codes)[:, group].bincount(minlength=config.vq_vars) > 0).sum())
        for group in range(bitrate.num_groups)
    ]
    return {
        "utterances": len(codes),
        "frames": bitrate.num_frames,
        "groups": bitrate.num_groups,
        "codewords_per_group": bitrate.num_vars,
        "codewords_used_per_group": used,
        "distinct_combinations": bitrate.distinct_combinations,
        "possible_combinations": bitrate.possible_combinations,
        "max_bits_per_second": bitrate.max_bits_per_second,
        "entropy_bits_per_second": bitrate.entropy_bits_per_second,
        "used_codebook_bits_per_second": bitrate.used_codebook_bits_per_second,
    }


def pretrain_wav2vec1_step(run: DemoRun) -> dict[str, Any]:
    """A few dozen updates each of wav2vec and (Gumbel) vq-wav2vec: losses; codebook usage and bitrate."""
    scale = run.scale
    report: dict[str, Any] = {}
    for name, model_type, preset in WAV2VEC1_RUNS:
        output_dir = run.output_dir / "pretrain" / name
        argv = [
            "--model_type", model_type,
            "--preset", preset,
            "--train", str(run.corpus_dir / "unlabeled.tsv"),
            "--valid", str(run.corpus_dir / "dev.tsv"),
            "--output_dir", str(output_dir),
            "--max_steps", str(scale.wav2vec1_steps),
            "--max_batch_samples", str(scale.wav2vec1_batch_samples),
            "--save_steps", "0",
            "--cache_audio",
            "--report_to", "none",
            "--seed", str(run.options.get("seed", 0)),
        ]  # fmt: skip
        result = run_pretraining_command(argv, run.device)
        summary = training_summary(output_dir)
        entry: dict[str, Any] = {
            "output_dir": output_dir,
            "preset": preset,
            "updates": result.updates,
            "loop_seconds": result.seconds,
            "train": summary,
            "first_valid": result.first_valid,
            "last_valid": result.last_valid,
            "chance_accuracy": result.health.get("chance_accuracy"),
            "healthy": result.health.get("healthy"),
        }
        line = (
            f"  {name} ({preset}): {result.updates} updates in {result.seconds:.0f} s; InfoNCE loss "
            f"{_fmt(summary['contrastive_loss_first'])} -> {_fmt(summary['contrastive_loss_last'])}, accuracy "
            f"{_fmt(summary['accuracy_first'])} -> {_fmt(summary['accuracy_last'])} "
            f"(chance {_fmt(entry['chance_accuracy'])})"
        )
        if model_type == "vq-wav2vec":
            usage = codebook_usage(output_dir, run.corpus_dir / "dev.tsv")
            entry["codebook"] = usage
            line += (
                f"\n    codebook on dev: {usage['codewords_used_per_group']} of {usage['codewords_per_group']} "
                f"codewords used per group, {usage['distinct_combinations']} of {usage['possible_combinations']} "
                f"combinations; bitrate {usage['max_bits_per_second']:.0f} bit/s fixed-length, "
                f"{usage['used_codebook_bits_per_second']:.0f} bit/s over the used combinations, "
                f"{usage['entropy_bits_per_second']:.0f} bit/s entropy"
            )
        print(line, flush=True)
        run.state.setdefault("pretraining_metrics", {})[name] = output_dir / "metrics.jsonl"
        run.state.setdefault("chance_accuracy", {})[name] = entry["chance_accuracy"]
        run.state.setdefault("pretrained_family", {})[name] = output_dir
        report[name] = entry
    return report


__all__ = [
    "codebook_usage",
    "pretrain_wav2vec1_step",
    "pretrain_wav2vec2_step",
    "run_pretraining_command",
    "training_summary",
    "wav2vec2_pretraining_arguments",
]
