"""End-to-end transcription throughput: audio files -> CTC logits on the device -> LM beam search on the cores.

Stages, each timed (audio seconds per wall second):

1. ``gpu_forward``: a wav2vec 2.0 CTC model (``--preset``, random weights: only speed is measured)
   on one batch already on the device, ``--dtype`` autocast, no loading;
2. ``logits``: the package's inference path (``decoding.inference.logits_of``: header-planned
   batches, audio loaded with the project's loader, ``decoding.logits.ctc_logits``) over the first
   ``--files`` files of the folder, logits back on the host;
3. ``decode``: the package's beam search with a KenLM n-gram (``decoding.ngram`` builds the ARPA from
   the built-in corpus grammar's LM text) in a ``decoding.parallel.DecoderPool`` of
   ``--decode-workers`` processes (built and warmed before the timing);
4. ``end_to_end``: audio / (stage 2 + stage 3 seconds): transcription done one stage after the other.

Random weights give flat logits, which make a beam search wander (every token passes the
threshold in every frame), so by default the decoder gets stand-ins of the same shape instead: for
each utterance, synthetic emissions (``decoding.synthetic``: spiky, like a trained character model)
of held-out sentences of the grammar, padded with blank frames to exactly the utterance's frame count.
Their references give the WER (greedy and LM), a check that the search works. ``--decode-model-logits``
decodes the random model's own logits instead.

    python benchmarks/ctc_transcribe_throughput.py --device cpu --preset tiny --files 8   # plumbing
    python benchmarks/ctc_transcribe_throughput.py --device cuda --files 512 --json ctc.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from step_timing import autocast, device_name, fast_cuda_math, synchronize, write_json
from synthetic_audio import ensure_audio

SAMPLE_RATE = 16_000
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"
PRESETS = {"base": "wav2vec2-base", "large-lv60": "wav2vec2-large-lv60", "tiny": "wav2vec2-tiny"}
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:7.1f}s] {message}", flush=True)


def stand_in_emissions(frame_counts, labels, seed: int, exclude) -> tuple[list[np.ndarray], list[str]]:
    """Per utterance: synthetic emissions of whole held-out sentences, padded with blank frames to
    the utterance's frame count, and their reference text."""
    from wav2vec_hf.decoding.synthetic import synthetic_emissions
    from wav2vec_hf.recipes.corpus_text import sentence_stream

    rng = np.random.default_rng(seed)
    sentences = sentence_stream(seed, "dev", exclude=exclude)
    emissions, references = [], []
    pending = next(sentences)
    pending_emission = synthetic_emissions(pending, labels, rng)
    for frames in frame_counts:
        parts, texts, used = [], [], 0
        while used + pending_emission.shape[0] <= frames:
            parts.append(pending_emission)
            texts.append(pending)
            used += pending_emission.shape[0]
            pending = next(sentences)
            pending_emission = synthetic_emissions(pending, labels, rng)
        if not parts:  # an utterance shorter than one sentence: a cut sentence, no reference
            parts.append(pending_emission[:frames])
            used = parts[0].shape[0]
            texts = None
            pending = next(sentences)
            pending_emission = synthetic_emissions(pending, labels, rng)
        blank = parts[0][:1]  # synthetic emissions start with a blank frame
        parts.append(np.repeat(blank, frames - used, axis=0))
        emissions.append(np.concatenate(parts).astype(np.float32))
        references.append(None if texts is None else " ".join(texts))
    return emissions, references


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None, help="base on cuda, tiny on cpu")
    parser.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default=None)
    parser.add_argument("--data-dir", default=None, help="audio folder (written when missing)")
    parser.add_argument("--files", type=int, default=None, help="utterances transcribed (the folder's first)")
    parser.add_argument(
        "--folder-files", type=int, default=None, help="files to write when the folder is missing"
    )
    parser.add_argument("--file-seconds", type=float, default=20.0)
    parser.add_argument("--batch-size", type=int, default=None, help="utterances per forward pass")
    parser.add_argument("--forward-steps", type=int, default=None, help="timed passes of stage 1")
    parser.add_argument("--decode-workers", type=int, default=None, help="default: every core")
    parser.add_argument("--beam-width", type=int, default=None, help="100 on cuda runs, 16 on cpu")
    parser.add_argument("--lm-order", type=int, default=4)
    parser.add_argument("--lm-sentences", type=int, default=None)
    parser.add_argument("--alpha", type=float, default=0.5)
    parser.add_argument("--beta", type=float, default=1.5)
    parser.add_argument("--decode-model-logits", action="store_true", help="decode the random model's logits")
    parser.add_argument("--json", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cuda = args.device == "cuda"
    args.preset = args.preset or ("base" if cuda else "tiny")
    args.dtype = args.dtype or ("bf16" if cuda else "fp32")
    args.files = args.files or (512 if cuda else 8)
    args.batch_size = args.batch_size or (16 if cuda else 2)
    args.forward_steps = args.forward_steps or (20 if cuda else 2)
    cores = len(os.sched_getaffinity(0))
    args.decode_workers = args.decode_workers or cores
    args.beam_width = args.beam_width or (100 if cuda else 16)
    args.lm_sentences = args.lm_sentences or (20_000 if cuda else 2_000)
    folder = Path(args.data_dir or f"/tmp/wav2vec_hf_bench/audio_{args.files}x{args.file_seconds:g}s")
    if cuda:
        fast_cuda_math()

    import transformers
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2ForCTC

    from wav2vec_hf.data import open_audio_source
    from wav2vec_hf.decoding.alphabet import labels_from_vocabulary
    from wav2vec_hf.decoding.decoder import CTCBeamSearchDecoder, DecodeOptions, greedy_decode
    from wav2vec_hf.decoding.inference import logits_of
    from wav2vec_hf.decoding.language_model import FusionWeights, NgramLanguageModel
    from wav2vec_hf.decoding.ngram import estimate_kneser_ney, write_arpa
    from wav2vec_hf.decoding.parallel import DecoderPool, DecoderSpec
    from wav2vec_hf.error_rates import word_error_rate
    from wav2vec_hf.presets import get_preset
    from wav2vec_hf.recipes.corpus_text import sentence_stream

    json_path = Path(args.json) if args.json else None
    record = {
        "benchmark": "ctc_transcribe_throughput",
        "device": device_name(cuda),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cpu_cores": cores,
        "config": {
            "preset": args.preset,
            "dtype": args.dtype,
            "files": args.files,
            "batch_size": args.batch_size,
            "decode_workers": args.decode_workers,
            "beam_width": args.beam_width,
            "lm_order": args.lm_order,
            "lm_sentences": args.lm_sentences,
            "alpha": args.alpha,
            "beta": args.beta,
            "decoded": "model logits" if args.decode_model_logits else "synthetic stand-in emissions",
        },
        "stages": {},
    }
    stages = record["stages"]

    # Audio (reused when parts 1/2 wrote the folder), the LM and the decoder pool: not timed stages.
    present = sorted(folder.glob("utt*.*")) if folder.is_dir() else []
    if len(present) < args.files:
        record["data"] = ensure_audio(
            folder, args.folder_files or args.files, args.file_seconds, workers=cores
        )
    audio = open_audio_source(str(folder)).subset(list(range(args.files)))
    record["audio_seconds"] = total_audio = float(sum(r.duration for r in audio.records))
    log(f"{args.files} utterances, {total_audio / 3600:.2f} h of audio in {folder}")

    started = time.perf_counter()
    train = list(itertools.islice(sentence_stream(args.seed, "lm"), args.lm_sentences))
    lm_model = estimate_kneser_ney(train, args.lm_order)
    lm_dir = tempfile.TemporaryDirectory(prefix="ctc_lm_")
    lm_path = write_arpa(lm_model, Path(lm_dir.name) / f"{args.lm_order}gram.arpa")
    unigrams = lm_model.unigrams()
    record["lm"] = {
        "build_seconds": time.perf_counter() - started,
        "unigrams": len(unigrams),
        "arpa_bytes": lm_path.stat().st_size,
    }
    log(f"LM built ({record['lm']['build_seconds']:.1f} s, {len(unigrams)} words)")

    vocabulary = {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate(LETTERS)}}
    labels = labels_from_vocabulary(vocabulary)
    weights = FusionWeights(args.alpha, args.beta, -10.0, True)
    decoder = CTCBeamSearchDecoder(labels, NgramLanguageModel.from_file(lm_path, unigrams, weights))
    spec = DecoderSpec.of(decoder)
    options = DecodeOptions(beam_width=args.beam_width)
    pool = DecoderPool(args.decode_workers, "fork")

    config = get_preset(PRESETS[args.preset])
    config.vocab_size = len(vocabulary)
    config.pad_token_id = 0
    config._attn_implementation = "sdpa"
    torch.manual_seed(args.seed)
    model = Wav2Vec2ForCTC(config).to(args.device).eval()
    record["config"]["parameters"] = sum(p.numel() for p in model.parameters())
    feature_extractor = Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=SAMPLE_RATE,
        padding_value=0.0,
        do_normalize=config.feat_extract_norm == "layer",
    )
    try:
        # 1. The model alone on one batch on the device.
        samples = round(args.file_seconds * SAMPLE_RATE)
        batch = torch.randn(args.batch_size, samples, generator=torch.Generator().manual_seed(0)).to(
            args.device
        )
        with torch.inference_mode(), autocast(args.device, args.dtype):
            for _ in range(2):
                model(batch)
            synchronize(args.device)
            started = time.perf_counter()
            for _ in range(args.forward_steps):
                model(batch).logits.float()
            synchronize(args.device)
            seconds = time.perf_counter() - started
        stages["gpu_forward"] = {
            "audio_seconds_per_second": args.forward_steps * args.batch_size * args.file_seconds / seconds,
            "seconds_per_batch": seconds / args.forward_steps,
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
        }
        log(f"gpu_forward: {stages['gpu_forward']['audio_seconds_per_second']:,.0f} audio-s/s")
        write_json(json_path, record)

        # 2. Files -> logits on the host, through the package's inference path.
        started = time.perf_counter()
        with autocast(args.device, args.dtype):
            logits = logits_of(
                model,
                feature_extractor,
                audio,
                labelled_only=False,
                batch_seconds=args.batch_size * args.file_seconds + 1e-3,
            )
        synchronize(args.device)
        logits_seconds = time.perf_counter() - started
        stages["logits"] = {
            "audio_seconds_per_second": total_audio / logits_seconds,
            "seconds": logits_seconds,
            "frames_per_utterance": float(np.mean([x.shape[0] for x in logits.logits])),
        }
        log(f"logits: {stages['logits']['audio_seconds_per_second']:,.0f} audio-s/s ({logits_seconds:.1f} s)")
        write_json(json_path, record)

        # 3. LM beam search across the cores.
        frame_counts = [x.shape[0] for x in logits.logits]
        if args.decode_model_logits:
            emissions, references = [x.astype(np.float32) for x in logits.logits], None
        else:
            emissions, references = stand_in_emissions(frame_counts, labels, args.seed, train)
        pool.decode(spec, emissions[: 2 * args.decode_workers], options)  # workers load the LM once
        started = time.perf_counter()
        hypotheses = pool.decode(spec, emissions, options)
        decode_seconds = time.perf_counter() - started
        texts = [h[0].text for h in hypotheses]
        stages["decode"] = {
            "audio_seconds_per_second": total_audio / decode_seconds,
            "seconds": decode_seconds,
            "rtf_per_process": decode_seconds * args.decode_workers / total_audio,
        }
        scored = [i for i, r in enumerate(references or []) if r is not None]
        if scored:  # a check that the search works (stand-ins only)
            stages["decode"]["wer_lm"] = word_error_rate(
                [references[i] for i in scored], [texts[i] for i in scored]
            )
            stages["decode"]["wer_greedy"] = word_error_rate(
                [references[i] for i in scored], [greedy_decode(emissions[i], labels) for i in scored]
            )
            stages["decode"]["wer_utterances"] = len(scored)
        log(f"decode: {stages['decode']['audio_seconds_per_second']:,.0f} audio-s/s ({decode_seconds:.1f} s)")

        # 4. One stage after the other.
        stages["end_to_end"] = {
            "audio_seconds_per_second": total_audio / (logits_seconds + decode_seconds),
            "seconds": logits_seconds + decode_seconds,
            "note": "logits then decoding, not overlapped",
        }
        record["transcription_audio_seconds_per_second"] = stages["end_to_end"]["audio_seconds_per_second"]
    finally:
        pool.close()
        lm_dir.cleanup()
        record["wall_seconds"] = time.monotonic() - STARTED
        write_json(json_path, record)
    for name, stage in stages.items():
        print(f"{name:12s} {stage['audio_seconds_per_second']:12,.1f} audio-s/s")
    print(
        json.dumps(
            {
                "transcription_audio_seconds_per_second": record.get(
                    "transcription_audio_seconds_per_second"
                ),
                "json": args.json,
            }
        )
    )


if __name__ == "__main__":
    main()
