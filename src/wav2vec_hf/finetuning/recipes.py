"""Ready-made data splits for documented fine-tuning recipes.

FSDD (Free Spoken Digit Dataset; ``shared/data/real/fsdd``): 4 speakers x 10 digits x 50
recordings at 8 kHz, file names ``{digit}_{speaker}_{index}.wav``, transcripts ``ZERO`` .. ``NINE``.
FSDD's own convention holds out recordings 0-4 of every digit and speaker as the test set, so the
test speakers are the training speakers (held-out utterances, not held-out voices). FSDD has no
development set; this recipe holds out recordings 5-9 as one, so that checkpoint selection and LM
weights are chosen without looking at the test set::

    python -m wav2vec_hf.finetuning.recipes fsdd ../shared/data/real runs/fsdd-data
    wav2vec-hf finetune --model wav2vec2-small-cpu --from_scratch \\
        --train runs/fsdd-data/train.tsv --eval runs/fsdd-data/dev.tsv --output_dir runs/fsdd \\
        --max_steps 3000 --mask_time_prob 0.3 --mask_time_length 3 --mask_feature_prob 0.1 \\
        --mask_feature_length 16 --per_device_train_batch_size 32 --eval_steps 250 --save_steps 250
    wav2vec-hf build-lm --text runs/fsdd-data/lm_text.txt --order 2 --out runs/fsdd-lm --attach runs/fsdd
    wav2vec-hf tune-lm --model runs/fsdd --eval runs/fsdd-data/dev.tsv
    wav2vec-hf evaluate --model runs/fsdd --data runs/fsdd-data/dev.tsv runs/fsdd-data/test.tsv

(``FSDD_FINETUNE_ARGUMENTS`` holds the fine-tuning options.) The loader resamples the 8 kHz audio to
the model's 16 kHz. The LM text is the training transcripts (the ten digit words).
"""

from __future__ import annotations

import csv
import os
import re
import sys
from pathlib import Path

DIGIT_WORDS = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")
FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


FSDD_SPLITS = ("train", "dev", "test")
LM_TEXT_FILE = "lm_text.txt"

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
    """
    folder = Path(real_dir) / "fsdd"
    if set(test_indices) & set(dev_indices):
        raise ValueError(f"FSDD split: test indices {test_indices} and dev indices {dev_indices} overlap")
    rows: dict[str, list[tuple[str, str, str]]] = {split: [] for split in FSDD_SPLITS}
    for path in sorted(folder.glob("*.wav")):
        match = FSDD_NAME.match(path.name)
        if not match:
            continue
        digit, speaker, index = int(match.group(1)), match.group(2), int(match.group(3))
        split = "test" if index in test_indices else "dev" if index in dev_indices else "train"
        rows[split].append((str(path.resolve()), DIGIT_WORDS[digit], f"fsdd_{speaker}"))
    if not all(rows.values()):
        raise FileNotFoundError(
            f"{folder}: no FSDD recordings named '<digit>_<speaker>_<index>.wav' (or none for one split); "
            "point at the folder that holds fsdd/."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / LM_TEXT_FILE).write_text("".join(f"{text}\n" for _, text, _ in rows["train"]), encoding="utf-8")
    tables = []
    for split in FSDD_SPLITS:
        table = out / f"{split}.tsv"
        with table.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["path", "transcript", "speaker"])
            writer.writerows(rows[split])
        tables.append(table)
    return tables[0], tables[1], tables[2]


def main(argv: list[str] | None = None) -> int:
    """``python -m wav2vec_hf.finetuning.recipes fsdd REAL_DIR OUT_DIR``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] != "fsdd":
        print("usage: python -m wav2vec_hf.finetuning.recipes fsdd REAL_DIR OUT_DIR", file=sys.stderr)
        return 2
    train, dev, test = fsdd_split(argv[1], argv[2])
    print(f"FSDD split: {train}, {dev} and {test}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["DIGIT_WORDS", "FSDD_FINETUNE_ARGUMENTS", "FSDD_SPLITS", "LM_TEXT_FILE", "fsdd_split", "main"]
