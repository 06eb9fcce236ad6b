"""``wav2vec-hf demo``: the project's main job on the built-in corpus, as a list of named steps.

Each step is a function of the shared ``DemoRun``; its output goes to the terminal and to
``OUTPUT_DIR/demo.log``, and a failure names the step and the log file. The steps today: build
the corpus, then open every split through the data layer (the same validation training uses) and
report what it holds. Later steps (pretraining, fine-tuning, LM decoding, self-training, cards)
append to ``STEPS``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("wav2vec_hf.demo")


@dataclass
class DemoRun:
    """State shared by the demo's steps.

    Attributes:
        output_dir: where everything is written.
        options: the command-line options (sizes, seed, device, workers).
        results: what each step reports, by step name (written to ``results.json``).
    """

    output_dir: Path
    options: dict[str, Any]
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def corpus_dir(self) -> Path:
        """The built-in corpus folder."""
        return self.output_dir / "corpus"


class DemoStepError(RuntimeError):
    """A demo step failed; the message names the step and the log file."""


def build_corpus_step(run: DemoRun) -> dict[str, Any]:
    """Synthesise (or reuse) the built-in corpus."""
    from wav2vec_hf.data.corpus import build_corpus

    corpus = build_corpus(
        run.corpus_dir,
        unlabeled_minutes=run.options["unlabeled_minutes"],
        labeled_minutes=run.options["labeled_minutes"],
        dev_minutes=run.options["dev_minutes"],
        test_minutes=run.options["test_minutes"],
        seed=run.options["seed"],
        num_workers=run.options.get("workers"),
    )
    print(corpus.summary(), flush=True)
    return {"root": str(corpus.root), "reused": corpus.reused, "splits": corpus.info["splits"]}


def check_corpus_step(run: DemoRun) -> dict[str, Any]:
    """Open every split with the data layer's validation, as training will."""
    from wav2vec_hf.data import ValidationRules, open_audio_source

    report = {}
    for split in ("unlabeled", "labeled", "dev", "test"):
        manifest = run.corpus_dir / f"{split}.tsv"
        audio = open_audio_source(manifest, rules=ValidationRules(target_rate=16000), name=f"corpus {split}")
        seconds = sum(audio.lengths(16000)) / 16000
        transcribed = sum(record.transcript is not None for record in audio)
        report[split] = {
            "utterances": len(audio),
            "seconds": round(seconds, 2),
            "with_transcript": transcribed,
        }
        print(
            f"  {split:<9} {len(audio):>5} utterances validated, {seconds / 60:6.2f} min, "
            f"{transcribed} with transcripts  ({manifest})",
            flush=True,
        )
    return report


STEPS: list[tuple[str, Callable[[DemoRun], dict[str, Any]]]] = [
    ("build the built-in corpus", build_corpus_step),
    ("validate the corpus with the data layer", check_corpus_step),
]


def run_demo(output_dir: str | Path, **options: Any) -> dict[str, Any]:
    """Run every demo step in order; returns the results (also written to ``results.json``).

    Raises:
        DemoStepError: a step failed; names the step and the log file.
    """
    run = DemoRun(output_dir=Path(output_dir), options=options)
    run.output_dir.mkdir(parents=True, exist_ok=True)
    log_file = run.output_dir / "demo.log"
    handler = logging.FileHandler(log_file, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        for number, (title, step) in enumerate(STEPS, start=1):
            print(f"[{number}/{len(STEPS)}] {title}", flush=True)
            logger.info("step %d: %s", number, title)
            started = time.perf_counter()
            try:
                run.results[title] = step(run)
            except Exception as error:
                logger.exception("step %d (%s) failed", number, title)
                raise DemoStepError(
                    f"demo step {number} ({title}) failed: {error}. Full log: {log_file}"
                ) from error
            logger.info("step %d done in %.1f s", number, time.perf_counter() - started)
        (run.output_dir / "results.json").write_text(json.dumps(run.results, indent=2, default=str) + "\n")
        print(f"results: {run.output_dir / 'results.json'}; log: {log_file}", flush=True)
        return run.results
    finally:
        root.removeHandler(handler)
        handler.close()
