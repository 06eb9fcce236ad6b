"""``wav2vec-hf tune-lm``: search the LM weights (alpha, beta) of a model's processor on a dev set."""

from __future__ import annotations

import argparse
import sys


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated numbers") from error


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``tune-lm``."""
    parser.add_argument("--model", required=True, help="fine-tuned model folder with an attached LM")
    parser.add_argument(
        "--eval", required=True, help="labelled dev data: fairseq manifest, transcript table or audio folder"
    )
    parser.add_argument("--alphas", type=_floats, default=None, help="LM weights to try, e.g. 0,0.5,1,1.5")
    parser.add_argument("--betas", type=_floats, default=None, help="word bonuses to try, e.g. -1,0,1,2")
    parser.add_argument(
        "--search",
        choices=("grid", "refine"),
        default="refine",
        help="full grid, or grid then zoom on the best",
    )
    parser.add_argument("--beam-width", type=int, default=32, help="beam width while tuning")
    parser.add_argument("--workers", type=int, default=1, help="decoding processes")
    parser.add_argument(
        "--max-utterances", type=int, default=None, help="use only the first N dev utterances"
    )
    parser.add_argument("--device", default="cpu", help="torch device for computing the logits")
    parser.add_argument("--dry-run", action="store_true", help="print the results, do not write attrs.json")
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tune-lm`` sub-command."""
    parser = subparsers.add_parser(
        "tune-lm",
        help="tune the LM weight alpha and word bonus beta on a dev set; writes the best into the model",
        description="Compute the model's logits on the dev set once, decode it for a grid of (alpha, beta) "
        "(optionally refined around the best), print the WER surface, and store the best weights in "
        "language_model/attrs.json.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Tune and report; returns the exit code."""
    from wav2vec_hf.cli_messages import for_command
    from wav2vec_hf.decoding.alphabet import AlphabetError
    from wav2vec_hf.decoding.decoder import DecodingError
    from wav2vec_hf.decoding.inference import load_model, logits_of
    from wav2vec_hf.decoding.language_model import LanguageModelError
    from wav2vec_hf.decoding.processor import CTCProcessorWithLanguageModel, write_fusion_weights
    from wav2vec_hf.decoding.scoring import greedy_transcripts, model_references, tune_lm_on_logits
    from wav2vec_hf.decoding.tuning import DEFAULT_ALPHAS, DEFAULT_BETAS
    from wav2vec_hf.error_rates import word_error_rate
    from wav2vec_hf.model_folders import check_model_source

    try:
        check_model_source(args.model, "--model")  # a missing folder or damaged weights, named first
        processor = CTCProcessorWithLanguageModel.from_pretrained(args.model)
        model = load_model(args.model, args.device)
        data = logits_of(
            model, processor.feature_extractor, args.eval, max_utterances=args.max_utterances, progress=True
        )
    except (ValueError, FileNotFoundError, OSError, LanguageModelError, AlphabetError) as error:
        print(f"wav2vec-hf tune-lm: error: {for_command(error, None)}", file=sys.stderr)
        return 2
    references = model_references(data.references, args.model, processor.tokenizer.get_vocab())
    greedy = word_error_rate(references, greedy_transcripts(data.logits, processor.decoder.labels))
    current = processor.language_model.weights
    print(
        f"{len(references)} utterances, {sum(data.seconds) / 60:.1f} min; greedy WER {100 * greedy:.2f}%; "
        f"current alpha={current.alpha} beta={current.beta}"
    )

    with processor:
        try:
            result = tune_lm_on_logits(
                processor,
                data.logits,
                references,
                beam_width=args.beam_width,
                alphas=args.alphas or DEFAULT_ALPHAS,
                betas=args.betas or DEFAULT_BETAS,
                search=args.search,
                num_processes=args.workers,
                progress=True,  # a bar with the best point so far; the surface below lists every point
            )
        except (ValueError, DecodingError) as error:
            print(f"wav2vec-hf tune-lm: error: {error}", file=sys.stderr)
            return 2
    print(result.surface())
    alpha, beta, wer = result.best
    print(f"best: alpha={alpha:g} beta={beta:g} WER {100 * wer:.2f}% (greedy {100 * greedy:.2f}%)")
    if args.dry_run:
        print("dry run: attrs.json unchanged")
    else:
        write_fusion_weights(args.model, alpha=alpha, beta=beta)
        print(f"wrote alpha={alpha:g} beta={beta:g} to {args.model}/language_model/attrs.json")
    return 0
