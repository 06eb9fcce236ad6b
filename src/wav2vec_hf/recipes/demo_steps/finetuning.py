"""Demo step: CTC fine-tuning from the pretrained model and from scratch, same budget, several seeds.

Both arms run ``finetune_ctc`` with identical arguments (the scale's head-first recipe: the new CTC
layer alone at a high rate first, then everything but the feature encoder on a tri-stage schedule);
the only difference is ``--from_scratch`` (random weights of the same architecture).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wav2vec_hf.recipes.demo_steps.run import DemoRun

ARMS = ("pretrained", "scratch")


def budget_arguments(run: DemoRun) -> list[str]:
    """The fine-tuning options shared by every run of the demo (both arms and self-training)."""
    scale = run.scale
    argv = [
        "--max_steps", str(scale.finetune_steps),
        "--head_steps", str(scale.head_steps),
        "--head_learning_rate", str(scale.head_learning_rate),
        "--learning_rate", str(scale.learning_rate),
        "--tri_stage_ratios", scale.tri_stage_ratios,
        "--per_device_train_batch_size", str(scale.batch_size),
        # Evaluated once at the end (and decoded by the next step): no checkpoint picked on dev.
        "--eval_strategy", "no",
        "--save_strategy", "no",
        "--load_best_model_at_end", "false",
        "--logging_steps", str(max(1, scale.finetune_steps // 10)),
        "--report_to", "none",
        "--disable_tqdm", "false",
    ]  # fmt: skip
    if run.device == "cpu":
        argv += ["--use_cpu", "true"]
    else:
        argv += ["--bf16", "true"]
    return argv


def run_directory(run: DemoRun, arm: str, seed: int) -> Path:
    """Where one fine-tuning run goes."""
    return run.output_dir / "finetune" / f"{arm}-seed{seed}"


def finetune_step(run: DemoRun) -> dict[str, Any]:
    """Fine-tune each arm for each seed; returns the runs' folders, final dev metrics and seconds."""
    from wav2vec_hf.finetuning.arguments import parse_args
    from wav2vec_hf.finetuning.ctc import finetune_ctc

    pretrained = run.state["pretrained"]
    shared = [
        "--model", str(pretrained),
        "--train", str(run.corpus_dir / "labeled.tsv"),
        "--eval", str(run.corpus_dir / "dev.tsv"),
        *budget_arguments(run),
    ]  # fmt: skip
    runs: dict[str, dict[str, Any]] = {}
    seeds = run.seeds
    total = len(seeds) * len(ARMS)
    done = 0
    for seed in seeds:
        for arm in ARMS:
            done += 1
            output_dir = run_directory(run, arm, seed)
            print(f"  [{done}/{total}] {arm}, seed {seed} -> {output_dir}", flush=True)
            argv = [*shared, "--seed", str(seed), "--output_dir", str(output_dir)]
            if arm == "scratch":
                argv.append("--from_scratch")
            result = finetune_ctc(*parse_args(argv))
            metrics = {key: value for key, value in result.metrics.items() if key.startswith("eval_")}
            print(
                f"      dev CER {metrics.get('eval_cer', float('nan')):.3f}, WER "
                f"{metrics.get('eval_wer', float('nan')):.3f} (greedy, Trainer) in {result.seconds:.0f} s",
                flush=True,
            )
            runs[f"{arm}-seed{seed}"] = {
                "arm": arm,
                "seed": seed,
                "output_dir": output_dir,
                "dev_metrics": metrics,
                "seconds": result.seconds,
            }
    run.state["finetuned"] = {name: entry["output_dir"] for name, entry in runs.items()}
    return {"arguments": shared, "runs": runs}


__all__ = ["ARMS", "budget_arguments", "finetune_step", "run_directory"]
