"""Does the demo's pretraining learn on every seed? Pretrain, fine-tune and score seeds 0..N-1.

For each pretraining seed this runs exactly the demo's wav2vec 2.0 pretraining (the scale's preset,
recipe and budget: ``wav2vec2_pretraining_arguments``) on the built-in corpus, then CTC fine-tuning of
the export with the demo's budget (``budget_arguments``; fine-tuning seeds 0 and 1, as the demo runs,
``--finetune-seeds``), and reports dev
contrastive accuracy (first -> last validation), the health monitor's events and the greedy dev CER.
The from-scratch arm (same architecture, random weights, same fine-tuning budget) runs once per
``--scratch-seeds`` seed; every pretrained run is compared with its mean.

A seed passes when its dev accuracy reaches ``--min-accuracy`` (0.3; chance is 1 / (K + 1)) and its
dev CER (mean over the fine-tuning seeds, as the demo's check takes it) is at least
``--min-reduction`` (20%) below the scratch mean. Runs already finished under
``--output-dir`` are reused, so a killed benchmark continues. The last line is one JSON object.

    python benchmarks/pretraining_seeds.py --output-dir runs/seeds                 # seeds 0-4, tiny scale
    python benchmarks/pretraining_seeds.py --output-dir runs/seeds --seeds 0 1 --scratch-seeds 0
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from wav2vec_hf.recipes.corpus import build_corpus
from wav2vec_hf.recipes.demo import DemoRun
from wav2vec_hf.recipes.demo_steps.finetuning import budget_arguments
from wav2vec_hf.recipes.demo_steps.pretraining import run_pretraining_command, wav2vec2_pretraining_arguments


def finetune(run: DemoRun, model: Path, output_dir: Path, seed: int, from_scratch: bool) -> dict:
    """The demo's fine-tuning of ``model`` (or its architecture from scratch); dev metrics and seconds."""
    from wav2vec_hf.finetuning.arguments import parse_args
    from wav2vec_hf.finetuning.ctc import finetune_ctc

    record = output_dir / "benchmark_finetuning.json"
    if record.is_file():
        return json.loads(record.read_text())
    argv = [
        "--model", str(model),
        "--train", str(run.corpus_dir / "labeled.tsv"),
        "--eval", str(run.corpus_dir / "dev.tsv"),
        *budget_arguments(run),
        "--disable_tqdm", "true",
        "--seed", str(seed),
        "--output_dir", str(output_dir),
    ]  # fmt: skip
    if from_scratch:
        argv.append("--from_scratch")
    result = finetune_ctc(*parse_args(argv))
    entry = {
        "dev_cer": result.metrics["eval_cer"],
        "dev_wer": result.metrics["eval_wer"],
        "seconds": round(result.seconds, 1),
    }
    record.write_text(json.dumps(entry))
    return entry


def pretrain(run: DemoRun, seed: int) -> dict:
    """The demo's wav2vec 2.0 pretraining with ``seed``; dev accuracy, health events and seconds."""
    output_dir = run.output_dir / "pretrain" / f"seed{seed}"
    summary_file = output_dir / "pretraining_summary.json"
    if not summary_file.is_file():
        argv = wav2vec2_pretraining_arguments(
            run.scale,
            run.corpus_dir / "unlabeled.tsv",
            run.corpus_dir / "dev.tsv",
            output_dir,
            seed=seed,
            device=run.device,
        )
        run_pretraining_command([*argv, "--progress_bar", "false"], run.device)
    summary = json.loads(summary_file.read_text())
    health = summary["health"]
    return {
        "output_dir": str(output_dir),
        "dev_accuracy_first": summary["first_valid"]["accuracy"],
        "dev_accuracy_last": summary["last_valid"]["accuracy"],
        "chance_accuracy": health["chance_accuracy"],
        "health_events": [f"{e['kind']}@{e['update']}" for e in health["events"]],
        "seconds": round(summary["seconds"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="pretraining seeds")
    parser.add_argument("--finetune-seeds", type=int, nargs="+", default=[0, 1], help="per pretrained model")
    parser.add_argument("--scratch-seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--scale", default="tiny", help="the demo scale (corpus, model, budgets)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--corpus-seed", type=int, default=0)
    parser.add_argument("--min-accuracy", type=float, default=0.3)
    parser.add_argument("--min-reduction", type=float, default=0.2)
    args = parser.parse_args()

    run = DemoRun(output_dir=args.output_dir, options={"scale": args.scale, "device": args.device})
    started = time.perf_counter()
    scale = run.scale
    corpus = build_corpus(
        run.corpus_dir,
        unlabeled_minutes=scale.unlabeled_minutes,
        labeled_minutes=scale.labeled_minutes,
        dev_minutes=scale.dev_minutes,
        test_minutes=scale.test_minutes,
        lm_sentences=scale.lm_sentences,
        seed=args.corpus_seed,
        progress=False,
    )
    print(corpus.summary(), flush=True)

    rows = []
    for seed in args.seeds:
        print(f"pretraining seed {seed} ...", flush=True)
        row = {"seed": seed, **pretrain(run, seed)}
        model = Path(row["output_dir"])
        runs = []
        for finetune_seed in args.finetune_seeds:
            # Fine-tuning seed 0 keeps the folder name of the first version of this benchmark (reused).
            name = f"seed{seed}" if finetune_seed == 0 else f"seed{seed}-ft{finetune_seed}"
            runs.append(finetune(run, model, args.output_dir / "finetune" / name, finetune_seed, False))
        row["finetuned"] = {
            "dev_cer": sum(entry["dev_cer"] for entry in runs) / len(runs),
            "dev_cer_per_seed": [entry["dev_cer"] for entry in runs],
        }
        per_seed = ", ".join(f"{value:.3f}" for value in row["finetuned"]["dev_cer_per_seed"])
        print(
            f"  seed {seed}: dev accuracy {row['dev_accuracy_first']:.3f} -> {row['dev_accuracy_last']:.3f}, "
            f"dev CER {row['finetuned']['dev_cer']:.3f} (fine-tuning seeds: {per_seed}), health events "
            f"{row['health_events'] or 'none'}",
            flush=True,
        )
        rows.append(row)
    scratch = []
    for seed in args.scratch_seeds:
        print(f"fine-tuning from scratch, seed {seed} ...", flush=True)
        model = Path(rows[0]["output_dir"])  # its architecture; --from_scratch ignores the weights
        scratch.append(finetune(run, model, args.output_dir / "finetune" / f"scratch-seed{seed}", seed, True))
    scratch_cer = sum(entry["dev_cer"] for entry in scratch) / len(scratch)

    print()
    print(f"| pretraining seed | dev accuracy (chance {rows[0]['chance_accuracy']:.3f}) | health events "
          "| fine-tuned dev CER (per fine-tuning seed) | vs scratch | pass |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for row in rows:
        reduction = 1.0 - row["finetuned"]["dev_cer"] / scratch_cer
        row["cer_reduction_vs_scratch"] = reduction
        row["passed"] = row["dev_accuracy_last"] >= args.min_accuracy and reduction >= args.min_reduction
        print(
            f"| {row['seed']} | {row['dev_accuracy_first']:.3f} -> {row['dev_accuracy_last']:.3f} | "
            f"{', '.join(row['health_events']) or 'none'} | {row['finetuned']['dev_cer']:.3f} "
            f"({', '.join(f'{v:.3f}' for v in row['finetuned']['dev_cer_per_seed'])}) | "
            f"{-100 * reduction:+.0f}% | {'yes' if row['passed'] else 'NO'} |"
        )
    scratch_values = ", ".join(f"{entry['dev_cer']:.3f}" for entry in scratch)
    print(
        f"| scratch (seeds {', '.join(map(str, args.scratch_seeds))}) | - | - | {scratch_cer:.3f} "
        f"({scratch_values}) | - | - |"
    )
    result = {
        "benchmark": "pretraining_seeds",
        "scale": scale.name,
        "preset": scale.wav2vec2_preset,
        "pretrain_steps": scale.pretrain_steps,
        "seeds": args.seeds,
        "dev_accuracy": [row["dev_accuracy_last"] for row in rows],
        "finetune_seeds": args.finetune_seeds,
        "dev_cer_pretrained": [row["finetuned"]["dev_cer"] for row in rows],
        "dev_cer_pretrained_per_finetune_seed": [row["finetuned"]["dev_cer_per_seed"] for row in rows],
        "dev_cer_scratch": [entry["dev_cer"] for entry in scratch],
        "cer_reduction_vs_scratch": [row["cer_reduction_vs_scratch"] for row in rows],
        "health_events": {row["seed"]: row["health_events"] for row in rows},
        "pretraining_seconds": [row["seconds"] for row in rows],
        "passed": sum(row["passed"] for row in rows),
        "all_passed": all(row["passed"] for row in rows),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
