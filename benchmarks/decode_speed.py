"""LM decoding speed: our CTCBeamSearchDecoder vs pyctcdecode on the same logits, LM, beam and weights.

Both decoders get the same (frames, vocabulary) logits, the same KenLM file and unigram list, the
same beam width, token threshold, prune margin, alpha, beta and unknown-word offset. Each side
decodes the whole set in one process (``--workers N``: in N processes, a pool for each made once and
kept out of the timing); the two take turns, and the best of ``--repeats`` timed runs of each
counts. Ours searches ``--lockstep`` utterances together (pyctcdecode decodes one at a time).
Reported per decoder:
utterances per second, real-time factor (decoding seconds per audio second) and WER; then the
speedup. The last line is one JSON object with everything.

Logits come from a CTC model on labelled audio (``--model DIR --data MANIFEST``) or, by default, are
synthetic emissions of held-out sentences of the built-in corpus grammar (``decoding.synthetic``:
50 frames a second, spiky, a share of the letters confusable), with a 4-gram LM built here from the
grammar's LM text.

    python benchmarks/decode_speed.py                           # synthetic, beam 100, 300 utterances
    python benchmarks/decode_speed.py --beam-width 32 --noise 1.5 --peak 8   # less confident emissions
    python benchmarks/decode_speed.py --model runs/ft --data corpus/dev.tsv  # a real model's outputs
    python benchmarks/decode_speed.py --per-utterance --beam-width 50       # one call per utterance

``--per-utterance`` times what the pipeline and ``decode()`` do: every decoder is called once per
utterance, ours included (``CTCBeamSearchDecoder.decode``), in CPU seconds of this process, and
ctc-beam-decoder (the C++ port of pyctcdecode, dev extra) joins when it is installed. Its JSON has
``mode: "per_utterance"``, ``cpu_ms_per_utterance`` per decoder and
``ratio_to_pyctcdecode`` / ``ratio_to_ctc_beam_decoder`` (their CPU time over ours: above 1 means
ours is faster).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import multiprocessing
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from wav2vec_hf.decoding.alphabet import labels_from_vocabulary
from wav2vec_hf.decoding.decoder import CTCBeamSearchDecoder, DecodeOptions, greedy_decode
from wav2vec_hf.decoding.language_model import FusionWeights, NgramLanguageModel
from wav2vec_hf.decoding.ngram import estimate_kneser_ney, write_arpa
from wav2vec_hf.decoding.parallel import DecoderPool, DecoderSpec
from wav2vec_hf.decoding.synthetic import synthetic_emissions
from wav2vec_hf.error_rates import word_error_rate
from wav2vec_hf.recipes.corpus_text import sentence_stream

FRAME_SECONDS = 0.02  # wav2vec 2.0: 320 samples at 16 kHz
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"


def synthetic_set(args, folder: Path):
    """Labels, LM path, unigrams, logits, references and audio seconds of the synthetic setting."""
    train = list(itertools.islice(sentence_stream(args.seed, "lm"), args.lm_sentences))
    references = list(itertools.islice(sentence_stream(args.seed, "dev", exclude=train), args.utterances))
    model = estimate_kneser_ney(train, args.order)
    lm_path = write_arpa(model, folder / f"{args.order}gram.arpa")
    labels = labels_from_vocabulary(
        {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate(LETTERS)}}
    )
    rng = np.random.default_rng(args.seed)
    logits = [
        synthetic_emissions(t, labels, rng, noise=args.noise, peak=args.peak, ambiguity=args.ambiguity)
        for t in references
    ]
    seconds = [x.shape[0] * FRAME_SECONDS for x in logits]
    return labels, lm_path, model.unigrams(), logits, references, seconds


def model_set(args):
    """The same from a fine-tuned model folder with an attached LM and a labelled data source."""
    from wav2vec_hf.decoding.inference import dataset_logits
    from wav2vec_hf.decoding.lm_text import lm_text_normalizer
    from wav2vec_hf.decoding.processor import CTCProcessorWithLanguageModel

    processor = CTCProcessorWithLanguageModel.from_pretrained(args.model)
    data = dataset_logits(args.model, args.data, max_utterances=args.utterances)
    normalize = lm_text_normalizer(processor.tokenizer.get_vocab()).normalize
    lm = processor.language_model
    return (
        processor.decoder.labels,
        lm.path,
        lm.unigrams,
        data.logits,
        [normalize(r) for r in data.references],
        data.seconds,
    )


def search_settings(args, lm_path, unigrams) -> dict:
    """The search settings both decoders share, for the JSON record."""
    return {
        "beam_width": args.beam_width,
        "token_min_logp": args.token_min_logp,
        "beam_prune_logp": args.beam_prune_logp,
        "alpha": args.alpha,
        "beta": args.beta,
        "unk_score_offset": args.unk_score_offset,
        "lm": Path(lm_path).name,
        "unigrams": len(unigrams),
    }


def best_times(runs, repeats: int):
    """(fastest seconds, last result) of each of ``runs``, called in turn ``repeats`` times.

    Taking turns gives every decoder the same share of a busy machine's load.
    """
    best = [float("inf")] * len(runs)
    results = [None] * len(runs)
    for _ in range(repeats):
        for i, run in enumerate(runs):
            started = time.perf_counter()
            results[i] = run()
            best[i] = min(best[i], time.perf_counter() - started)
    return list(zip(best, results))


def add_set_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that choose the logits a decoder benchmark runs on: a model's, or synthetic ones."""
    parser.add_argument("--model", default=None, help="fine-tuned model folder with an attached LM")
    parser.add_argument("--data", default=None, help="labelled audio for --model")
    parser.add_argument("--order", type=int, default=4, help="synthetic setting: LM order")
    parser.add_argument("--lm-sentences", type=int, default=20_000, help="synthetic setting: LM text size")
    parser.add_argument("--noise", type=float, default=1.0, help="synthetic setting: logit noise")
    parser.add_argument("--peak", type=float, default=12.0, help="synthetic setting: spike height")
    parser.add_argument("--ambiguity", type=float, default=0.25, help="synthetic setting: confusable letters")
    parser.add_argument("--seed", type=int, default=0)


def load_set(args, parser: argparse.ArgumentParser, folder: Path):
    """``(labels, lm_path, unigrams, logits, references, seconds, source)`` of ``add_set_arguments``'s
    choice (the synthetic LM is written into ``folder``)."""
    if args.model:
        if not args.data:
            parser.error("--model needs --data")
        return (*model_set(args), f"model {args.model} on {args.data}")
    source = f"synthetic emissions (noise {args.noise}, peak {args.peak}, ambiguity {args.ambiguity})"
    return (*synthetic_set(args, folder), source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_set_arguments(parser)
    parser.add_argument("--utterances", type=int, default=300)
    parser.add_argument(
        "--beam-width", type=int, default=100, help="both decoders (pyctcdecode's default: 100)"
    )
    parser.add_argument("--token-min-logp", type=float, default=-5.0)
    parser.add_argument("--beam-prune-logp", type=float, default=-10.0)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--beta", type=float, default=1.5)
    parser.add_argument("--unk-score-offset", type=float, default=-10.0)
    parser.add_argument("--workers", type=int, default=1, help="decoding processes for each side")
    parser.add_argument(
        "--lockstep",
        type=int,
        default=DecodeOptions.lockstep_utterances,
        help="our utterances searched together",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--pyctcdecode-utterances", type=int, default=None, help="time pyctcdecode on a prefix"
    )
    parser.add_argument(
        "--engine",
        choices=("auto", "compiled", "numpy"),
        default="auto",
        help="our search: compiled (decoding.compiled), numpy (lockstep), auto (compiled when built)",
    )
    parser.add_argument(
        "--per-utterance", action="store_true", help="one decoder call per utterance (CPU time), all peers"
    )
    args = parser.parse_args()
    logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
    from pyctcdecode import build_ctcdecoder

    with tempfile.TemporaryDirectory() as tmp:
        labels, lm_path, unigrams, logits, references, seconds, source = load_set(args, parser, Path(tmp))
        weights = FusionWeights(args.alpha, args.beta, args.unk_score_offset, True)
        ours = CTCBeamSearchDecoder(
            labels, NgramLanguageModel.from_file(lm_path, unigrams, weights), engine=args.engine
        )
        options = DecodeOptions(
            beam_width=args.beam_width,
            token_min_logp=args.token_min_logp,
            beam_prune_logp=args.beam_prune_logp,
            lockstep_utterances=args.lockstep,
        )
        theirs = build_ctcdecoder(
            labels,
            kenlm_model_path=str(lm_path),
            unigrams=unigrams,
            alpha=args.alpha,
            beta=args.beta,
            unk_score_offset=args.unk_score_offset,
        )
        their_kwargs = dict(
            beam_width=args.beam_width,
            token_min_logp=args.token_min_logp,
            beam_prune_logp=args.beam_prune_logp,
        )
        n_theirs = min(len(logits), args.pyctcdecode_utterances or len(logits))
        audio_seconds = float(sum(seconds))

        ours.decode_batch(logits[:10], options)  # import-time and first-call costs out of the timing
        if args.per_utterance:
            per_utterance(
                args, source, labels, lm_path, unigrams, logits, references, seconds, ours, options, theirs
            )
            return
        if args.workers > 1:
            context = multiprocessing.get_context("fork")
            our_pool = DecoderPool(args.workers, "fork")
            spec = DecoderSpec.of(ours)
            our_pool.decode(spec, logits[: 2 * args.workers], options)  # workers build their decoders
            their_pool = context.Pool(args.workers)

            def run_ours():
                return [h[0].text for h in our_pool.decode(spec, logits, options)]

            def run_theirs():
                beams = theirs.decode_beams_batch(their_pool, logits[:n_theirs], **their_kwargs)
                return [b[0][0] for b in beams]
        else:

            def run_ours():
                return [h[0].text for h in ours.decode_batch(logits, options)]

            def run_theirs():
                return [theirs.decode(x, **their_kwargs) for x in logits[:n_theirs]]

        (our_seconds, our_texts), (their_seconds, their_texts) = best_times(
            [run_ours, run_theirs], args.repeats
        )
        if args.workers > 1:
            our_pool.close()
            their_pool.close()

    their_audio = float(sum(seconds[:n_theirs]))
    ours_ups = len(logits) / our_seconds
    theirs_ups = n_theirs / their_seconds
    result = {
        "benchmark": "decode_speed",
        "source": source,
        "utterances": len(logits),
        "audio_seconds": round(audio_seconds, 2),
        "settings": {
            **search_settings(args, lm_path, unigrams),
            "workers": args.workers,
            "lockstep_utterances": args.lockstep,
            "engine": ours.engine,
        },
        "ours": {
            "utterances_per_second": round(ours_ups, 2),
            "rtf": our_seconds / audio_seconds,
            "wer": word_error_rate(references, our_texts),
        },
        "pyctcdecode": {
            "utterances_per_second": round(theirs_ups, 2),
            "rtf": their_seconds / their_audio,
            "wer": word_error_rate(references[:n_theirs], their_texts),
            "utterances_timed": n_theirs,
        },
        "greedy_wer": word_error_rate(references, [greedy_decode(x, labels) for x in logits]),
        "same_transcript_fraction": float(np.mean([a == b for a, b in zip(our_texts, their_texts)])),
        "speedup": round(ours_ups / theirs_ups, 2),
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
    }
    ours_wer_on_theirs = word_error_rate(references[:n_theirs], our_texts[:n_theirs])
    result["ours"]["wer_on_pyctcdecode_subset"] = ours_wer_on_theirs
    print(f"source: {source}; {len(logits)} utterances, {audio_seconds / 60:.1f} min of audio")
    print(
        f"ours        {ours_ups:9.1f} utt/s  RTF {result['ours']['rtf']:.5f}  WER {100 * result['ours']['wer']:.2f}%"
    )
    print(
        f"pyctcdecode {theirs_ups:9.1f} utt/s  RTF {result['pyctcdecode']['rtf']:.5f}  "
        f"WER {100 * result['pyctcdecode']['wer']:.2f}% (ours on the same utterances: {100 * ours_wer_on_theirs:.2f}%)"
    )
    print(f"speedup {result['speedup']:.2f}x; greedy WER {100 * result['greedy_wer']:.2f}%")
    print(json.dumps(result))


def per_utterance(
    args, source, labels, lm_path, unigrams, logits, references, seconds, ours, options, theirs
):
    """Each decoder called once per utterance, in turns, best of ``--repeats`` in CPU seconds."""
    their_kwargs = dict(
        beam_width=args.beam_width, token_min_logp=args.token_min_logp, beam_prune_logp=args.beam_prune_logp
    )
    decoders = {
        "ours": lambda x: ours.decode(x, options)[0].text,
        "pyctcdecode": lambda x: theirs.decode(x, **their_kwargs),
    }
    try:
        import ctc_beam_decoder
    except ImportError:
        missing = "ctc-beam-decoder is not installed (pip install ctc-beam-decoder==0.2.0)"
    else:
        missing = None
        cpp = ctc_beam_decoder.build_ctcdecoder(
            labels,
            kenlm_model_path=str(lm_path),
            unigrams=unigrams,
            alpha=args.alpha,
            beta=args.beta,
            unk_score_offset=args.unk_score_offset,
        )
        decoders["ctc_beam_decoder"] = lambda x: cpp.decode(x, **their_kwargs)
    for decode in decoders.values():
        decode(logits[0])  # first-call costs out of the timing
    best = {name: float("inf") for name in decoders}
    texts: dict[str, list[str]] = {}
    for _ in range(args.repeats):
        for name, decode in decoders.items():
            started = time.process_time()
            texts[name] = [decode(x) for x in logits]
            best[name] = min(best[name], time.process_time() - started)
    result = {
        "benchmark": "decode_speed",
        "mode": "per_utterance",
        "source": source,
        "utterances": len(logits),
        "audio_seconds": round(float(sum(seconds)), 2),
        "settings": search_settings(args, lm_path, unigrams),
        "cpu_ms_per_utterance": {name: round(1000 * t / len(logits), 3) for name, t in best.items()},
        "wer": {name: word_error_rate(references, out) for name, out in texts.items()},
        "ratio_to_pyctcdecode": round(best["pyctcdecode"] / best["ours"], 3),
        "ratio_to_ctc_beam_decoder": (
            round(best["ctc_beam_decoder"] / best["ours"], 3) if "ctc_beam_decoder" in best else None
        ),
        "ctc_beam_decoder": missing or "installed",
        "greedy_wer": word_error_rate(references, [greedy_decode(x, labels) for x in logits]),
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
    }
    print(f"source: {source}; {len(logits)} utterances, one decoder call each (CPU ms per utterance)")
    for name in decoders:
        ms, wer = result["cpu_ms_per_utterance"][name], result["wer"][name]
        print(f"{name:17s} {ms:9.3f} ms  WER {100 * wer:.2f}%")
    print(
        f"ours vs pyctcdecode {result['ratio_to_pyctcdecode']:.2f}x; vs ctc-beam-decoder "
        f"{result['ratio_to_ctc_beam_decoder'] if result['ratio_to_ctc_beam_decoder'] else missing}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
