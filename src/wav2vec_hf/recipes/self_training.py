"""Self-training on the built-in corpus: the paper's low-resource setting at CPU scale, in one command.

10 minutes of labelled speech and 60 minutes of unlabelled speech from the same voices (dev and
test voices are held out), a 4-gram LM over 20,000 sentences of the corpus grammar, and the demo's
pretrained 1.8M-parameter wav2vec 2.0 (``wav2vec2-small-cpu`` with the demo's overrides, 600
updates on the first 20 minutes of the unlabelled split: the demo's own pretraining run). Stage 1
fine-tunes it with CTC for 2,000 updates of 8 utterances with heavy time / channel masking; one
round pseudo-labels the unlabelled hour (beam 50 + 4-gram LM, neural-LM rescoring), keeps the 50%
most confident labels and fine-tunes the pretrained model again, same budget::

    python -m wav2vec_hf.recipes.self_training builtin runs/st-builtin

About 16 minutes on 2 quiet cores (pretraining 2, each fine-tuning 6.5, the rest 1). Rerunning the
command after a kill skips every step whose output is complete: the corpus, the pretrained model
and the finished self-training stages; a fine-tuning continues from its newest checkpoint (every
500 updates). Only the 2-minute pretraining restarts from update 0 when it is killed before its
export, as in the demo (it saves no intermediate checkpoints). The budget matters: with 1,000 updates per
fine-tuning the round lowered greedy dev WER but raised it with the LM.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

BUILTIN_CORPUS = {
    "unlabeled_minutes": 60.0,
    "labeled_minutes": 10.0,
    "dev_minutes": 2.0,
    "test_minutes": 2.0,
    "lm_sentences": 20_000,
}
BUILTIN_PRETRAIN_MINUTES = 20.0  # the demo's unlabelled split: the same utterances, in the same order
BUILTIN_PRETRAIN_SCALE = "tiny"  # the demo scale whose wav2vec 2.0 pretraining run is reused
BUILTIN_FINETUNE_ARGUMENTS = (
    "--mask_time_prob", "0.3", "--mask_time_length", "3",
    "--mask_feature_prob", "0.1", "--mask_feature_length", "16",
    "--max_steps", "2000", "--head_steps", "100", "--per_device_train_batch_size", "8",
    "--eval_steps", "500", "--save_steps", "500",
)  # fmt: skip
BUILTIN_KEEP_FRACTION = 0.5


def manifest_prefix(manifest: str | os.PathLike, minutes: float, out: str | os.PathLike) -> Path:
    """Write the shortest prefix of a fairseq manifest that holds at least ``minutes`` of audio.

    The built-in corpus makes each split the shortest prefix of its utterance sequence that reaches
    its minutes, so the prefix of a longer split equals the split of a corpus built with fewer minutes.

    Raises:
        ValueError: the manifest is shorter than ``minutes`` or a row has no sample count.
    """
    from wav2vec_hf.recipes.corpus import TARGET_SAMPLE_RATE

    lines = Path(manifest).read_text(encoding="utf-8").splitlines()
    kept, samples = lines[:1], 0
    for number, line in enumerate(lines[1:], start=2):
        if samples >= minutes * 60 * TARGET_SAMPLE_RATE:
            break
        fields = line.split("\t")
        if len(fields) != 2 or not fields[1].isdigit():
            raise ValueError(f"{manifest}, line {number}: expected 'path<TAB>num_samples', got {line!r}")
        kept.append(line)
        samples += int(fields[1])
    if samples < minutes * 60 * TARGET_SAMPLE_RATE:
        raise ValueError(
            f"{manifest}: {samples / TARGET_SAMPLE_RATE / 60:.1f} min of audio, fewer than the {minutes} min "
            "asked for; build the corpus with more unlabelled minutes."
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return out


def run_builtin_recipe(out_dir: str | os.PathLike, *, workers: int | None = None):
    """Build the corpus, pretrain, and self-train one round under ``out_dir``; the ``SelfTrainingResult``.

    Folders: ``corpus/`` (built-in corpus), ``pretrain/`` (the exported pretrained model),
    ``self-training/`` (the stages and ``results.md``).
    """
    from wav2vec_hf.pretraining.loop import SUMMARY_FILE
    from wav2vec_hf.recipes.corpus import build_corpus
    from wav2vec_hf.recipes.demo_steps.pretraining import (
        run_pretraining_command,
        wav2vec2_pretraining_arguments,
    )
    from wav2vec_hf.recipes.demo_steps.scales import get_scale
    from wav2vec_hf.selftraining.rounds import SelfTrainingConfig, run_self_training

    out = Path(out_dir)
    corpus = build_corpus(out / "corpus", **BUILTIN_CORPUS, num_workers=workers, progress=False)
    pretrained = out / "pretrain"
    if not (pretrained / SUMMARY_FILE).is_file():  # written after the export: the model is complete
        shutil.rmtree(pretrained, ignore_errors=True)  # a killed run's checkpoints would be refused
        table = manifest_prefix(corpus.manifest("unlabeled"), BUILTIN_PRETRAIN_MINUTES, out / "pretrain.tsv")
        scale = get_scale(BUILTIN_PRETRAIN_SCALE)
        run_pretraining_command(
            wav2vec2_pretraining_arguments(scale, table, corpus.manifest("dev"), pretrained, seed=0)
        )
    config = SelfTrainingConfig(
        pretrained=str(pretrained),
        labeled=str(corpus.manifest("labeled")),
        unlabeled=str(corpus.manifest("unlabeled")),
        dev=str(corpus.manifest("dev")),
        test=str(corpus.manifest("test")),
        lm_text=[str(corpus.root / "lm_text.txt")],
        output_dir=str(out / "self-training"),
        keep_fraction=BUILTIN_KEEP_FRACTION,
        finetune_args=list(BUILTIN_FINETUNE_ARGUMENTS),
    )
    return run_self_training(config)


def main(argv: list[str] | None = None) -> int:
    """``python -m wav2vec_hf.recipes.self_training builtin OUT_DIR``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] != "builtin":
        print("usage: python -m wav2vec_hf.recipes.self_training builtin OUT_DIR", file=sys.stderr)
        return 2
    from wav2vec_hf.run_lock import RunLockError, hold_run_lock

    try:
        with hold_run_lock(argv[1], prog="wav2vec_hf.recipes.self_training"):  # one run per folder
            result = run_builtin_recipe(argv[1])
    except RunLockError as error:
        print(f"wav2vec_hf.recipes.self_training: error: {error}", file=sys.stderr)
        return 2
    print(f"table: {result.table_path.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "BUILTIN_CORPUS",
    "BUILTIN_FINETUNE_ARGUMENTS",
    "BUILTIN_KEEP_FRACTION",
    "BUILTIN_PRETRAIN_MINUTES",
    "BUILTIN_PRETRAIN_SCALE",
    "main",
    "manifest_prefix",
    "run_builtin_recipe",
]
