"""Manifest formats: fairseq .tsv + .wrd/.ltr, TSV/CSV/JSONL tables, audio folders, through open_audio_source."""

from __future__ import annotations

import json

import pytest

from tests.data.audio_files import write_tone
from wav2vec_hf.data import AudioSet, ManifestError, open_audio_source
from wav2vec_hf.data.records import (
    is_fairseq_manifest,
    ltr_to_words,
    read_fairseq_manifest,
    read_transcript_table,
    scan_audio_folder,
)

LENGTHS = {"a/one.wav": (1600, 16000), "a/two.wav": (4000, 8000), "b/three.flac": (22050, 22050)}
WORDS = {"a/one.wav": "HELLO WORLD", "a/two.wav": "IT'S ME", "b/three.flac": "A"}


@pytest.fixture
def audio_root(tmp_path):
    root = tmp_path / "audio"
    for relative, (frames, rate) in LENGTHS.items():
        write_tone(root / relative, frames, rate=rate)
    return root


def write_fairseq(folder, root, rows, stem="train"):
    manifest = folder / f"{stem}.tsv"
    manifest.write_text(str(root) + "\n" + "".join(f"{p}\t{n}\n" for p, n in rows), encoding="utf-8")
    return manifest


def test_ltr_lines_become_words():
    assert ltr_to_words("H E L L O | W O R L D |") == "HELLO WORLD"
    assert ltr_to_words("I T ' S | M E |") == "IT'S ME"
    assert ltr_to_words("") == ""


def test_fairseq_manifest_with_wrd_labels(tmp_path, audio_root):
    rows = [(p, n) for p, (n, _) in LENGTHS.items()]
    manifest = write_fairseq(tmp_path, audio_root, rows)
    (tmp_path / "train.wrd").write_text("".join(f"{WORDS[p]}\n" for p, _ in rows), encoding="utf-8")
    # A .ltr beside it must lose to the .wrd.
    (tmp_path / "train.ltr").write_text("X |\nX |\nX |\n", encoding="utf-8")
    assert is_fairseq_manifest(manifest)
    source = open_audio_source(manifest)
    assert isinstance(source, AudioSet) and len(source) == 3
    assert [r.id for r in source] == ["a/one", "a/two", "b/three"]
    assert [r.transcript for r in source] == [WORDS[p] for p, _ in rows]
    assert [(r.num_samples, r.sample_rate) for r in source] == list(LENGTHS.values())
    assert source[1].path == str(audio_root / "a/two.wav")


def test_fairseq_manifest_with_ltr_labels_and_relative_root(tmp_path, audio_root):
    rows = [(p, n) for p, (n, _) in LENGTHS.items()]
    manifest = tmp_path / "valid.tsv"
    manifest.write_text(
        "audio\n" + "".join(f"{p}\t{n}\n" for p, n in rows), encoding="utf-8"
    )  # relative root
    letters = ["H E L L O | W O R L D |", "I T ' S | M E |", "A |"]
    (tmp_path / "valid.ltr").write_text("\n".join(letters) + "\n", encoding="utf-8")
    entries = read_fairseq_manifest(manifest)
    assert [e.transcript for e in entries] == ["HELLO WORLD", "IT'S ME", "A"]
    assert entries[0].origin == f"{manifest}:2"


def test_fairseq_manifest_without_labels_is_unlabeled(tmp_path, audio_root):
    manifest = write_fairseq(tmp_path, audio_root, [("a/one.wav", 1600)])
    assert open_audio_source(manifest)[0].transcript is None


def test_fairseq_label_file_with_wrong_line_count_names_both_files(tmp_path, audio_root):
    manifest = write_fairseq(tmp_path, audio_root, [("a/one.wav", 1600), ("a/two.wav", 4000)])
    (tmp_path / "train.wrd").write_text("ONLY ONE\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"train\.wrd: has 1 lines but .*train\.tsv has 2 rows"):
        read_fairseq_manifest(manifest)


def test_malformed_fairseq_row_and_missing_root(tmp_path, audio_root):
    bad_row = tmp_path / "bad.tsv"
    bad_row.write_text(f"{audio_root}\na/one.wav\tlots\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"bad\.tsv:2: expected 'relative_path<TAB>num_samples'"):
        read_fairseq_manifest(bad_row)
    no_root = tmp_path / "noroot.tsv"
    no_root.write_text("/nowhere/at/all\na/one.wav\t1600\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"noroot\.tsv:1: root folder '/nowhere/at/all' does not exist"):
        read_fairseq_manifest(no_root)


def test_tsv_csv_and_jsonl_tables_give_the_same_records(tmp_path, audio_root):
    tsv = audio_root / "list.tsv"
    tsv.write_text(
        "path\tspeaker\ttranscript\n" + "".join(f"{p}\tspk{i}\t{WORDS[p]}\n" for i, p in enumerate(LENGTHS)),
        encoding="utf-8",
    )
    csv_file = audio_root / "list.csv"
    csv_file.write_text(
        "file_name,text,speaker_id\n" + "".join(f'{p},"{WORDS[p]}",spk{i}\n' for i, p in enumerate(LENGTHS)),
        encoding="utf-8",
    )
    jsonl = audio_root / "list.jsonl"
    jsonl.write_text(
        "".join(
            json.dumps({"audio": p, "sentence": WORDS[p], "speaker": f"spk{i}"}) + "\n"
            for i, p in enumerate(LENGTHS)
        ),
        encoding="utf-8",
    )
    results = [open_audio_source(table) for table in (tsv, csv_file, jsonl)]
    expected = [(p.rsplit(".", 1)[0], WORDS[p], f"spk{i}", LENGTHS[p][0]) for i, p in enumerate(LENGTHS)]
    for source in results:
        assert [(r.id, r.transcript, r.speaker, r.num_samples) for r in source] == expected


def test_table_with_empty_transcripts_is_unlabeled_and_quotes_survive_in_tsv(tmp_path, audio_root):
    table = tmp_path / "mixed.tsv"
    table.write_text(
        f'path\ttranscript\n{audio_root}/a/one.wav\t\n{audio_root}/a/two.wav\tSHE SAID "HI"\n',
        encoding="utf-8",
    )
    records = open_audio_source(table)
    assert records[0].transcript is None
    assert records[1].transcript == 'SHE SAID "HI"'


def test_one_column_table_is_not_taken_for_a_fairseq_manifest(tmp_path, audio_root):
    table = tmp_path / "paths.tsv"
    table.write_text(f"path\n{audio_root}/a/one.wav\n", encoding="utf-8")
    assert not is_fairseq_manifest(table)
    assert [r.num_samples for r in open_audio_source(table)] == [1600]


def test_table_errors_name_the_file_line_and_fix(tmp_path):
    no_path = tmp_path / "nopath.csv"
    no_path.write_text("name,text\nx.wav,HI\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"nopath\.csv: no audio path column among \['name', 'text'\]"):
        read_transcript_table(no_path)
    bad_int = tmp_path / "badint.tsv"
    bad_int.write_text("path\tnum_samples\nx.wav\tmany\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"badint\.tsv:2: column 'num_samples' must be an integer"):
        read_transcript_table(bad_int)
    bad_json = tmp_path / "bad.jsonl"
    bad_json.write_text('{"path": "x.wav"}\n{oops\n', encoding="utf-8")
    with pytest.raises(ManifestError, match=r"bad\.jsonl:2: not valid JSON"):
        read_transcript_table(bad_json)
    with pytest.raises(ManifestError, match="no column 'words'"):
        read_transcript_table(no_path, path_column="name", text_column="words")


def test_folder_scan_with_and_without_transcripts(tmp_path, audio_root):
    unlabeled = open_audio_source(audio_root)
    assert [r.id for r in unlabeled] == ["a/one", "a/two", "b/three"]
    assert all(r.transcript is None for r in unlabeled)
    table = tmp_path / "only_two.tsv"
    table.write_text("path\ttext\na/two.wav\tIT'S ME\n", encoding="utf-8")
    labeled = open_audio_source(audio_root, transcripts=table)
    assert [(r.id, r.transcript) for r in labeled] == [("a/two", "IT'S ME")]


def test_audiofolder_metadata_layout_is_read_natively(tmp_path, audio_root):
    (audio_root / "metadata.csv").write_text(
        "file_name,transcription\n" + "".join(f"{p},{WORDS[p]}\n" for p in LENGTHS), encoding="utf-8"
    )
    source = open_audio_source(audio_root)
    assert [r.transcript for r in source] == [WORDS[p] for p in LENGTHS]
    assert len(scan_audio_folder(audio_root)) == 3


def test_unknown_inputs_are_refused_clearly(tmp_path, audio_root):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        open_audio_source(tmp_path / "nothing.tsv")
    with pytest.raises(ManifestError, match="for a single file use load_audio"):
        open_audio_source(audio_root / "a/one.wav")
    empty = tmp_path / "empty_folder"
    empty.mkdir()
    with pytest.raises(ManifestError, match="no audio files"):
        open_audio_source(empty)
    with pytest.raises(ValueError, match="cannot open int"):
        open_audio_source(42)


def test_wrd_and_ltr_that_disagree_are_reported_with_line_numbers(tmp_path, audio_root, caplog):
    rows = [(p, n) for p, (n, _) in LENGTHS.items()]
    manifest = write_fairseq(tmp_path, audio_root, rows)
    (tmp_path / "train.wrd").write_text("".join(f"{WORDS[p]}\n" for p, _ in rows), encoding="utf-8")
    (tmp_path / "train.ltr").write_text("H E L L O | W O R L D |\nI T S | M E |\nB |\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="wav2vec_hf.data"):
        source = open_audio_source(manifest)
    assert [r.transcript for r in source] == [WORDS[p] for p, _ in rows]  # the words win
    (message,) = [r.getMessage() for r in caplog.records if "disagree" in r.getMessage()]
    assert "disagree on 2 of 3 lines" in message
    assert "line 2: \"IT'S ME\" vs 'ITS ME'; line 3: 'A' vs 'B'" in message
