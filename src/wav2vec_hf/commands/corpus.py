"""``wav2vec-hf corpus``: synthesise the built-in English speech corpus (eSpeak NG, offline)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    """Add the ``corpus`` sub-command."""
    parser = subparsers.add_parser(
        "corpus",
        help="synthesise the built-in labelled English speech corpus (offline, deterministic)",
        description=(
            "Synthesise a small labelled English speech corpus with eSpeak NG: unlabeled / labeled / dev / "
            "test splits as 16 kHz wavs with fairseq manifests (.tsv, .wrd, .ltr), transcript tables, LM "
            "text and corpus.json. Dev and test speakers never occur in the training splits. The same "
            "arguments always give byte-identical files."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--output_dir",
        "--out",
        required=True,
        help="output folder (created; built next to it, then renamed)",
    )
    parser.add_argument("--unlabeled-minutes", type=float, default=20.0, help="audio for pretraining")
    parser.add_argument("--labeled-minutes", type=float, default=3.0, help="labelled fine-tuning audio")
    parser.add_argument(
        "--dev-minutes", type=float, default=2.0, help="development audio (held-out speakers)"
    )
    parser.add_argument("--test-minutes", type=float, default=2.0, help="test audio (held-out speakers)")
    parser.add_argument("--lm-sentences", type=int, default=20_000, help="sentences in lm_text.txt")
    parser.add_argument(
        "--seed", type=int, default=0, help="decides sentences, speakers per utterance, prosody"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="synthesis processes (default: usable CPU cores)"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a different corpus already in --out"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build (or reuse) the corpus and print what it holds."""
    from wav2vec_hf.recipes.corpus import build_corpus

    try:
        corpus = build_corpus(
            args.output_dir,
            unlabeled_minutes=args.unlabeled_minutes,
            labeled_minutes=args.labeled_minutes,
            dev_minutes=args.dev_minutes,
            test_minutes=args.test_minutes,
            seed=args.seed,
            num_workers=args.workers,
            lm_sentences=args.lm_sentences,
            overwrite=args.overwrite,
            progress=not args.no_progress,
        )
    except (ValueError, FileExistsError) as error:  # bad arguments: a message, not a traceback
        print(f"wav2vec-hf corpus: error: {error}", file=sys.stderr)
        return 2
    print(corpus.summary())
    return 0
