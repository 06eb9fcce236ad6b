"""``wav2vec-hf demo``: the project's main job on the built-in corpus, as a list of named steps.

Each step is a function of the shared ``DemoRun``; its output goes to the terminal and to
``OUTPUT_DIR/demo.log``, and a failure names the step and the log file. The steps: build the
corpus and open every split through the data layer; pretrain wav2vec 2.0 (and briefly wav2vec and
vq-wav2vec); fine-tune with CTC from the pretrained model and from scratch (several seeds); build a
4-gram LM and decode dev / test greedy and with it; one self-training round; model cards and a
dry-run Hub folder; the claims table and plots; the check that pretraining beat scratch.

``results.json`` holds every finished step's outputs and seconds (written after each step, so a
failed run keeps what it did, plus the failing step and its error). A rerun in the same folder
reuses the corpus when it was built with the same sizes and recomputes everything else: it first
removes the previous run's outputs (``RUN_OUTPUTS``), which the pretraining loop would otherwise
refuse (a folder with checkpoints) and self-training would otherwise resume from.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wav2vec_hf.errors import Wav2VecHFError
from wav2vec_hf.json_files import write_json
from wav2vec_hf.recipes.demo_steps.decoding import decode_step
from wav2vec_hf.recipes.demo_steps.finetuning import finetune_step
from wav2vec_hf.recipes.demo_steps.hub import hub_step
from wav2vec_hf.recipes.demo_steps.pretraining import pretrain_wav2vec1_step, pretrain_wav2vec2_step
from wav2vec_hf.recipes.demo_steps.report import TABLE_JSON, TABLE_MARKDOWN, claim_check_step, report_step
from wav2vec_hf.recipes.demo_steps.run import DemoRun
from wav2vec_hf.recipes.demo_steps.selftraining import self_training_step

logger = logging.getLogger("wav2vec_hf.recipes.demo")

RESULTS_FILE = "results.json"
LOG_FILE = "demo.log"
# What the steps write under the output folder, besides the corpus and the two files above.
RUN_OUTPUTS = (
    "pretrain", "finetune", "lm", "self-training", "model_cards", "hub-dry-run", "plots",
    TABLE_MARKDOWN, TABLE_JSON,
)  # fmt: skip


class DemoStepError(Wav2VecHFError, RuntimeError):
    """A demo step failed; the message names the step and the log file."""


def build_corpus_step(run: DemoRun) -> dict[str, Any]:
    """Synthesise (or reuse) the built-in corpus."""
    from wav2vec_hf.recipes.corpus import build_corpus

    corpus = build_corpus(
        run.corpus_dir,
        unlabeled_minutes=run.minutes("unlabeled"),
        labeled_minutes=run.minutes("labeled"),
        dev_minutes=run.minutes("dev"),
        test_minutes=run.minutes("test"),
        lm_sentences=run.scale.lm_sentences,
        seed=run.options.get("seed", 0),
        num_workers=run.options.get("workers"),
    )
    print(corpus.summary(), flush=True)
    splits = {
        name: {key: value for key, value in info.items() if key not in ("speakers", "speaker_pool")}
        | {"speakers": len(info.get("speakers", []))}
        for name, info in corpus.info["splits"].items()
    }
    return {"root": str(corpus.root), "reused": corpus.reused, "splits": splits}


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
    ("pretrain wav2vec 2.0", pretrain_wav2vec2_step),
    ("pretrain wav2vec and vq-wav2vec briefly", pretrain_wav2vec1_step),
    ("fine-tune with CTC: pretrained and from scratch", finetune_step),
    ("build the 4-gram LM; decode dev and test greedy and with the LM", decode_step),
    ("one round of self-training", self_training_step),
    ("model cards and the dry-run Hub folder", hub_step),
    ("the claims table and plots", report_step),
    ("check: pretrained beats scratch on dev CER", claim_check_step),
]


def remove_previous_outputs(output_dir: Path) -> list[str]:
    """Delete what an earlier demo run wrote in ``output_dir`` (``RUN_OUTPUTS``; the corpus stays).

    Only a folder the demo has run in (its ``results.json`` says so) is cleared; anything else
    holding one of those names is refused, so that ``--output-dir`` pointed at a folder of the
    user's own never loses files.

    Returns:
        The names removed.

    Raises:
        ValueError: ``output_dir`` holds some of those names but no demo ``results.json``.
    """
    present = [name for name in RUN_OUTPUTS if (output_dir / name).exists()]
    if not present:
        return []
    if not _is_demo_folder(output_dir):
        raise ValueError(
            f"--output-dir {output_dir}: it holds {', '.join(present)} but no {RESULTS_FILE} of an earlier "
            "demo run, and the demo would overwrite them; choose a new or empty folder (or one the demo "
            "wrote)"
        )
    for name in present:
        path = output_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return present


def _is_demo_folder(output_dir: Path) -> bool:
    try:
        results = json.loads((output_dir / RESULTS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    summary = results.get("demo") if isinstance(results, dict) else None
    return isinstance(summary, dict) and "steps" in summary


def _write_results(run: DemoRun, extra: dict[str, Any]) -> Path:
    path = run.output_dir / RESULTS_FILE
    content = {"demo": extra, **run.results}
    write_json(path, content)
    return path


def run_demo(output_dir: str | Path, **options: Any) -> dict[str, Any]:
    """Run every demo step in order; returns the results (also written to ``results.json``).

    Args:
        output_dir: the run folder (the corpus inside it is reused when built with the same sizes).
        **options: ``scale``, ``device``, ``seeds``, ``skip_self_training``, ``check_claim``, ``seed``,
            ``workers``, ``{unlabeled,labeled,dev,test}_minutes`` (see ``wav2vec-hf demo --help``).

    Raises:
        ValueError: a bad option (unknown scale, ``cuda`` without a GPU).
        DemoStepError: a step failed; names the step and the log file.
    """
    from wav2vec_hf.recipes.demo_steps.environment import check_device

    run = DemoRun(output_dir=Path(output_dir), options=options)
    run.scale  # noqa: B018  (validates --scale before any work)
    check_device(run.device)
    run.output_dir.mkdir(parents=True, exist_ok=True)
    removed = remove_previous_outputs(run.output_dir)
    if removed:
        print(
            f"removed the previous demo run's outputs in {run.output_dir}: {', '.join(removed)}", flush=True
        )
    log_file = run.output_dir / LOG_FILE
    handler = logging.FileHandler(log_file, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.INFO)
    started = time.perf_counter()
    summary: dict[str, Any] = {
        "scale": run.scale.name,
        "device": run.device,
        "seeds": run.seeds,
        "options": {key: value for key, value in options.items()},
        "steps": [title for title, _ in STEPS],
    }
    try:
        for number, (title, step) in enumerate(STEPS, start=1):
            print(f"[{number}/{len(STEPS)}] {title}", flush=True)
            logger.info("step %d: %s", number, title)
            step_started = time.perf_counter()
            try:
                output = step(run)
            except Exception as error:
                logger.exception("step %d (%s) failed", number, title)
                summary["failed_step"] = {
                    "number": number,
                    "title": title,
                    "error": f"{type(error).__name__}: {error}",
                }
                summary["seconds"] = time.perf_counter() - started
                _write_results(run, summary)
                raise DemoStepError(
                    f"demo step {number} ({title}) failed: {str(error).rstrip('.')}. Full log: {log_file}"
                ) from error
            seconds = time.perf_counter() - step_started
            run.results[title] = {**output, "seconds": round(seconds, 2)}
            logger.info("step %d done in %.1f s", number, seconds)
            print(f"    ({seconds:.0f} s)", flush=True)
            summary["seconds"] = time.perf_counter() - started
            _write_results(run, summary)
        total = time.perf_counter() - started
        print(
            f"demo finished in {total / 60:.1f} min; results: {run.output_dir / RESULTS_FILE}; log: {log_file}"
        )
        return run.results
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()


__all__ = ["LOG_FILE", "RESULTS_FILE", "STEPS", "DemoRun", "DemoStepError", "run_demo"]
