"""Ready-made data splits for documented fine-tuning recipes.

FSDD (Free Spoken Digit Dataset; ``shared/data/real/fsdd``): 4 speakers x 10 digits x 50
recordings at 8 kHz, file names ``{digit}_{speaker}_{index}.wav``, transcripts ``ZERO`` .. ``NINE``.
FSDD's own convention holds out recordings 0-4 of every digit and speaker as the test set, so the
test speakers are the training speakers (held-out utterances, not held-out voices). FSDD has no
development set; this recipe holds out recordings 5-9 as one, so that checkpoint selection and LM
weights are chosen without looking at the test set::

    python -m wav2vec_hf.recipes.fsdd fsdd ../shared/data/real runs/fsdd-data
    wav2vec-hf finetune --model wav2vec2-small-cpu --from_scratch \\
        --train runs/fsdd-data/train.tsv --eval runs/fsdd-data/dev.tsv --output_dir runs/fsdd \\
        --max_steps 3000 --mask_time_prob 0.3 --mask_time_length 3 --mask_feature_prob 0.1 \\
        --mask_feature_length 16 --per_device_train_batch_size 32 --eval_steps 250 --save_steps 250
    wav2vec-hf build-lm --text runs/fsdd-data/lm_text.txt --order 2 --out runs/fsdd-lm --attach runs/fsdd
    wav2vec-hf tune-lm --model runs/fsdd --eval runs/fsdd-data/dev.tsv
    wav2vec-hf evaluate --model runs/fsdd --data runs/fsdd-data/dev.tsv runs/fsdd-data/test.tsv

(``FSDD_FINETUNE_ARGUMENTS`` holds the fine-tuning options.) Those test speakers are the training
speakers; ``fsdd-speakers`` (``speaker_recipe``) scores voices the model never heard. The loader resamples the 8 kHz audio to
the model's 16 kHz. The LM text is the training transcripts (the ten digit words).
"""

from __future__ import annotations

import csv
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from wav2vec_hf.recipes.fsdd_files import LM_TEXT_FILE, fsdd_recordings, write_table
from wav2vec_hf.recipes.spoken_digits import DIGIT_WORDS

FSDD_SPLITS = ("train", "dev", "test")

# Fine-tuning a 1.8M-parameter wav2vec 2.0 from scratch on 27 minutes of digits: the random conv
# feature encoder is trained (the default for random weights) and the heavy time / channel masking
# keeps the Transformer from memorising the four voices (dev loss 0.55 -> 0.30 in our runs).
FSDD_FINETUNE_ARGUMENTS = (
    "--model", "wav2vec2-small-cpu", "--from_scratch",
    "--mask_time_prob", "0.3", "--mask_time_length", "3",
    "--mask_feature_prob", "0.1", "--mask_feature_length", "16",
    "--max_steps", "3000", "--head_steps", "200", "--per_device_train_batch_size", "32",
    "--eval_steps", "250", "--save_steps", "250",
)  # fmt: skip

# The low-resource recipe (200 labelled recordings): pretrain on all the training audio, fine-tune the
# pretrained model (feature encoder trained too: at this size freezing it costs 12.5% -> 31.5% dev WER),
# then self-train on the other 1,400 recordings, keeping the 60% most confident pseudo-labels.
FSDD_PRETRAIN_ARGUMENTS = (
    "--model_type", "wav2vec2", "--preset", "wav2vec2-small-cpu", "--max_steps", "1000",
    "--eval_steps", "100", "--cache_audio", "true",
)  # fmt: skip
FSDD_LOW_RESOURCE_FINETUNE_ARGUMENTS = (
    "--freeze_feature_encoder", "false",
    "--mask_time_prob", "0.3", "--mask_time_length", "3",
    "--mask_feature_prob", "0.1", "--mask_feature_length", "16",
    "--max_steps", "1000", "--head_steps", "200", "--per_device_train_batch_size", "32",
    "--eval_steps", "200", "--save_steps", "200",
)  # fmt: skip
FSDD_SELF_TRAINING_KEEP_FRACTION = 0.6


def _fsdd_rows(
    real_dir: str | os.PathLike, test_indices: range, dev_indices: range
) -> dict[str, list[tuple[str, str, str, int]]]:
    """``{split: [(absolute path, transcript, speaker, recording index), ...]}`` of FSDD."""
    folder = Path(real_dir) / "fsdd"
    if set(test_indices) & set(dev_indices):
        raise ValueError(f"FSDD split: test indices {test_indices} and dev indices {dev_indices} overlap")
    rows: dict[str, list[tuple[str, str, str, int]]] = {split: [] for split in FSDD_SPLITS}
    for row in fsdd_recordings(real_dir):
        index = row[3]
        split = "test" if index in test_indices else "dev" if index in dev_indices else "train"
        rows[split].append(row)
    if not all(rows.values()):
        raise FileNotFoundError(
            f"{folder}: no FSDD recordings named '<digit>_<speaker>_<index>.wav' (or none for one split); "
            "point at the folder that holds fsdd/."
        )
    return rows


def fsdd_split(
    real_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    test_indices: range = range(5),
    dev_indices: range = range(5, 10),
) -> tuple[Path, Path, Path]:
    """Write ``train.tsv``, ``dev.tsv`` and ``test.tsv`` transcript tables for FSDD (absolute paths),
    and ``lm_text.txt`` (the training transcripts, one per line) for an n-gram LM.

    Args:
        real_dir: the folder holding ``fsdd/`` (``shared/data/real``).
        out_dir: where the tables go (created).
        test_indices: recording indices held out for testing (FSDD's convention: 0-4).
        dev_indices: recording indices held out for model selection and LM tuning (this recipe's: 5-9).

    Returns:
        ``(train_table, dev_table, test_table)``.

    Raises:
        FileNotFoundError: no FSDD recordings under ``real_dir/fsdd``.
        ValueError: the test and dev indices overlap.
    """
    rows = _fsdd_rows(real_dir, test_indices, dev_indices)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / LM_TEXT_FILE).write_text("".join(f"{row[1]}\n" for row in rows["train"]), encoding="utf-8")
    train, dev, test = (write_table(out / f"{split}.tsv", rows[split]) for split in FSDD_SPLITS)
    return train, dev, test


@dataclass(frozen=True)
class LowResourceTables:
    """The tables of the low-resource FSDD recipe (pretraining, fine-tuning and self-training).

    Attributes:
        labeled: the few labelled training recordings (default: 10-14 of every digit and speaker, 200).
        unlabeled: the other training recordings (1,400). Their transcripts stay in the table so that
            self-training can report the pseudo-labels' WER; it never trains on them.
        pretrain: every training recording plus the real unlabelled speech (``unlabeled.tsv`` beside
            ``fsdd/``), without transcripts, for self-supervised pretraining.
    """

    labeled: Path
    unlabeled: Path
    pretrain: Path


def fsdd_low_resource_split(
    real_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    labeled_indices: range = range(10, 15),
    test_indices: range = range(5),
    dev_indices: range = range(5, 10),
) -> LowResourceTables:
    """Write ``labeled.tsv``, ``unlabeled.tsv`` and ``pretrain.tsv`` (see ``LowResourceTables``); the
    dev and test tables are those of ``fsdd_split`` (call it too).

    Raises:
        FileNotFoundError / ValueError: as ``fsdd_split``; also when ``labeled_indices`` leave no
            labelled or no unlabelled training recording.
    """
    rows = _fsdd_rows(real_dir, test_indices, dev_indices)["train"]
    labeled = [row for row in rows if row[3] in labeled_indices]
    unlabeled = [row for row in rows if row[3] not in labeled_indices]
    if not labeled or not unlabeled:
        raise ValueError(
            f"FSDD low-resource split: labelled indices {labeled_indices} leave {len(labeled)} labelled and "
            f"{len(unlabeled)} unlabelled training recordings; choose indices among 10-49."
        )
    pretrain = [(path, "", speaker) for path, _, speaker, _ in rows]
    extra = Path(real_dir) / "unlabeled.tsv"
    if extra.is_file():
        with extra.open(encoding="utf-8", newline="") as handle:
            for record in csv.DictReader(handle, delimiter="\t"):
                pretrain.append(
                    (str((Path(real_dir) / record["path"]).resolve()), "", record.get("speaker", ""))
                )
    out = Path(out_dir)
    return LowResourceTables(
        labeled=write_table(out / "labeled.tsv", labeled),
        unlabeled=write_table(out / "unlabeled.tsv", unlabeled),
        pretrain=write_table(out / "pretrain.tsv", pretrain),
    )


USAGE = (
    "usage: python -m wav2vec_hf.recipes.fsdd fsdd REAL_DIR OUT_DIR\n"
    "       python -m wav2vec_hf.recipes.fsdd fsdd-speakers REAL_DIR OUT_DIR [--test TSV] [...] (--help)"
)


def main(argv: list[str] | None = None) -> int:
    """``fsdd REAL_DIR OUT_DIR`` (write the tables) or ``fsdd-speakers ...`` (``speaker_recipe``: unseen voices)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["fsdd-speakers"]:
        from wav2vec_hf.recipes.fsdd_speakers import main as speakers

        return speakers(argv[1:])
    if len(argv) != 3 or argv[0] != "fsdd":
        print(USAGE, file=sys.stderr)
        return 2
    train, dev, test = fsdd_split(argv[1], argv[2])
    low = fsdd_low_resource_split(argv[1], argv[2])
    print(
        f"FSDD split: {train}, {dev} and {test}; low-resource: {low.labeled}, {low.unlabeled}, {low.pretrain}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "DIGIT_WORDS",
    "FSDD_FINETUNE_ARGUMENTS",
    "FSDD_LOW_RESOURCE_FINETUNE_ARGUMENTS",
    "FSDD_PRETRAIN_ARGUMENTS",
    "FSDD_SELF_TRAINING_KEEP_FRACTION",
    "FSDD_SPLITS",
    "LM_TEXT_FILE",
    "LowResourceTables",
    "fsdd_low_resource_split",
    "fsdd_recordings",
    "fsdd_split",
    "main",
    "write_table",
]
