"""A 1,000-row manifest with 100 bad files (missing, empty, corrupt, too short): the screen shows
counts by reason and a few examples, ``OUTPUT_DIR/bad_files.tsv`` lists every bad file with its reason
(``--on_bad skip`` and ``--on_bad raise`` alike)."""

from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.pretraining.support import run
from wav2vec_hf.data import DataValidationError

GOOD, PER_REASON = 900, 25
SHORT = 200  # samples: below wav2vec2-tiny's receptive field (400)
EXPECTED = {
    "missing_file": PER_REASON,
    "empty": PER_REASON,
    "unreadable": PER_REASON,
    "too_short": PER_REASON,
}


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> tuple[Path, set[tuple[str, str]]]:
    """A fairseq manifest of 1,000 rows, and the (file, reason) of its 100 bad ones."""
    root = tmp_path_factory.mktemp("million-file-manifest")
    rng = np.random.default_rng(0)
    rows, bad = [str(root)], set()
    for index in range(GOOD):
        name = f"good/{index:04d}.wav"
        (root / name).parent.mkdir(exist_ok=True)
        soundfile.write(root / name, rng.standard_normal(8000).astype(np.float32) * 0.1, 16000)
        rows.append(f"{name}\t8000")
    for index in range(PER_REASON):
        for reason, samples in (
            ("missing_file", 8000),
            ("empty", 0),
            ("unreadable", 8000),
            ("too_short", SHORT),
        ):
            name = f"{reason}/{index:04d}.wav"
            path = root / name
            path.parent.mkdir(exist_ok=True)
            if reason == "empty":
                soundfile.write(path, np.zeros(0, np.float32), 16000)
            elif reason == "unreadable":
                path.write_bytes(b"RIFF not a wave file" * 10)
            elif reason == "too_short":
                soundfile.write(path, rng.standard_normal(SHORT).astype(np.float32) * 0.1, 16000)
            rows.append(f"{name}\t{samples}")
            bad.add((str(path), reason))
    table = root / "train.tsv"
    table.write_text("\n".join(rows) + "\n")
    return table, bad


def argv(table: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        "--model_type", "wav2vec2",
        "--preset", "wav2vec2-tiny",
        "--train", str(table),
        "--output_dir", str(output_dir),
        "--segment_seconds", "0",
        "--max_steps", "1",
        "--max_batch_samples", "64000",
        "--progress_bar", "false",
        "--report_to", "none",
        "--plots", "false",
        *extra,
    ]  # fmt: skip


def read_table(path: Path) -> set[tuple[str, str]]:
    header, *rows = path.read_text().splitlines()
    assert header.split("\t") == ["path", "reason", "source", "message"]
    return {tuple(row.split("\t")[:2]) for row in rows}


def test_skipped_bad_files_go_to_a_table_and_the_screen_gets_counts(manifest, tmp_path, capsys):
    table, bad = manifest
    result = run(argv(table, tmp_path / "out", "--on_bad", "skip"))
    assert result.updates == 1
    report_file = tmp_path / "out" / "bad_files.tsv"
    assert result.bad_files == report_file
    assert read_table(report_file) == bad  # every bad file, each with its reason

    out = capsys.readouterr().out
    data_lines = [line for line in out.splitlines() if line.startswith(("data", "    "))]
    # One head line, at most 3 examples + "... N more" per reason, the table's path, the end summary.
    assert len(data_lines) <= 1 + 4 * 4 + 1 + 2, out
    assert "100 of 1000 bad (" in out and all(
        f"{reason} {count}" in out for reason, count in EXPECTED.items()
    )
    assert f"every bad file, with its reason: {report_file}" in out
    assert "data skipped: train: 100 (missing_file 25, empty 25, unreadable 25, too_short 25)" in out
    shown = {
        line.split(": ")[1].split()[0]
        for line in data_lines
        if line.startswith("    ") and "more" not in line
    }
    assert len(shown) == 4 * 3  # 3 example files per reason, not 100 lines


def test_refused_bad_files_go_to_a_table_named_by_the_error(manifest, tmp_path):
    table, bad = manifest
    with pytest.raises(
        DataValidationError, match=r"Every bad file, with its reason: .*bad_files\.tsv"
    ) as caught:
        run(argv(table, tmp_path / "out"))
    assert len(str(caught.value).splitlines()) < 40  # counts and 5 examples per reason, not 100 lines
    assert read_table(tmp_path / "out" / "bad_files.tsv") == bad
    assert not (tmp_path / "out" / "checkpoints").exists()
