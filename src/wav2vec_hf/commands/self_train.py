"""``wav2vec-hf self-train``: pseudo-label unlabelled audio and train the final model on labelled + pseudo-labelled data."""

from __future__ import annotations

import argparse
import shlex
import sys


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated numbers") from error


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options shared by this command and ``scripts/self_train.py``."""
    from wav2vec_hf.selftraining.rounds import SelfTrainingConfig

    fields = SelfTrainingConfig.__dataclass_fields__

    def default(name: str):
        return fields[name].default  # every field used here has a plain default

    data = parser.add_argument_group("data")
    data.add_argument(
        "--model",
        "--pretrained",
        dest="pretrained",
        required=True,
        help="pretrained model folder (or preset name) to fine-tune",
    )
    data.add_argument("--labeled", required=True, help="labelled data: manifest, transcript table or folder")
    data.add_argument("--unlabeled", required=True, help="unlabelled audio to pseudo-label (any data form)")
    data.add_argument(
        "--eval", "--dev", dest="dev", required=True, help="labelled dev data (tuning and the table)"
    )
    data.add_argument("--test", default=None, help="labelled test data (reported in the table)")
    data.add_argument("--lm-text", required=True, nargs="+", help="text files of the n-gram and neural LMs")
    data.add_argument("--output_dir", required=True, help="run folder; a rerun with the same folder resumes")
    run_group = parser.add_argument_group("recipe")
    run_group.add_argument("--rounds", type=int, default=1, help="self-training rounds")
    run_group.add_argument("--seed", type=int, default=0, help="seed of every training stage")
    run_group.add_argument("--finetuned", default=None, help="existing CTC folder used as the stage-1 model")
    run_group.add_argument(
        "--finetune_args",
        default="",
        help='extra finetune arguments of stages 1 and 5, one quoted string, e.g. "--max_steps 300 --head_steps 100"',
    )
    run_group.add_argument("--lm-order", type=int, default=default("lm_order"), help="n-gram order")
    run_group.add_argument("--beam-width", type=int, default=default("beam_width"), help="beam width")
    run_group.add_argument(
        "--n-best", type=int, default=default("n_best"), help="hypotheses kept per utterance"
    )
    run_group.add_argument(
        "--lm-alphas", type=_floats, default=default("lm_alphas"), help="n-gram weights to try"
    )
    run_group.add_argument(
        "--lm-betas", type=_floats, default=default("lm_betas"), help="word bonuses to try"
    )
    run_group.add_argument("--no-rescore", action="store_true", help="skip the neural-LM rescoring")
    run_group.add_argument(
        "--rescore-lm", default=None, help="causal LM folder (default: train one on --lm-text)"
    )
    run_group.add_argument("--neural-lm-level", choices=("word", "char"), default=default("neural_lm_level"))
    run_group.add_argument("--neural-lm-steps", type=int, default=default("neural_lm_steps"))
    run_group.add_argument("--neural-lm-size", type=int, default=default("neural_lm_size"), help="LM width")
    run_group.add_argument("--ngram-weights", type=_floats, default=default("ngram_weights"))
    run_group.add_argument("--neural-weights", type=_floats, default=default("neural_weights"))
    run_group.add_argument("--word-bonuses", type=_floats, default=default("word_bonuses"))
    run_group.add_argument(
        "--min-score", type=float, default=None, help="drop pseudo-labels below this confidence"
    )
    run_group.add_argument("--keep-fraction", type=float, default=1.0, help="keep this most confident share")
    run_group.add_argument(
        "--balance-transcripts",
        action="store_true",
        help="apply --keep_fraction within each group of identical transcripts (isolated words, e.g. digits)",
    )
    run_group.add_argument(
        "--align-transcripts",
        action="store_true",
        help="label by distribution alignment: re-weight the n-best posteriors so that the pseudo-labels' "
        "transcript counts follow the labelled table's (closed sets, e.g. digits; fixes systematic confusions)",
    )
    run_group.add_argument(
        "--final_model",
        choices=("ctc", "seq2seq"),
        default="ctc",
        help="stage 5: CTC fine-tuning of the pretrained model (a), or the paper's seq2seq Transformer on "
        "filterbanks with word pieces (b; one round)",
    )
    run_group.add_argument("--seq2seq-steps", type=int, default=1500, help="seq2seq training updates")
    run_group.add_argument("--seq2seq-beams", type=int, default=5, help="seq2seq decoding beam width")
    run_group.add_argument(
        "--require-agreement",
        action="store_true",
        help="keep only labels where rescoring agrees with the beam",
    )
    run_group.add_argument("--decode-workers", type=int, default=1, help="beam-search processes")
    run_group.add_argument("--stop-after", default=None, help="stop after this stage, e.g. round-1/decode")
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``self-train`` sub-command."""
    parser = subparsers.add_parser(
        "self-train",
        help="self-training: fine-tune, pseudo-label unlabelled audio (beam + n-gram LM + neural rescoring), "
        "train the final model on labelled + pseudo-labelled data; resumable",
        description="The recipe of 'Self-training and Pre-training are Complementary': each stage writes into "
        "OUTPUT_DIR and a rerun skips finished stages. Prints and saves a table of dev/test WER per round.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run (or resume) self-training; returns the exit code."""
    from wav2vec_hf.cli_messages import for_command
    from wav2vec_hf.data import DataValidationError
    from wav2vec_hf.extras import require_extras
    from wav2vec_hf.run_lock import RunLockError, hold_run_lock
    from wav2vec_hf.selftraining import SelfTrainingConfig, run_self_training

    # Pseudo-labels are decoded with the n-gram LM; the seq2seq final model needs word pieces.
    needed = ("lm", "seq2seq") if args.final_model == "seq2seq" else ("lm",)
    require_extras(*needed, purpose=f"self-training (--final_model {args.final_model})")

    try:
        config = SelfTrainingConfig(
            pretrained=args.pretrained,
            labeled=args.labeled,
            unlabeled=args.unlabeled,
            dev=args.dev,
            test=args.test,
            lm_text=args.lm_text,
            output_dir=args.output_dir,
            rounds=args.rounds,
            seed=args.seed,
            finetuned=args.finetuned,
            finetune_args=shlex.split(args.finetune_args),
            lm_order=args.lm_order,
            beam_width=args.beam_width,
            n_best=args.n_best,
            lm_alphas=args.lm_alphas,
            lm_betas=args.lm_betas,
            rescore=not args.no_rescore,
            rescore_lm=args.rescore_lm,
            neural_lm_level=args.neural_lm_level,
            neural_lm_steps=args.neural_lm_steps,
            neural_lm_size=args.neural_lm_size,
            ngram_weights=args.ngram_weights,
            neural_weights=args.neural_weights,
            word_bonuses=args.word_bonuses,
            min_score=args.min_score,
            keep_fraction=args.keep_fraction,
            balance_transcripts=args.balance_transcripts,
            align_transcripts=args.align_transcripts,
            final_model=args.final_model,
            seq2seq_steps=args.seq2seq_steps,
            seq2seq_beams=args.seq2seq_beams,
            require_agreement=args.require_agreement,
            decode_workers=args.decode_workers,
            stop_after=args.stop_after,
        )
        with hold_run_lock(config.output_dir, prog="wav2vec-hf self-train"):  # one run per folder
            result = run_self_training(config, progress=True)
    except (ValueError, FileNotFoundError, DataValidationError, RunLockError) as error:
        print(f"wav2vec-hf self-train: error: {for_command(error, None)}", file=sys.stderr)
        return 2
    state = "finished" if result.completed else f"stopped after {args.stop_after}"
    print(
        f"self-training {state} in {result.seconds:.0f} s; table: {result.table_path}; model: {result.final_model}"
    )
    return 0
