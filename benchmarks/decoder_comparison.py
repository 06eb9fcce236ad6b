"""Every CTC + n-gram LM decoder on the same logits, in one run: speed and accuracy, each at its own
tuned weights.

Decoders (each given the same logits, ARPA LM, unigram list, beam width, token threshold and prune
margin):

* ``ours_per_utterance``: ``CTCBeamSearchDecoder.decode`` once per utterance (what the pipeline does),
  through the compiled search (``decoding.compiled``) when it was built;
* ``ours_batched``: ``decode_batch`` on the whole set in one process (the same search);
* ``ours_numpy_lockstep``: ``decode_batch`` through the numpy search (``engine="numpy"``), all
  utterances in lockstep: the search the package used before the compiled one, for reference;
* ``ours_pooled``: ``DecoderPool`` with ``--workers`` processes (skipped with ``--workers 1``);
* ``pyctcdecode``: 0.5.0, ``decode`` once per utterance;
* ``ctc_beam_decoder``: 0.2.0, the C++ port of pyctcdecode (when installed);
* ``ours_lexicon``: ``decode`` per utterance with ``lexicon=True`` (only LM words, partial words scored
  by the LM look-ahead), token threshold ``--lexicon-token-min-logp``, weights tuned on its own;
* ``flashlight_lexicon``: flashlight-text 0.0.7's ``LexiconDecoder`` (torchaudio's engine; when
  installed): a word trie of the unigrams scored by the LM, words spelled without a trailing ``|``.

Weights (LM weight, word bonus) are tuned for each decoder family on a dev split (the first
``--dev`` utterances) over one grid; the rest is the test split that is timed and scored. Times are
CPU seconds of this process (``time.process_time``) and wall seconds, best of ``--repeats``, decoders
in turns; the pool's workers are separate processes, so ``ours_pooled`` has wall time only. The last line is one JSON object with, besides every decoder's
numbers, ``speedup_vs_pyctcdecode_per_utterance``, ``speedup_vs_pyctcdecode_batched``,
``speedup_vs_ctc_beam_decoder_per_utterance`` (when installed), ``wer_ours``, ``wer_pyctcdecode`` and
``engine`` (the search behind ``ours_*``).

    python benchmarks/decoder_comparison.py --beam-width 50                     # synthetic emissions
    python benchmarks/decoder_comparison.py --model runs/ft --data corpus/dev.tsv  # a model's outputs

The peers: ``pip install ctc-beam-decoder==0.2.0 flashlight-text==0.0.7`` (pyctcdecode comes with
``scripts/setup.sh``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import itertools
import json
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from decoding_sets import add_set_arguments, load_set
from wav2vec_hf.decoding.decoder import CTCBeamSearchDecoder, DecodeOptions, log_softmax
from wav2vec_hf.decoding.language_model import FusionWeights, NgramLanguageModel
from wav2vec_hf.decoding.parallel import DecoderPool, DecoderSpec
from wav2vec_hf.error_rates import character_error_rate, word_error_rate

ALPHAS = (0.25, 0.5, 1.0, 2.0)
BETAS = (-1.0, 0.0, 1.5, 3.0)


def cpu_seconds() -> float:
    """CPU seconds of this process."""
    return time.process_time()


def version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


# --- decoder families: weights -> a function of a list of log-probabilities -> texts ---------------


class Ours:
    def __init__(self, args, labels, lm_path, unigrams):
        self.args, self.labels, self.lm_path, self.unigrams = args, labels, lm_path, unigrams
        self.options = DecodeOptions(
            beam_width=args.beam_width,
            token_min_logp=args.token_min_logp,
            beam_prune_logp=args.beam_prune_logp,
        )
        self.decoder = None
        self.numpy_decoder = None
        self.pool = None

    def set_weights(self, alpha: float, beta: float) -> None:
        weights = FusionWeights(alpha, beta, self.args.unk_score_offset, True)
        lm = NgramLanguageModel.from_file(self.lm_path, self.unigrams, weights)
        self.decoder = CTCBeamSearchDecoder(self.labels, lm)
        self.numpy_decoder = CTCBeamSearchDecoder(self.labels, lm, engine="numpy")
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def batched(self, logits):
        return [h[0].text for h in self.decoder.decode_batch(logits, self.options)]

    def per_utterance(self, logits):
        return [self.decoder.decode(x, self.options)[0].text for x in logits]

    def numpy_lockstep(self, logits):
        return [h[0].text for h in self.numpy_decoder.decode_batch(logits, self.options)]

    def pooled(self, logits):
        if self.pool is None:
            self.pool = DecoderPool(self.args.workers, "fork")
            self.spec = DecoderSpec.of(self.decoder)
            self.pool.decode(self.spec, logits[: 2 * self.args.workers], self.options)  # workers warm up
        return [h[0].text for h in self.pool.decode(self.spec, logits, self.options)]


class OursLexicon(Ours):
    """Our lexicon mode (only LM words; LM look-ahead on partial words), weights tuned on its own."""

    def __init__(self, args, labels, lm_path, unigrams):
        super().__init__(args, labels, lm_path, unigrams)
        self.options = DecodeOptions(
            beam_width=args.beam_width,
            token_min_logp=args.lexicon_token_min_logp,
            beam_prune_logp=args.beam_prune_logp,
            max_tokens_per_frame=args.lexicon_max_tokens or None,
            lexicon=True,
        )


class PyctcdecodeFamily:
    """pyctcdecode or its C++ port (same API)."""

    def __init__(self, build, args, labels, lm_path, unigrams):
        self.build, self.args, self.labels, self.lm_path, self.unigrams = (
            build,
            args,
            labels,
            lm_path,
            unigrams,
        )
        self.decoder = None

    def set_weights(self, alpha: float, beta: float) -> None:
        self.decoder = self.build(
            self.labels,
            kenlm_model_path=str(self.lm_path),
            unigrams=self.unigrams,
            alpha=alpha,
            beta=beta,
            unk_score_offset=self.args.unk_score_offset,
        )

    def per_utterance(self, logits):
        options = dict(
            beam_width=self.args.beam_width,
            token_min_logp=self.args.token_min_logp,
            beam_prune_logp=self.args.beam_prune_logp,
        )
        return [self.decoder.decode(x, **options) for x in logits]


class FlashlightLexicon:
    """flashlight-text's LexiconDecoder over the unigrams (each spelled by its letters, no trailing ``|``)."""

    def __init__(self, args, labels, lm_path, unigrams):
        from flashlight.lib.text.decoder import KenLM, SmearingMode, Trie
        from flashlight.lib.text.dictionary import Dictionary, create_word_dict

        self.args = args
        self.blank = labels.index("")
        self.delimiter = labels.index(" ")
        names = [
            f"<t{i}>" if label in ("", " ") or len(label) != 1 else label for i, label in enumerate(labels)
        ]
        tokens = Dictionary()
        for name in names:
            tokens.add_entry(name)
        spellable = set(names)
        lexicon = {w: [list(w)] for w in unigrams if w and set(w) <= spellable}
        self.word_dict = create_word_dict({**lexicon, "<unk>": []})  # its default entry must exist
        self.unk = self.word_dict.get_index("<unk>")
        self.lm = KenLM(str(lm_path), self.word_dict)
        self.trie = Trie(len(names), self.delimiter)
        start = self.lm.start(False)
        for word, spellings in lexicon.items():
            index = self.word_dict.get_index(word)
            _, score = self.lm.score(start, index)
            for spelling in spellings:
                self.trie.insert([tokens.get_index(t) for t in spelling], index, score)
        self.trie.smear(SmearingMode.MAX)
        self.decoder = None

    def set_weights(self, alpha: float, beta: float) -> None:
        from flashlight.lib.text.decoder import CriterionType, LexiconDecoder, LexiconDecoderOptions

        options = LexiconDecoderOptions(
            beam_size=self.args.beam_width,
            beam_size_token=self.args.flashlight_token_beam,
            beam_threshold=-self.args.beam_prune_logp,
            lm_weight=alpha,
            word_score=beta,
            unk_score=float("-inf"),
            sil_score=0.0,
            log_add=False,
            criterion_type=CriterionType.CTC,
        )
        self.decoder = LexiconDecoder(
            options, self.trie, self.lm, self.delimiter, self.blank, self.unk, [], False
        )

    def per_utterance(self, logits):
        texts = []
        for x in logits:
            emissions = np.ascontiguousarray(x, dtype=np.float32)
            frames, tokens = emissions.shape
            best = self.decoder.decode(emissions.ctypes.data, frames, tokens)[0]
            words = [self.word_dict.get_entry(i) for i in best.words if i >= 0 and i != self.unk]
            texts.append(" ".join(words))
        return texts


def tune(family, run, dev_logits, dev_references) -> tuple[float, float, float]:
    """``(alpha, beta, dev WER)`` of the grid point with the lowest dev WER (ties: the first)."""
    best = None
    for alpha, beta in itertools.product(ALPHAS, BETAS):
        family.set_weights(alpha, beta)
        wer = word_error_rate(dev_references, run(dev_logits))
        if best is None or wer < best[2]:
            best = (alpha, beta, wer)
    family.set_weights(best[0], best[1])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_set_arguments(parser)
    parser.add_argument("--utterances", type=int, default=300, help="dev + test utterances")
    parser.add_argument(
        "--dev", type=int, default=60, help="utterances of the dev split (weights tuned there)"
    )
    parser.add_argument("--beam-width", type=int, default=50)
    parser.add_argument("--token-min-logp", type=float, default=-5.0)
    parser.add_argument("--beam-prune-logp", type=float, default=-10.0)
    parser.add_argument("--unk-score-offset", type=float, default=-10.0)
    parser.add_argument("--flashlight-token-beam", type=int, default=4, help="flashlight's beam_size_token")
    parser.add_argument(
        "--lexicon-token-min-logp",
        type=float,
        default=-8.0,
        help="token threshold of ours_lexicon (the true letter must stay a candidate when a similar one wins)",
    )
    parser.add_argument(
        "--lexicon-max-tokens",
        type=int,
        default=4,
        help="ours_lexicon's tokens per frame at most (default: flashlight's token beam, 0: no cap)",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes of ours_pooled (1: skip it)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("pyctcdecode").setLevel(logging.ERROR)

    with tempfile.TemporaryDirectory() as tmp:
        labels, lm_path, unigrams, logits, references, seconds, source = load_set(args, parser, Path(tmp))
        logits = [log_softmax(x).astype(np.float32) for x in logits]
        if len(logits) <= args.dev:
            parser.error(f"--utterances ({len(logits)}) must exceed --dev ({args.dev})")
        dev_logits, test_logits = logits[: args.dev], logits[args.dev :]
        dev_references, test_references = references[: args.dev], references[args.dev :]
        test_audio = float(sum(seconds[args.dev :]))

        ours = Ours(args, labels, lm_path, unigrams)
        lexicon = OursLexicon(args, labels, lm_path, unigrams)
        families = {"ours": (ours, ours.batched), "ours_lexicon": (lexicon, lexicon.per_utterance)}
        from pyctcdecode import build_ctcdecoder

        pyctc = PyctcdecodeFamily(build_ctcdecoder, args, labels, lm_path, unigrams)
        families["pyctcdecode"] = (pyctc, pyctc.per_utterance)
        missing = {}
        try:
            import ctc_beam_decoder
        except ImportError:
            missing["ctc_beam_decoder"] = "not installed: pip install ctc-beam-decoder==0.2.0"
        else:
            cpp = PyctcdecodeFamily(ctc_beam_decoder.build_ctcdecoder, args, labels, lm_path, unigrams)
            families["ctc_beam_decoder"] = (cpp, cpp.per_utterance)
        try:
            flashlight = FlashlightLexicon(args, labels, lm_path, unigrams)
        except ImportError:
            missing["flashlight_lexicon"] = "not installed: pip install flashlight-text==0.0.7"
        else:
            families["flashlight_lexicon"] = (flashlight, flashlight.per_utterance)

        tuned = {
            name: tune(family, run, dev_logits, dev_references) for name, (family, run) in families.items()
        }

        runs = {
            "ours_per_utterance": ours.per_utterance,
            "ours_batched": ours.batched,
            "ours_numpy_lockstep": ours.numpy_lockstep,
        }
        if args.workers > 1:
            runs["ours_pooled"] = ours.pooled
        runs |= {
            name: run for name, (_, run) in families.items() if name != "ours"
        }  # ours_lexicon: per utterance
        for run in runs.values():
            run(test_logits[:2])  # first-call costs (and the pool's start) out of the timing
        best = {name: float("inf") for name in runs}
        best_wall = {name: float("inf") for name in runs}
        texts: dict[str, list[str]] = {}
        for _ in range(args.repeats):
            for name, run in runs.items():
                started, started_wall = cpu_seconds(), time.perf_counter()
                texts[name] = run(test_logits)
                best[name] = min(best[name], cpu_seconds() - started)
                best_wall[name] = min(best_wall[name], time.perf_counter() - started_wall)
        if ours.pool is not None:
            ours.pool.close()

    n = len(test_logits)
    decoders = {}
    for name in runs:
        family = name if name == "ours_lexicon" or not name.startswith("ours") else "ours"
        alpha, beta, dev_wer = tuned[family]
        # The pool's workers stay alive, so their CPU time is not this process's to read: wall time only.
        cpu = None if name == "ours_pooled" else best[name]
        decoders[name] = {
            "cpu_ms_per_utterance": None if cpu is None else round(1000 * cpu / n, 3),
            "wall_ms_per_utterance": round(1000 * best_wall[name] / n, 3),
            "rtf_cpu": None if cpu is None else cpu / test_audio,
            "wer": word_error_rate(test_references, texts[name]),
            "cer": character_error_rate(test_references, texts[name]),
            "alpha": alpha,
            "beta": beta,
            "dev_wer": dev_wer,
        }
    result = {
        "benchmark": "decoder_comparison",
        "source": source,
        "dev_utterances": args.dev,
        "test_utterances": n,
        "test_audio_seconds": round(test_audio, 2),
        "settings": {
            "beam_width": args.beam_width,
            "token_min_logp": args.token_min_logp,
            "beam_prune_logp": args.beam_prune_logp,
            "unk_score_offset": args.unk_score_offset,
            "flashlight_token_beam": args.flashlight_token_beam,
            "lexicon_token_min_logp": args.lexicon_token_min_logp,
            "lexicon_max_tokens": args.lexicon_max_tokens,
            "workers": args.workers,
            "grid": {"alphas": ALPHAS, "betas": BETAS},
            "lm": Path(lm_path).name,
            "unigrams": len(unigrams),
        },
        "decoders": decoders,
        "missing": missing,
        "versions": {
            package: version(package)
            for package in (
                "wav2vec-hf",
                "pyctcdecode",
                "ctc-beam-decoder",
                "flashlight-text",
                "kenlm",
                "numpy",
            )
        },
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor() or platform.machine(),
        },
        "speedup_vs_pyctcdecode_per_utterance": round(best["pyctcdecode"] / best["ours_per_utterance"], 3),
        "speedup_vs_pyctcdecode_batched": round(best["pyctcdecode"] / best["ours_batched"], 3),
        "speedup_vs_ctc_beam_decoder_per_utterance": (
            round(best["ctc_beam_decoder"] / best["ours_per_utterance"], 3)
            if "ctc_beam_decoder" in best
            else None
        ),
        "engine": ours.decoder.engine,
        "wer_ours": decoders["ours_per_utterance"]["wer"],
        "wer_pyctcdecode": decoders["pyctcdecode"]["wer"],
    }
    print(f"source: {source}; weights tuned on {args.dev} utterances, {n} timed (ms per utterance)")
    for name, row in decoders.items():
        cpu = "     -   " if row["cpu_ms_per_utterance"] is None else f"{row['cpu_ms_per_utterance']:9.3f}"
        print(
            f"{name:20s} CPU {cpu} ms  wall {row['wall_ms_per_utterance']:9.3f} ms  WER {100 * row['wer']:6.2f}%  "
            f"CER {100 * row['cer']:6.2f}%  (alpha {row['alpha']}, beta {row['beta']})"
        )
    for name, why in missing.items():
        print(f"{name:20s} {why}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
