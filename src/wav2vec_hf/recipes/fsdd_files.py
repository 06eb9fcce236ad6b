"""The FSDD recordings of ../shared/data/real and the tables the FSDD recipes write, shared by both
recipes (``recipes``: seen speakers; ``speaker_recipe``: unseen ones)."""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from wav2vec_hf.recipes.spoken_digits import DIGIT_WORDS

FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
"""FSDD file names: ``<digit>_<speaker>_<recording index>.wav``."""
LM_TEXT_FILE = "lm_text.txt"
"""The LM text file a recipe writes beside its tables."""


def fsdd_recordings(real_dir: str | os.PathLike) -> list[tuple[str, str, str, int]]:
    """``[(absolute path, transcript, "fsdd_<speaker>", recording index), ...]`` of ``real_dir/fsdd``,
    sorted by file name (files not named ``<digit>_<speaker>_<index>.wav`` are ignored)."""
    rows = []
    for path in sorted((Path(real_dir) / "fsdd").glob("*.wav")):
        match = FSDD_NAME.match(path.name)
        if match:
            digit, speaker, index = int(match.group(1)), match.group(2), int(match.group(3))
            rows.append((str(path.resolve()), DIGIT_WORDS[digit], f"fsdd_{speaker}", index))
    return rows


def write_table(path: Path, rows) -> Path:
    """A ``path / transcript / speaker`` TSV (what ``open_audio_source`` reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["path", "transcript", "speaker"])
        writer.writerows(row[:3] for row in rows)
    return path


__all__ = ["FSDD_NAME", "LM_TEXT_FILE", "fsdd_recordings", "write_table"]
