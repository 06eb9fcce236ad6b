"""FSDD digits from speakers the model never heard: leave-one-speaker-out, or a test table of new speakers.

FSDD's own test split (recordings 0-4) holds out recordings, not voices: a model scored there has
heard every test speaker. This recipe measures what a user needs, recognition of new voices:

* **leave-one-speaker-out** (default): for each of the public speakers, fine-tune on the other
  speakers' recordings 5-49, choose the checkpoint and the LM weights on their recordings 0-4
  (``dev``), and score **every** recording of the held-out speaker (``test``), which nothing
  above looked at. Per fold, greedy and with the 2-gram digit LM, then the mean over folds;
* ``--test TSV``: fine-tune on all the public speakers (dev: their recordings 0-4) and score that
  table (columns ``path``, ``transcript``): recordings of speakers outside the public set.

With ``--adapt``, each run is followed by one round of self-training on the test audio itself, without
its transcripts (``adapt``): the run's model and tuned LM pseudo-label it, the most confident
``ADAPT_KEEP_FRACTION`` of each digit is kept (``--balance-transcripts``), the run's model is
fine-tuned further (a third of the run's updates, the whole network, no head-only phase) on the
training table plus those, and the test set is scored again. This is transductive: the new
speakers' audio (never their transcripts) is used for training, as when a deployed model adapts to
its users' recordings. Its scores are reported beside the plain ones, and the summary line then gives
the adapted means. ``--adapt_rounds N`` repeats the round (iterated pseudo-labelling, as in the
self-training paper): round k labels the test audio again with round k-1's model, and trains from the
run's model on the training table plus those labels; the last round's scores are the adapted ones,
and every round's are kept in ``results.json``.

Every run is ``wav2vec-hf finetune`` -> ``build-lm`` (order 2 over the training transcripts)
-> ``tune-lm`` on dev -> ``evaluate``, with ``FSDD_SPEAKER_FINETUNE_ARGUMENTS``; every training table
also holds the ten digits spoken by ``--synthetic_voices`` eSpeak voices (``data.spoken_digits``).
``--adapt_align`` labels each round by distribution alignment (``selftraining.prior_alignment``: the
pseudo-labels' digit counts follow the training table's), which undoes a new voice's systematic
confusions. What each lever did for new voices is measured in docs/real-speech.md (without adaptation
the 10% target is not met; with ``--max_steps 3000 --adapt --adapt_rounds 3 --adapt_align`` the
two-seed mean is 9.1%)::

    python -m wav2vec_hf.recipes.fsdd fsdd-speakers ../shared/data/real runs/fsdd-speakers --jobs 2
    python -m wav2vec_hf.recipes.fsdd fsdd-speakers ../shared/data/real runs/fsdd-new --test new.tsv

Runs (fold x seed) go one after another in this process, or ``--jobs N`` at once, each in a worker
process with an equal share of the cores and its output in its run folder's ``log.txt``.
The table goes to stdout and ``OUT_DIR/results.json``; the last stdout line is JSON
``{"wer_greedy": ..., "wer_lm": ...}`` in percent (the mean over folds, or the ``--test`` table's).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from wav2vec_hf.errors import Wav2VecHFError
from wav2vec_hf.recipes.fsdd_files import LM_TEXT_FILE, fsdd_recordings, write_table

PROG = "python -m wav2vec_hf.recipes.fsdd fsdd-speakers"
DEV_INDICES = range(5)  # FSDD's test recordings of the training speakers choose checkpoints and LM weights
LM_ORDER = 2

# The seen-speaker recipe's model and masking (a 1.8M-parameter wav2vec 2.0 fine-tuned from scratch) plus
# the levers measured best (mean leave-one-speaker-out WER with the LM 29.2% over two seeds, against
# 34.5% without them; docs/real-speech.md): more voices (FSDD_SYNTHETIC_VOICES eSpeak voices saying the digits), speed
# perturbation and noise. Options after -- override them (`-- --speed_perturbation ""` turns one off).
FSDD_SPEAKER_FINETUNE_ARGUMENTS = (
    "--model", "wav2vec2-small-cpu", "--from_scratch",
    "--mask_time_prob", "0.3", "--mask_time_length", "3",
    "--mask_feature_prob", "0.1", "--mask_feature_length", "16",
    "--head_steps", "200", "--per_device_train_batch_size", "32",
    "--speed_perturbation", "0.9,1.1", "--noise_snr_db", "15,40",
)  # fmt: skip
FSDD_SYNTHETIC_VOICES = 150
FSDD_SPEAKER_UPDATES = 1500
# ``--adapt``: the share of each digit's pseudo-labels kept, the beam that produces them, and the
# fine-tuning that continues from the run's model on them (its updates: the run's // ADAPT_UPDATE_SHARE).
ADAPT_KEEP_FRACTION = 0.6
ADAPT_BEAM_WIDTH = 16
ADAPT_N_BEST = 4  # hypotheses kept per utterance (self-train's default, 50, exceeds this beam); no rescoring: the first labels
ADAPT_UPDATE_SHARE = 3
ADAPT_FINETUNE_ARGUMENTS = ("--freeze_feature_encoder", "false", "--head_steps", "0")
LOG_FILE = "log.txt"  # a run's output with --jobs above 1


class StepFailed(Wav2VecHFError, RuntimeError):
    """A ``wav2vec-hf`` step of a run exited non-zero; ``code`` is its exit status."""

    def __init__(self, step: str, code: int, run: Path):
        super().__init__(f"{step} exited with status {code} for run {run}; see its message above")
        self.code = code


@dataclass(frozen=True)
class SpeakerTables:
    """One run's tables (``path / transcript / speaker`` TSVs) and LM text."""

    name: str
    train: Path
    dev: Path
    test: Path | None  # None for ``all_speakers`` (the --test table is the caller's)
    lm_text: Path


@dataclass(frozen=True)
class SpeakerScore:
    """One run's word error rates, in percent."""

    name: str
    seed: int
    dev_greedy: float
    dev_lm: float
    test_greedy: float
    test_lm: float
    test_utterances: int
    seconds: float
    adapted_dev_lm: float | None = None
    adapted_test_greedy: float | None = None
    adapted_test_lm: float | None = None
    pseudo_labels_kept: int | None = None
    adapted_rounds: tuple[dict, ...] | None = None  # per round: test/dev WER in percent, labels kept


def _fsdd_records(real_dir: str | os.PathLike) -> list[tuple[str, str, str, int]]:
    """``recipes.fsdd_recordings``, refused when fewer than two speakers are found."""
    rows = fsdd_recordings(real_dir)
    speakers = {row[2] for row in rows}
    if len(speakers) < 2:
        raise FileNotFoundError(
            f"{Path(real_dir) / 'fsdd'}: found {len(speakers)} FSDD speaker(s) in files named "
            "'<digit>_<speaker>_<index>.wav'; leave-one-speaker-out needs at least 2. "
            "Point at the folder that holds fsdd/."
        )
    return rows


def _tables(out: Path, name: str, train, dev, test) -> SpeakerTables:
    lm_text = out / name / LM_TEXT_FILE
    lm_text.parent.mkdir(parents=True, exist_ok=True)
    lm_text.write_text("".join(f"{row[1]}\n" for row in train), encoding="utf-8")
    return SpeakerTables(
        name, write_table(out / name / "train.tsv", train), write_table(out / name / "dev.tsv", dev),
        write_table(out / name / "test.tsv", test) if test else None, lm_text,
    )  # fmt: skip


def leave_one_speaker_out(
    real_dir: str | os.PathLike, out_dir: str | os.PathLike, speakers: list[str] | None = None
) -> list[SpeakerTables]:
    """Write one fold's tables per held-out speaker under ``out_dir/<speaker>/`` (see the module docstring).

    Args:
        real_dir: the folder holding ``fsdd/``.
        out_dir: where the folds go.
        speakers: the speakers to hold out (default: every one, sorted).

    Raises:
        FileNotFoundError: fewer than two FSDD speakers found.
        ValueError: a requested speaker is not in the set.
    """
    rows = _fsdd_records(real_dir)
    present = sorted({row[2].removeprefix("fsdd_") for row in rows})
    unknown = sorted(set(speakers or ()) - set(present))
    if unknown:
        raise ValueError(
            f"--folds {', '.join(unknown)}: not an FSDD speaker here (have {', '.join(present)})"
        )
    folds = []
    for held_out in speakers or present:
        seen = [row for row in rows if row[2] != f"fsdd_{held_out}"]
        folds.append(_tables(
            Path(out_dir), held_out,
            train=[row for row in seen if row[3] not in DEV_INDICES],
            dev=[row for row in seen if row[3] in DEV_INDICES],
            test=[row for row in rows if row[2] == f"fsdd_{held_out}"],
        ))  # fmt: skip
    return folds


def all_speakers(real_dir: str | os.PathLike, out_dir: str | os.PathLike) -> SpeakerTables:
    """Tables for training on every public speaker (dev: recordings 0-4); ``test`` is left to the caller."""
    rows = _fsdd_records(real_dir)
    return _tables(
        Path(out_dir), "all",
        train=[row for row in rows if row[3] not in DEV_INDICES],
        dev=[row for row in rows if row[3] in DEV_INDICES],
        test=None,
    )  # fmt: skip


def add_training_rows(tables: SpeakerTables, extra_table: Path) -> int:
    """Append the rows of ``extra_table`` (``path / transcript / speaker``) to ``tables.train``; returns
    how many (the LM text stays the real training transcripts)."""
    with extra_table.open(encoding="utf-8", newline="") as handle:
        rows = [(r["path"], r["transcript"], r["speaker"]) for r in csv.DictReader(handle, delimiter="\t")]
    with tables.train.open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter="\t", lineterminator="\n").writerows(rows)
    return len(rows)


def check_test_table(path: str | os.PathLike) -> Path:
    """The ``--test`` table, checked for the columns it needs.

    Raises:
        ValueError: missing file, or no ``path`` / ``transcript`` column, or no rows.
    """
    table = Path(path)
    if not table.is_file():
        raise ValueError(f"--test {table}: no such file; give a TSV with columns path, transcript")
    with table.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        columns = set(reader.fieldnames or ())
        rows = sum(1 for _ in reader)
    if not {"path", "transcript"} <= columns:
        raise ValueError(
            f"--test {table}: needs the columns path and transcript (tab-separated), has {sorted(columns)}"
        )
    if rows == 0:
        raise ValueError(f"--test {table}: no rows")
    return table


def run_one(
    tables: SpeakerTables, test: Path, out: Path, *, seed: int, updates: int, extra: list[str]
) -> SpeakerScore:
    """Fine-tune, attach and tune the LM, score dev and ``test`` (see the module docstring).

    Raises:
        StepFailed: a step exited non-zero (its status and the run folder are named).
    """
    from wav2vec_hf.cli import main as cli

    started = time.perf_counter()
    model, lm, scores = out / "model", out / "lm", out / "scores.json"
    evaluation_steps = str(max(updates // 3, 1))
    steps = [
        ["finetune", *FSDD_SPEAKER_FINETUNE_ARGUMENTS, "--max_steps", str(updates),
         "--eval_steps", evaluation_steps, "--save_steps", evaluation_steps, "--seed", str(seed),
         "--disable_tqdm", "true", *extra,
         "--train", str(tables.train), "--eval", str(tables.dev), "--output_dir", str(model)],
        ["build-lm", "--text", str(tables.lm_text), "--order", str(LM_ORDER), "--out", str(lm), "--attach", str(model)],
        ["tune-lm", "--model", str(model), "--eval", str(tables.dev)],
        ["evaluate", "--model", str(model), "--data", str(tables.dev), str(test), "--json", str(scores)],
    ]  # fmt: skip
    for argv in steps:
        code = cli(argv)
        if code != 0:
            raise StepFailed(argv[0], code, out)
    result = json.loads(scores.read_text(encoding="utf-8"))["sets"]
    dev, held_out = result[str(tables.dev)], result[str(test)]
    return SpeakerScore(
        name=tables.name, seed=seed,
        dev_greedy=100 * dev["wer_greedy"], dev_lm=100 * dev["wer_lm"],
        test_greedy=100 * held_out["wer_greedy"], test_lm=100 * held_out["wer_lm"],
        test_utterances=int(held_out["utterances"]), seconds=time.perf_counter() - started,
    )  # fmt: skip


def _model_and_options(options: list[str]) -> tuple[str, list[str]]:
    """The ``--model`` of fine-tuning options (the last one given) and the options without it."""
    model, rest, items = None, [], iter(options)
    for option in items:
        if option == "--model":
            model = next(items, None)
        elif option.startswith("--model="):
            model = option.split("=", 1)[1]
        else:
            rest.append(option)
    if not model:
        raise ValueError("the fine-tuning options name no --model")
    return model, rest


def _without_flag(options: list[str], flag: str) -> list[str]:
    """``options`` without the boolean ``flag`` (and its ``true`` / ``false`` value when given)."""
    kept, skip_value = [], False
    for option in options:
        if skip_value and option.lower() in ("true", "false"):
            skip_value = False
            continue
        skip_value = option == flag
        if not skip_value and not option.startswith(f"{flag}="):
            kept.append(option)
    return kept


def adapt(
    tables: SpeakerTables,
    test: Path,
    run: Path,
    *,
    seed: int,
    updates: int,
    extra: list[str],
    rounds: int = 1,
    align: bool = False,
) -> list[dict]:
    """``rounds`` self-training rounds on ``test``'s audio without its transcripts, each continuing from
    the model ``run_one`` left in ``run/model``; round 1's labels come from that model, round k's from
    round k-1's. ``align``: label by distribution alignment (``selftraining.prior_alignment``: the
    labels' digit counts follow the training table's), from the beam's whole n-best. Returns the
    adapted models' rows of the self-training table, one per round (``selftraining.rounds``: error
    rates as fractions, ``pseudo_labels_kept``).

    The unlabelled table holds ``test``'s paths only, so no transcript can reach training.

    Raises:
        StepFailed: ``wav2vec-hf self-train`` exited non-zero.
    """
    from wav2vec_hf.cli import main as cli

    folder = run / "adapt"
    folder.mkdir(parents=True, exist_ok=True)
    with test.open(encoding="utf-8", newline="") as handle:
        paths = [row["path"] for row in csv.DictReader(handle, delimiter="\t")]
    unlabeled = folder / "unlabeled.tsv"
    unlabeled.write_text("path\n" + "".join(f"{path}\n" for path in paths), encoding="utf-8")
    _, options = _model_and_options([*FSDD_SPEAKER_FINETUNE_ARGUMENTS, *extra])  # the run's model instead
    options = _without_flag(options, "--from_scratch")
    steps = max(updates // ADAPT_UPDATE_SHARE, 1)
    evaluation_steps = str(max(steps // 2, 1))
    options += [*ADAPT_FINETUNE_ARGUMENTS, "--max_steps", str(steps), "--eval_steps", evaluation_steps,
                "--save_steps", evaluation_steps, "--disable_tqdm", "true"]  # fmt: skip
    argv = [
        "self-train", "--model", str(run / "model"), "--labeled", str(tables.train), "--unlabeled", str(unlabeled),
        "--eval", str(tables.dev), "--test", str(test), "--lm_text", str(tables.lm_text),
        "--output_dir", str(folder / "run"), "--finetuned", str(run / "model"), "--seed", str(seed),
        "--lm_order", str(LM_ORDER), "--no_rescore", "--keep_fraction", str(ADAPT_KEEP_FRACTION),
        "--balance_transcripts", "--beam_width", str(ADAPT_BEAM_WIDTH),
        "--n_best", str(ADAPT_BEAM_WIDTH if align else ADAPT_N_BEST),
        "--finetune_args", shlex.join(options), "--rounds", str(rounds),
    ]  # fmt: skip
    if align:
        argv.append("--align_transcripts")
    code = cli(argv)
    if code != 0:
        raise StepFailed("self-train", code, run)
    rows = json.loads((folder / "run" / "results.json").read_text(encoding="utf-8"))
    return [row for row in rows if row["round"] >= 1]


def with_adaptation(score: SpeakerScore, rows: list[dict]) -> SpeakerScore:
    """``score`` with the adapted models' WER (``adapt``'s rows, fractions) in percent: the last round's
    as the adapted scores, every round's in ``adapted_rounds``."""
    last = rows[-1]
    return replace(
        score,
        adapted_dev_lm=100 * last["dev_wer_lm"],
        adapted_test_greedy=100 * last["test_wer_greedy"],
        adapted_test_lm=100 * last["test_wer_lm"],
        pseudo_labels_kept=last["pseudo_labels_kept"],
        adapted_rounds=tuple(
            {
                "round": row["round"],
                "dev_wer_lm": 100 * row["dev_wer_lm"],
                "test_wer_greedy": 100 * row["test_wer_greedy"],
                "test_wer_lm": 100 * row["test_wer_lm"],
                "pseudo_labels_kept": row["pseudo_labels_kept"],
            }
            for row in rows
        ),
    )


@dataclass(frozen=True)
class RunJob:
    """One run of the recipe: fine-tune on ``tables``, score ``test``, then ``adapt_rounds`` rounds of
    adaptation (0: none), in the folder ``run``."""

    tables: SpeakerTables
    test: Path
    run: Path
    seed: int
    updates: int
    extra: tuple[str, ...]
    adapt_rounds: int
    adapt_align: bool = False


def run_job(job: RunJob) -> SpeakerScore:
    """``run_one``, then ``adapt`` when asked; the score's ``seconds`` cover both.

    Raises:
        StepFailed: a step exited non-zero.
        ValueError: fine-tuning options the adaptation cannot use.
    """
    started = time.perf_counter()
    extra = list(job.extra)
    score = run_one(job.tables, job.test, job.run, seed=job.seed, updates=job.updates, extra=extra)
    if job.adapt_rounds:
        rows = adapt(
            job.tables,
            job.test,
            job.run,
            seed=job.seed,
            updates=job.updates,
            extra=extra,
            rounds=job.adapt_rounds,
            align=job.adapt_align,
        )
        score = replace(with_adaptation(score, rows), seconds=time.perf_counter() - started)
    return score


def _job_outcome(job: RunJob) -> tuple[SpeakerScore | None, str | None, int]:
    """``(score, None, 0)``, or ``(None, message, exit status)`` for a failed step or unusable options."""
    try:
        return run_job(job), None, 0
    except StepFailed as error:  # the step's own message (one line) is already on stderr
        return None, str(error), error.code
    except ValueError as error:
        return None, str(error), 2


def _job_in_worker(job: RunJob, threads: int) -> tuple[SpeakerScore | None, str | None, int]:
    """``_job_outcome`` in a worker process: ``threads`` torch threads, and everything the run prints
    (Python's and native libraries') into ``job.run / LOG_FILE`` instead of the terminal."""
    import torch

    torch.set_num_threads(threads)
    job.run.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    with (job.run / LOG_FILE).open("w", encoding="utf-8") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        outcome = _job_outcome(job)
        sys.stdout.flush()
        sys.stderr.flush()
    if outcome[1] is not None:
        return None, f"{outcome[1]} (its log: {job.run / LOG_FILE})", outcome[2]
    return outcome


def _run_jobs(jobs: list[RunJob], parallel: int):
    """Yield ``(job, score, error, status)`` for every job: one after another in this process with
    ``parallel`` 1, else up to ``parallel`` at once in worker processes sharing the machine's cores, in
    the order they finish. Stops at the first failure (the other running jobs finish first)."""
    if parallel <= 1 or len(jobs) <= 1:
        for job in jobs:
            score, error, status = _job_outcome(job)
            yield job, score, error, status
            if error is not None:
                return
        return
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    workers = min(parallel, len(jobs))
    threads = max(1, len(os.sched_getaffinity(0)) // workers)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending = {pool.submit(_job_in_worker, job, threads): job for job in jobs}
        print(f"{len(jobs)} runs, {workers} at once ({threads} thread(s) each); logs in each run's {LOG_FILE}",
              flush=True)  # fmt: skip
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                score, error, status = future.result()
                yield job, score, error, status
                if error is not None:
                    for other in pending:
                        other.cancel()
                    return


def format_table(scores: list[SpeakerScore]) -> str:
    """A Markdown table: one row per run, then the mean (WER in percent); with ``--adapt``, the adapted
    model's test WER and the pseudo-labels it trained on in three more columns."""
    adapted = _adapted(scores)
    header = "| held-out speaker | seed | dev WER greedy | dev WER LM | test WER greedy | test WER LM | test utterances | minutes |"
    if adapted:
        rounds = len(scores[0].adapted_rounds or ()) or 1
        label = "adapted" if rounds == 1 else f"adapted, {rounds} rounds"
        header += f" {label}: test WER greedy | {label}: test WER LM | pseudo-labels kept |"
    lines = [header, "|" + "---|" * header.count(" |")]
    for s in scores:
        line = (
            f"| {s.name} | {s.seed} | {s.dev_greedy:.1f} | {s.dev_lm:.1f} | {s.test_greedy:.1f} | {s.test_lm:.1f} "
            f"| {s.test_utterances} | {s.seconds / 60:.1f} |"
        )
        if adapted:
            line += f" {s.adapted_test_greedy:.1f} | {s.adapted_test_lm:.1f} | {s.pseudo_labels_kept} |"
        lines.append(line)
    plain = _means(scores, "test_greedy", "test_lm")
    mean = f"| **mean** | | | | **{plain['wer_greedy']:.1f}** | **{plain['wer_lm']:.1f}** | | |"
    if adapted:
        after = _means(scores, "adapted_test_greedy", "adapted_test_lm")
        mean += f" **{after['wer_greedy']:.1f}** | **{after['wer_lm']:.1f}** | |"
    lines.append(mean)
    return "\n".join(lines)


def _adapted(scores: list[SpeakerScore]) -> bool:
    return bool(scores) and all(s.adapted_test_lm is not None for s in scores)


def _means(scores: list[SpeakerScore], greedy: str, lm: str) -> dict[str, float]:
    count = len(scores)
    return {
        "wer_greedy": round(sum(getattr(s, greedy) for s in scores) / count, 2),
        "wer_lm": round(sum(getattr(s, lm) for s in scores) / count, 2),
    }


def summary(scores: list[SpeakerScore]) -> dict:
    """Mean test WER (percent) over runs: ``{"wer_greedy", "wer_lm"}``; with ``--adapt``, the adapted
    models' means, and the plain ones under ``"before_adaptation"``."""
    plain = _means(scores, "test_greedy", "test_lm")
    if not _adapted(scores):
        return plain
    return {**_means(scores, "adapted_test_greedy", "adapted_test_lm"), "before_adaptation": plain}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("real_dir", help="folder holding fsdd/ (../shared/data/real)")
    parser.add_argument("out_dir", help="where tables, models and results.json go")
    parser.add_argument(
        "--test",
        default=None,
        help="TSV (path, transcript) of other speakers: train on all public ones and score it",
    )
    parser.add_argument("--folds", nargs="+", default=None, help="held-out speakers (default: every one)")
    parser.add_argument(
        "--seeds", nargs="+", type=int, default=[0], help="fine-tuning seeds (one run per fold and seed)"
    )
    parser.add_argument("--max_steps", type=int, default=FSDD_SPEAKER_UPDATES, help="updates per run")
    parser.add_argument(
        "--synthetic_voices",
        type=int,
        default=FSDD_SYNTHETIC_VOICES,
        help="add the ten digits in this many eSpeak voices to every training table (data.spoken_digits; "
        "0: none)",
    )
    parser.add_argument(
        "--adapt",
        action="store_true",
        help="then self-training on the test audio without its transcripts (transductive: see the module "
        "docstring; --adapt_rounds rounds); the summary line gives the adapted WER",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs (fold x seed) at once, each in its own process with an equal share of the CPU cores and "
        "its output in its run folder's log.txt (default 1: one after another, output here)",
    )
    parser.add_argument(
        "--adapt_rounds",
        type=int,
        default=1,
        help="self-training rounds of --adapt, each labelling the test audio with the previous round's model",
    )
    parser.add_argument(
        "--adapt_align",
        action="store_true",
        help="--adapt labels by distribution alignment: the pseudo-labels' digit counts follow the training "
        "table's (corrects a new voice's systematic confusions; self-train --align_transcripts)",
    )
    parser.epilog = "Options after -- go to `wav2vec-hf finetune` (they override the recipe's)."
    return parser


def main(argv: list[str]) -> int:
    """``fsdd-speakers REAL_DIR OUT_DIR [--test TSV] [--folds ...] [--seeds ...] [--max_steps N] [-- FINETUNE...]``."""
    split = argv.index("--") if "--" in argv else len(argv)
    args, extra = build_parser().parse_args(argv[:split]), argv[split + 1 :]
    out = Path(args.out_dir)
    try:
        if args.max_steps <= 0:
            raise ValueError(f"--max_steps must be positive, got {args.max_steps}")
        if args.test is not None:
            test = check_test_table(args.test).resolve()
            runs = [(all_speakers(args.real_dir, out), test)]
        else:
            runs = [(tables, tables.test) for tables in leave_one_speaker_out(args.real_dir, out, args.folds)]
        if args.synthetic_voices < 0:
            raise ValueError(f"--synthetic_voices must be >= 0, got {args.synthetic_voices}")
        if args.jobs < 1:
            raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
        if args.adapt_rounds < 1:
            raise ValueError(f"--adapt_rounds must be at least 1, got {args.adapt_rounds}")
        if args.adapt_rounds > 1 and not args.adapt:
            raise ValueError(f"--adapt_rounds {args.adapt_rounds} needs --adapt")
        if args.adapt_align and not args.adapt:
            raise ValueError("--adapt_align needs --adapt")
    except (ValueError, FileNotFoundError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    if args.synthetic_voices:
        from wav2vec_hf.recipes.spoken_digits import synthesize_digits

        synthetic = synthesize_digits(out / "synthetic_digits", args.synthetic_voices)
        for tables, _ in runs:
            add_training_rows(tables, synthetic)
    jobs = [
        RunJob(tables, test, out / tables.name / f"seed{seed}", seed, args.max_steps, tuple(extra),
               args.adapt_rounds if args.adapt else 0, args.adapt_align)
        for tables, test in runs
        for seed in args.seeds
    ]  # fmt: skip
    finished = {}
    for job, score, error, code in _run_jobs(jobs, args.jobs):
        if error is not None:
            print(f"{PROG}: error: {error}", file=sys.stderr)
            return code
        finished[job.run] = score
        print(f"{job.tables.name} seed {job.seed}: {json.dumps(asdict(score))}", flush=True)
    scores = [finished[job.run] for job in jobs]  # the table in fold and seed order, however they finished
    mean = summary(scores)
    (out / "results.json").write_text(
        json.dumps({"runs": [asdict(s) for s in scores], "mean": mean, "test": args.test}, indent=2) + "\n",
        encoding="utf-8",
    )
    print(format_table(scores))
    print(json.dumps(mean))
    return 0


__all__ = [
    "FSDD_SPEAKER_FINETUNE_ARGUMENTS",
    "FSDD_SPEAKER_UPDATES",
    "FSDD_SYNTHETIC_VOICES",
    "SpeakerScore",
    "SpeakerTables",
    "StepFailed",
    "adapt",
    "add_training_rows",
    "all_speakers",
    "check_test_table",
    "format_table",
    "leave_one_speaker_out",
    "main",
    "run_one",
    "summary",
    "with_adaptation",
]
