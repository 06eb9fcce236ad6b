"""Ready-made data splits for documented fine-tuning recipes.

FSDD (Free Spoken Digit Dataset; ``shared/data/real/fsdd``): 4 speakers x 10 digits x 50
recordings at 8 kHz, file names ``{digit}_{speaker}_{index}.wav``, transcripts ``ZERO`` .. ``NINE``.
FSDD's own convention holds out recordings 0-4 of every digit and speaker as the test set, so the
test speakers are the training speakers (held-out utterances, not held-out voices)::

    python -m wav2vec_hf.finetuning.recipes fsdd ../shared/data/real runs/fsdd-data
    wav2vec-hf finetune --model wav2vec2-small-cpu --from_scratch \\
        --train runs/fsdd-data/train.tsv --eval runs/fsdd-data/test.tsv --output_dir runs/fsdd \\
        --max_steps 1500 --head_steps 200 --per_device_train_batch_size 32 --eval_steps 250 --save_steps 250

The loader resamples the 8 kHz audio to the model's 16 kHz.
"""

from __future__ import annotations

import csv
import os
import re
import sys
from pathlib import Path

DIGIT_WORDS = ("ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE")
FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def fsdd_split(
    real_dir: str | os.PathLike, out_dir: str | os.PathLike, *, test_indices: range = range(5)
) -> tuple[Path, Path]:
    """Write ``train.tsv`` and ``test.tsv`` transcript tables for FSDD (absolute paths).

    Args:
        real_dir: the folder holding ``fsdd/`` (``shared/data/real``).
        out_dir: where the two tables go (created).
        test_indices: recording indices held out for testing (FSDD's convention: 0-4).

    Returns:
        ``(train_table, test_table)``.

    Raises:
        FileNotFoundError: no FSDD recordings under ``real_dir/fsdd``.
    """
    folder = Path(real_dir) / "fsdd"
    rows: dict[str, list[tuple[str, str, str]]] = {"train": [], "test": []}
    for path in sorted(folder.glob("*.wav")):
        match = FSDD_NAME.match(path.name)
        if not match:
            continue
        digit, speaker, index = int(match.group(1)), match.group(2), int(match.group(3))
        split = "test" if index in test_indices else "train"
        rows[split].append((str(path.resolve()), DIGIT_WORDS[digit], f"fsdd_{speaker}"))
    if not rows["train"] or not rows["test"]:
        raise FileNotFoundError(
            f"{folder}: no FSDD recordings named '<digit>_<speaker>_<index>.wav' (or none for one split); "
            "point at the folder that holds fsdd/."
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = []
    for split in ("train", "test"):
        table = out / f"{split}.tsv"
        with table.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["path", "transcript", "speaker"])
            writer.writerows(rows[split])
        tables.append(table)
    return tables[0], tables[1]


def main(argv: list[str] | None = None) -> int:
    """``python -m wav2vec_hf.finetuning.recipes fsdd REAL_DIR OUT_DIR``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3 or argv[0] != "fsdd":
        print("usage: python -m wav2vec_hf.finetuning.recipes fsdd REAL_DIR OUT_DIR", file=sys.stderr)
        return 2
    train, test = fsdd_split(argv[1], argv[2])
    print(f"FSDD split: {train} and {test}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["DIGIT_WORDS", "fsdd_split", "main"]
