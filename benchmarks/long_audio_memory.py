"""Peak memory (RSS) of transcribing one long file, with and without the LM (issue 17, item 7).

Every scenario runs in a fresh Python process that reports its own peak RSS (``VmHWM`` of
``/proc/self/status``; ``ru_maxrss`` would carry the parent's peak across ``exec``):

* ``greedy``: ``wav2vec-hf transcribe``'s path (``inference.transcribe.transcribe_files``) on a
  ``--minutes``-long WAV (16 kHz noise plus a wobbling tone), chunked (``--chunk``, default 20 s),
  with a tiny random wav2vec 2.0 CTC model (0.03M parameters, the decoding tests' model);
* ``lm``: the same with a 3-gram LM of the built-in corpus grammar attached (pyctcdecode, as
  ``pipeline("automatic-speech-recognition")`` loads it);
* ``lm-dense-whole`` / ``lm-dense-segmented``: the random model emits few words, so these two give
  the LM decoder what a trained model emits instead: synthetic CTC emissions of grammar sentences
  (``decoding.synthetic``: about 2.5 words a second), ``--minutes`` long, decoded by pyctcdecode in
  one call (the behaviour before issue 17) or by ``SegmentedBeamSearch`` (60 s segments, the
  pipeline's default now);
* ``unchunked``: the pipeline without ``chunk_length_s``: refused on CPU above 5 minutes (measured
  to show the refusal is immediate); ``transcribe`` chunks such files itself.

    python benchmarks/long_audio_memory.py --minutes 30 --out /tmp/long-audio   # about 10 minutes on 2 cores

Results (also written as JSON with ``--json``) go into docs/reliability.md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SCENARIOS = ("greedy", "lm", "lm-dense-whole", "lm-dense-segmented", "unchunked")
VOCAB = {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ'")}}


def prepare(out: Path, minutes: float) -> None:
    """The model folders (with and without LM) and the long WAV, once."""
    import soundfile as sf
    import torch
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    from wav2vec_hf.decoding.language_model import FusionWeights
    from wav2vec_hf.decoding.ngram import estimate_kneser_ney, write_arpa
    from wav2vec_hf.decoding.processor import attach_language_model
    from wav2vec_hf.recipes.corpus_text import sentence_stream

    out.mkdir(parents=True, exist_ok=True)
    audio = out / f"long-{minutes:g}min.wav"
    if not audio.is_file():
        rng = np.random.default_rng(0)
        n = int(16000 * 60 * minutes)
        t = np.arange(n) / 16000
        x = 0.1 * rng.standard_normal(n) + 0.2 * np.sin(2 * np.pi * 220 * t * (1 + 0.1 * np.sin(np.pi * t)))
        sf.write(audio, x.astype(np.float32), 16000, subtype="PCM_16")
    for name in ("model", "model-lm"):
        folder = out / name
        if (folder / "config.json").is_file():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "vocab.json").write_text(json.dumps(VOCAB), encoding="utf-8")
        tokenizer = Wav2Vec2CTCTokenizer(str(folder / "vocab.json"), bos_token=None, eos_token=None)
        extractor = Wav2Vec2FeatureExtractor(return_attention_mask=True)
        Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(str(folder))
        config = Wav2Vec2Config(
            vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=64, conv_dim=(16, 16, 16), conv_stride=(10, 8, 4), conv_kernel=(10, 8, 4),
            num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, pad_token_id=0,
        )  # fmt: skip
        torch.manual_seed(0)
        model = Wav2Vec2ForCTC(config)
        with torch.no_grad():
            model.lm_head.weight *= 20.0
            model.lm_head.bias[0] = 8.0
        model.save_pretrained(str(folder))
        if name == "model-lm":
            lm_dir = out / "lm"
            lm_dir.mkdir(exist_ok=True)
            lm = estimate_kneser_ney(list(itertools.islice(sentence_stream(0, "lm"), 3000)), 3)
            write_arpa(lm, lm_dir / "3gram.arpa")
            (lm_dir / "unigrams.txt").write_text("".join(w + "\n" for w in lm.unigrams()), encoding="utf-8")
            attach_language_model(folder, lm_dir, weights=FusionWeights(alpha=0.6, beta=1.2))


def peak_rss_mb() -> float:
    """This process's peak resident memory (MB) since it started (``VmHWM``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def dense_logits(minutes: float, seed: int = 0) -> tuple[np.ndarray, str]:
    """Synthetic emissions of grammar sentences, at least ``minutes`` long at 50 frames a second, and their text.

    Sentences are separated by a pause: blank frames around one word delimiter frame.
    """
    from wav2vec_hf.decoding.alphabet import labels_from_vocabulary
    from wav2vec_hf.decoding.synthetic import synthetic_emissions
    from wav2vec_hf.recipes.corpus_text import sentence_stream

    labels = labels_from_vocabulary(VOCAB)
    rng = np.random.default_rng(seed)
    target = int(minutes * 60 * 50)
    pieces, frames, sentences = [], 0, []
    for sentence in sentence_stream(seed, "dev"):
        pieces.append(synthetic_emissions(sentence, labels, rng))
        pause = np.full((int(rng.integers(10, 30)), len(labels)), -20.0, dtype=np.float32)
        pause[:, 0] = 0.0
        pause[len(pause) // 2] = np.roll(pause[len(pause) // 2], 2)  # the word delimiter (id 2)
        pieces.append(pause)
        sentences.append(sentence)
        frames += len(pieces[-2]) + len(pause)
        if frames >= target:
            break
    return np.concatenate(pieces), " ".join(sentences)  # whole sentences: a little over ``minutes``


def run_scenario(scenario: str, out: Path, minutes: float, chunk: float) -> dict:
    """One scenario in this process; returns its measurements."""
    audio = out / f"long-{minutes:g}min.wav"
    started = time.perf_counter()
    result: dict = {"scenario": scenario, "minutes": minutes}
    if scenario in ("greedy", "lm"):
        from wav2vec_hf.inference.transcribe import transcribe_files

        folder = out / ("model-lm" if scenario == "lm" else "model")
        (transcript,) = list(transcribe_files(folder, [audio], chunk_length_s=chunk, progress=False))
        result.update(chunk_s=chunk, words=len(transcript.text.split()))
    elif scenario.startswith("lm-dense"):
        from transformers import pipeline

        from wav2vec_hf.inference.pipeline import (
            SegmentedBeamSearch,  # (imports wav2vec_hf: registers the pipeline)
        )

        asr = pipeline("automatic-speech-recognition", model=str(out / "model-lm"))
        from wav2vec_hf.error_rates import word_error_rate

        logits, reference = dense_logits(minutes)
        decoder = asr.decoder
        if scenario.endswith("segmented"):
            decoder = SegmentedBeamSearch(
                decoder, max_frames=round(asr.lm_segment_seconds * 50), blank_id=0, delimiter_id=2
            )
        result["rss_before_decode_mb"] = peak_rss_mb()
        decode_started = time.perf_counter()
        text = decoder.decode_beams(logits)[0][0]
        result.update(
            frames=int(logits.shape[0]),
            words=len(text.split()),
            decode_s=time.perf_counter() - decode_started,
        )
        result["wer_vs_reference"] = word_error_rate([reference], [text])
    elif scenario == "unchunked":
        from transformers import pipeline

        import wav2vec_hf  # noqa: F401

        asr = pipeline("automatic-speech-recognition", model=str(out / "model"))
        try:
            asr(str(audio))
            result["refused"] = False
        except ValueError as error:
            result.update(refused=True, message=str(error))
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = peak_rss_mb()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/long-audio"))
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument(
        "--chunk", type=float, default=20.0, help="chunk_length_s of the transcribe scenarios"
    )
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_scenario(args.child, args.out, args.minutes, args.chunk)))
        return
    prepare(args.out, args.minutes)
    results = []
    for scenario in args.scenarios:
        command = [sys.executable, __file__, "--child", scenario, "--out", str(args.out),
                   "--minutes", str(args.minutes), "--chunk", str(args.chunk)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
