"""``wav2vec-hf demo``: the main job on the built-in corpus (see ``wav2vec_hf.recipes.demo``)."""

from __future__ import annotations

import argparse
import sys

SCALE_CHOICES = ("test", "tiny", "small", "base")


def register(subparsers) -> None:
    """Add the ``demo`` sub-command."""
    parser = subparsers.add_parser(
        "demo",
        help="run the whole family's pipeline on the built-in corpus and print the papers' claims at toy scale",
        description="Build the built-in speech corpus; pretrain wav2vec 2.0 (and briefly wav2vec and "
        "vq-wav2vec); fine-tune with CTC from the pretrained model and from scratch; decode greedy and "
        "with a 4-gram LM; one self-training round; model cards and a dry-run Hub folder; one table of "
        "the claims with plots. Fails (exit 1) if pretraining did not lower the dev CER.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--output_dir", default="runs/demo", help="where the corpus, models and reports go")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--scale",
        choices=SCALE_CHOICES,
        default="tiny",
        help="tiny: CPU, ~15 min on 2 cores; small / base: larger, for one GPU; test: plumbing only",
    )
    parser.add_argument("--seeds", type=int, default=2, help="fine-tuning seeds per arm (0 .. N-1)")
    parser.add_argument("--skip-self-training", action="store_true", help="leave out the self-training round")
    parser.add_argument(
        "--no_claim_check",
        dest="check_claim",
        action="store_false",
        help="report, but do not fail, when pretrained is not better than scratch on dev CER",
    )
    sizes = parser.add_argument_group("corpus sizes (default: the scale's)")
    sizes.add_argument("--unlabeled-minutes", type=float, default=None)
    sizes.add_argument("--labeled-minutes", type=float, default=None)
    sizes.add_argument("--dev-minutes", type=float, default=None)
    sizes.add_argument("--test-minutes", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0, help="corpus and pretraining seed")
    parser.add_argument("--workers", type=int, default=None, help="processes for corpus synthesis")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; a failing step is reported with its log file (exit 1), a bad option exits 2."""
    from wav2vec_hf.extras import require_extras
    from wav2vec_hf.recipes.demo import DemoStepError, run_demo
    from wav2vec_hf.run_lock import RunLockError, hold_run_lock

    require_extras("demo", purpose="wav2vec-hf demo")  # eSpeak, KenLM, matplotlib: before any step runs

    if args.seeds < 1:
        print("wav2vec-hf demo: error: --seeds must be at least 1", file=sys.stderr)
        return 2
    options = {
        key: value for key, value in vars(args).items() if key not in ("func", "command", "output_dir")
    }
    try:
        with hold_run_lock(args.output_dir, prog="wav2vec-hf demo"):  # one run per output folder
            run_demo(args.output_dir, **options)
    except (ValueError, RunLockError) as error:
        print(f"wav2vec-hf demo: error: {error}", file=sys.stderr)
        return 2
    except DemoStepError as error:
        print(f"wav2vec-hf demo: error: {error}", file=sys.stderr)
        return 1
    return 0
