"""N-gram LM building speed: our Kneser-Ney ARPA builder vs kaldingram on the same text and order.

Both build an ARPA file from the same sentences of the built-in corpus grammar (its LM text
stream) at the same order; kaldingram is Kaldi's ``make_kn_lm`` ported to Python (plain KN, one
discount per order). KenLM's ``lmplz`` would be the usual reference but is not on PyPI. Each side
runs ``--repeats`` times, in turns, from the text to the written ARPA file; the fastest run of each
counts. Reported per builder: seconds, n-grams written and held-out perplexity through
``kenlm.Model`` (so a fast but wrong model shows); then the speedup. The last line is one JSON
object with everything.

    python benchmarks/lm_build_speed.py                       # 25,000 sentences (~250k words), order 4
    python benchmarks/lm_build_speed.py --sentences 100000 --order 5
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import tempfile
import time
from pathlib import Path

from wav2vec_hf.decoding.ngram import estimate_kneser_ney, perplexity, write_arpa
from wav2vec_hf.recipes.corpus_text import sentence_stream


def arpa_ngram_count(path: Path) -> int:
    """The n-gram total of an ARPA file's ``\\data\\`` header."""
    total = 0
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("ngram "):
                total += int(line.split("=")[1])
            elif line.startswith("\\1-grams:"):
                break
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=25_000, help="training sentences")
    parser.add_argument("--order", type=int, default=4)
    parser.add_argument("--heldout", type=int, default=1_000, help="held-out sentences for perplexity")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import kaldingram.train

    train = list(itertools.islice(sentence_stream(args.seed, "lm"), args.sentences))
    vocabulary = {word for sentence in train for word in sentence.split()}
    heldout = [
        s
        for s in itertools.islice(sentence_stream(args.seed, "dev", exclude=train), args.heldout)
        if set(s.split()) <= vocabulary
    ]
    words = sum(len(sentence.split()) for sentence in train)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        text = folder / "train.txt"
        text.write_text("\n".join(train) + "\n", encoding="utf-8")
        ours_path, theirs_path = folder / "ours.arpa", folder / "kaldingram.arpa"

        def run_ours() -> None:
            sentences = text.read_text(encoding="utf-8").splitlines()
            write_arpa(estimate_kneser_ney(sentences, args.order), ours_path)

        def run_theirs() -> None:
            kaldingram.train.main(
                ["--ngram-order", str(args.order), "--text", str(text), "--lm", str(theirs_path)]
            )

        best = {"ours": math.inf, "kaldingram": math.inf}
        for _ in range(args.repeats):  # in turns: both see the same share of a busy machine
            for name, run in (("ours", run_ours), ("kaldingram", run_theirs)):
                started = time.perf_counter()
                run()
                best[name] = min(best[name], time.perf_counter() - started)
        results = {
            name: {
                "seconds": round(best[name], 3),
                "ngrams": arpa_ngram_count(path),
                "heldout_perplexity": round(perplexity(path, heldout)[0], 3),
            }
            for name, path in (("ours", ours_path), ("kaldingram", theirs_path))
        }
    speedup = best["kaldingram"] / best["ours"]
    for name, result in results.items():
        print(
            f"{name:>10}: {result['seconds']:8.2f} s  {result['ngrams']:>9,} n-grams  "
            f"held-out perplexity {result['heldout_perplexity']:.2f}"
        )
    print(f"ours is {speedup:.1f}x kaldingram ({words:,} words, order {args.order}, best of {args.repeats})")
    summary = {
        "sentences": len(train),
        "words": words,
        "vocabulary": len(vocabulary),
        "order": args.order,
        "heldout_sentences": len(heldout),
        "repeats": args.repeats,
        "results": results,
        "speedup": round(speedup, 2),
        "machine": platform.processor() or platform.machine(),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
