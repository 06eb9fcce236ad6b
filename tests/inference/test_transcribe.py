"""``wav2vec-hf transcribe``: transcripts in input order, TSV / JSONL with timestamps, bad files."""

from __future__ import annotations

import csv
import json

import soundfile as sf

from wav2vec_hf.cli import main
from wav2vec_hf.data import open_audio_source


def test_transcribe_prints_and_writes_tsv_and_jsonl_with_word_timestamps(
    ctc_folders, escape_run, real_data_dir, tmp_path, capsys
):
    dev = [record.path for record in open_audio_source(escape_run.corpus / "dev.tsv")][:3]
    files = [*dev, str(real_data_dir / "fsdd" / "7_george_3.wav")]
    tsv, jsonl = tmp_path / "out.tsv", tmp_path / "out.jsonl"
    code = main(["transcribe", str(ctc_folders["wav2vec2"]), *files, "--batch-size", "2",
                 "--timestamps", "word", "--tsv", str(tsv), "--jsonl", str(jsonl)])  # fmt: skip
    assert code == 0
    captured = capsys.readouterr()
    printed = [line.split("\t") for line in captured.out.strip().splitlines()]
    assert [row[0] for row in printed] == files
    assert "transcribing" in captured.err  # the progress bar
    results = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["path"] for r in results] == files
    assert [r["text"] for r in results] == [row[1] if len(row) > 1 else "" for row in printed]
    rows = list(csv.DictReader(tsv.open(), delimiter="\t"))
    expected = [(r["path"], c["text"], f"{c['start']:.3f}") for r in results for c in r.get("chunks", [])]
    assert [(row["path"], row["text"], row["start"]) for row in rows] == expected
    assert len(rows) >= 3
    for result in results:
        duration = sf.info(result["path"]).duration
        assert all(0 <= c["start"] <= c["end"] <= duration + 1e-6 for c in result.get("chunks", []))


def test_transcribe_reports_unreadable_files(ctc_folders, escape_run, tmp_path, capsys):
    good = next(iter(open_audio_source(escape_run.corpus / "dev.tsv"))).path
    missing = str(tmp_path / "gone.wav")
    assert main(["transcribe", str(ctc_folders["wav2vec"]), good, missing, "--no-progress"]) == 2
    assert "gone.wav" in capsys.readouterr().err
    code = main(["transcribe", str(ctc_folders["vq-wav2vec"]), good, missing, "--skip-bad", "--no-progress"])
    assert code == 1
    captured = capsys.readouterr()
    assert captured.out.startswith(good) and "1 of 2 files could not be transcribed" in captured.err
