"""``wav2vec-hf transcribe --model DIR FILES...`` (or ``transcribe DIR FILES...``): transcripts of audio
files from a fine-tuned CTC folder."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    """Add the ``transcribe`` sub-command."""
    parser = subparsers.add_parser(
        "transcribe",
        help="transcribe audio files with a fine-tuned CTC model (any wav2vec generation)",
        description="Print one 'path<TAB>transcript' line per file (in input order), with a progress bar "
        "on stderr; optionally write a TSV and/or JSON lines with word or character timestamps.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--model", default=None, help="fine-tuned model folder (model + processor); or the first argument"
    )
    parser.add_argument(
        "files",
        nargs="*",
        metavar="[MODEL] FILE",
        help="audio files (any rate, mono or multi-channel), after the model folder when --model is not given",
    )
    parser.add_argument("--file-list", help="a text file with one audio path per line (added to FILES)")
    parser.add_argument("--batch-size", type=int, default=1, help="files per forward pass")
    parser.add_argument(
        "--chunk-length-s", type=float, default=0.0, help="chunk long audio (seconds; 0: off)"
    )
    parser.add_argument(
        "--stride-length-s", type=float, default=None, help="chunk overlap each side (default: chunk/6)"
    )
    parser.add_argument(
        "--timestamps", choices=["word", "char"], default=None, help="timestamps in TSV / JSONL"
    )
    parser.add_argument("--tsv", help="write a TSV here (with --timestamps: one row per word/char)")
    parser.add_argument("--jsonl", help="write JSON lines here (text and timestamps per file)")
    parser.add_argument("--device", default=None, help="torch device, e.g. cuda:0 (default: CPU)")
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="report files that cannot be read or transcribed and go on (counted; the others keep their output)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def model_and_files(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """``(model folder, audio files)``: ``--model`` and every positional argument, or, without
    ``--model``, the first positional argument (the older ``transcribe DIR FILES`` form) and the rest."""
    positional = list(args.files)
    if args.model is not None:
        return args.model, positional
    return (positional[0], positional[1:]) if positional else (None, [])


def run(args: argparse.Namespace) -> int:
    """Transcribe the files; returns 0, 1 when some files were skipped, 2 on bad arguments or input.

    ``--tsv`` / ``--jsonl`` are written for every file transcribed, also when a bad file stops the
    run (without ``--skip-bad``). Warnings (truncated files, automatic chunking) go to stderr.
    """
    from wav2vec_hf.cli_messages import for_command
    from wav2vec_hf.data.audio import AudioError
    from wav2vec_hf.inference.transcribe import read_file_list, transcribe_files, write_jsonl, write_tsv

    model, files = model_and_files(args)
    if model is None:
        print(
            "wav2vec-hf transcribe: error: no model: give --model DIR (or DIR before the files)",
            file=sys.stderr,
        )
        return 2
    files += read_file_list(args.file_list) if args.file_list else []
    if not files:
        print("wav2vec-hf transcribe: error: no input files (give FILES or --file-list)", file=sys.stderr)
        return 2
    if (args.tsv or args.jsonl) is None and args.timestamps:
        print("note: --timestamps only changes the --tsv / --jsonl output", file=sys.stderr)
    results = []
    stopped = None
    try:
        for transcript in transcribe_files(
            model,
            files,
            batch_size=args.batch_size,
            chunk_length_s=args.chunk_length_s,
            stride_length_s=args.stride_length_s,
            timestamps=args.timestamps,
            device=args.device,
            skip_bad=args.skip_bad,
            progress=not args.no_progress,
        ):
            results.append(transcript)
            if transcript.error is None:
                print(f"{transcript.path}\t{transcript.text}", flush=True)
            if transcript.warning is not None:
                print(f"warning: {transcript.warning}", file=sys.stderr)
    except (AudioError, OSError, ValueError) as error:
        stopped = error
    # Written also when a bad file stopped the run: every transcript made before it is kept.
    if args.tsv:
        write_tsv(results, args.tsv, with_timestamps=bool(args.timestamps))
    if args.jsonl:
        write_jsonl(results, args.jsonl)
    if stopped is not None:
        print(f"wav2vec-hf transcribe: error: {for_command(stopped, '--skip_bad')}", file=sys.stderr)
        return 2
    failed = [t for t in results if t.error is not None]
    if failed:
        print(f"{len(failed)} of {len(results)} files could not be transcribed:", file=sys.stderr)
        for transcript in failed:
            print(f"  {transcript.error}", file=sys.stderr)
        return 1
    return 0
