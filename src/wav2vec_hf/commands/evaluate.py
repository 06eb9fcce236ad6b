"""``wav2vec-hf evaluate``: WER and CER of a fine-tuned CTC model on labelled sets, greedy and with its LM."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from wav2vec_hf.json_files import write_json


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of ``evaluate``."""
    parser.add_argument("--model", required=True, help="fine-tuned CTC model folder (model + processor)")
    parser.add_argument(
        "--eval",
        "--data",
        required=True,
        nargs="+",
        help="labelled sets: fairseq manifests, transcript tables or audio folders (one row each)",
    )
    parser.add_argument(
        "--no-lm",
        action="store_true",
        help="greedy only, even when the model has an attached LM (language_model/)",
    )
    parser.add_argument("--beam-width", type=int, default=32, help="beam width of the LM decoding")
    parser.add_argument("--device", default="cpu", help="torch device for computing the logits")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` sub-command."""
    parser = subparsers.add_parser(
        "evaluate",
        help="WER / CER of a fine-tuned CTC model on labelled data, greedy and with its attached LM",
        description="Run the model on each labelled set and print word and character error rates of greedy "
        "decoding and, when the model folder has an attached LM (build-lm --attach, tuned by tune-lm), of "
        "beam search with the LM at its stored weights. Transcripts are normalised like the model's "
        "vocabulary.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def evaluate_sets(
    model_dir: str,
    data: list[str],
    *,
    use_lm: bool = True,
    beam_width: int = 32,
    device: str = "cpu",
    progress: bool = False,
) -> dict:
    """Error rates of ``model_dir`` on each set of ``data`` (the model is loaded once for all sets).

    References are normalised as every score of the model normalises them
    (``scoring.model_references``: its saved ``text_normalizer.json``, else its vocabulary's rules);
    the LM, when the folder has one and ``use_lm``, decodes at its stored weights. ``progress``: bars
    for the logits and the beam search of each set on stderr (only when stderr is a terminal).

    Reference characters the vocabulary cannot write are counted per set, as fine-tuning counts them
    (``unknown_characters``: the ``UnknownCharacterReport`` as a dict, with its ``summary``), and
    ``run`` prints them with what they do to the score (errors, or lost from the references).

    Returns:
        ``{"model", "lm" (alpha/beta or None), "sets": {data: {"utterances", "minutes", "wer_greedy",
        "cer_greedy", "wer_lm", "cer_lm", "unknown_characters"}}}``; the ``_lm`` values are ``None``
        without an LM.
    """
    from transformers import AutoFeatureExtractor, Wav2Vec2CTCTokenizer

    from wav2vec_hf.decoding.alphabet import labels_from_vocabulary
    from wav2vec_hf.decoding.inference import load_model, logits_of
    from wav2vec_hf.decoding.language_model import LANGUAGE_MODEL_FOLDER
    from wav2vec_hf.decoding.processor import CTCProcessorWithLanguageModel
    from wav2vec_hf.decoding.scoring import greedy_transcripts, model_references, score_logits
    from wav2vec_hf.model_folders import check_model_source

    check_model_source(model_dir)  # a missing folder or damaged weights, named before anything loads
    if use_lm and (Path(model_dir) / LANGUAGE_MODEL_FOLDER).is_dir():
        processor = CTCProcessorWithLanguageModel.from_pretrained(model_dir)
        labels, vocabulary = processor.decoder.labels, processor.tokenizer.get_vocab()
        feature_extractor = processor.feature_extractor
    else:
        processor = None
        vocabulary = Wav2Vec2CTCTokenizer.from_pretrained(model_dir).get_vocab()
        labels = labels_from_vocabulary(vocabulary)
        feature_extractor = AutoFeatureExtractor.from_pretrained(model_dir)
    greedy = partial(greedy_transcripts, labels=labels)
    weights = processor.language_model.weights if processor is not None else None
    model = load_model(model_dir, device)
    result: dict = {
        "model": str(model_dir),
        "lm": {"alpha": weights.alpha, "beta": weights.beta} if weights is not None else None,
        "sets": {},
    }
    for source in data:
        logits = logits_of(model, feature_extractor, source, progress=progress)
        references = model_references(logits.references, model_dir, vocabulary)
        result["sets"][str(source)] = {
            "utterances": len(references),
            "minutes": sum(logits.seconds) / 60,
            **score_logits(
                logits.logits, references, greedy, processor, beam_width=beam_width, progress=progress
            ),
            "unknown_characters": unknown_reference_characters(model_dir, vocabulary, logits, str(source)),
        }
    return result


def unknown_reference_characters(model_dir, vocabulary: dict[str, int], logits, source: str) -> dict:
    """Fine-tuning's unknown-character check of a set's references, as a dict with its ``summary``.

    References go through the normaliser every score uses (``TextNormalizer.for_model``). With the
    model's saved ``text_normalizer.json`` (as in fine-tuning), characters its vocabulary lacks stay
    in the scored references and count as errors; with the rules a vocabulary implies (a converted
    model), the scored references fold them to base letters or lose them, so the report counts
    them before that step.
    """
    from dataclasses import replace

    from wav2vec_hf.data.normalization import TextNormalizer, word_characters
    from wav2vec_hf.finetuning.vocabulary import count_unknown_characters

    scoring = TextNormalizer.for_model(model_dir, vocabulary)
    normalizer = replace(scoring, characters=None)
    pairs = (
        (record.id, normalizer(text))
        for record, text in zip(logits.records, logits.references, strict=True)
        if text is not None
    )
    report = count_unknown_characters(
        pairs,
        word_characters(vocabulary),
        source=source,
        consequence=(
            "they cannot be predicted and count as errors"
            if scoring.characters is None
            else "the scored references write them as base letters the vocabulary has (É -> E) "
            "or lose them, so the error rates do not count them"
        ),
    )
    return {**report.to_dict(), "summary": report.summary() if report.counts else ""}


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def format_table(result: dict) -> str:
    """The results as a Markdown table, one row per set."""
    lines = [
        "| data | utterances | minutes | WER greedy | CER greedy | WER LM | CER LM |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for source, scores in result["sets"].items():
        lines.append(
            f"| {source} | {scores['utterances']} | {scores['minutes']:.1f} | {_percent(scores['wer_greedy'])} "
            f"| {_percent(scores['cer_greedy'])} | {_percent(scores['wer_lm'])} | {_percent(scores['cer_lm'])} |"
        )
    lm = result["lm"]
    lines.append(f"LM: alpha={lm['alpha']:g} beta={lm['beta']:g}" if lm else "LM: none (greedy only)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Evaluate and print; returns the exit code."""
    from wav2vec_hf.cli_messages import for_command
    from wav2vec_hf.decoding.alphabet import AlphabetError
    from wav2vec_hf.decoding.language_model import LanguageModelError

    try:
        result = evaluate_sets(
            args.model,
            args.eval,
            use_lm=not args.no_lm,
            beam_width=args.beam_width,
            device=args.device,
            progress=True,
        )
    except (ValueError, FileNotFoundError, OSError, LanguageModelError, AlphabetError) as error:
        print(f"wav2vec-hf evaluate: error: {for_command(error, None)}", file=sys.stderr)
        return 2
    print(format_table(result))
    for scores in result["sets"].values():
        if scores["unknown_characters"]["summary"]:
            print(scores["unknown_characters"]["summary"], file=sys.stderr)
    if args.json:
        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0
