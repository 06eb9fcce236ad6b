"""``bad_files``: every bad file to a table, a screen summary bounded by the reasons, not the files."""

from wav2vec_hf.data.bad_files import bad_files_summary, write_bad_files
from wav2vec_hf.data.validation import SkipReport


def test_ten_thousand_bad_files_give_a_few_screen_lines_and_a_full_table(tmp_path):
    report = SkipReport(source="train.tsv", seen=1_000_000)
    for index in range(10_000):
        reason = ("missing_file", "empty", "unreadable")[index % 3]
        report.add(reason, f"/data/{index}.wav", f"/data/{index}.wav: bad\tfile\n({reason})")
    report.add("missing_file", "/data/0.wav", "again")  # met twice (e.g. by two processes): one row
    table = write_bad_files(tmp_path / "out" / "bad_files.tsv", [report])

    header, *rows = table.read_text().splitlines()
    assert header == "path\treason\tsource\tmessage"
    assert len(rows) == 10_000 and rows[1] == "/data/1.wav\tempty\ttrain.tsv\t/data/1.wav: bad file (empty)"
    assert not list(table.parent.glob(".*.tmp"))  # written atomically

    summary = bad_files_summary([report], table).splitlines()
    assert (
        summary[0] == "data: train.tsv: 10001 of 1000000 bad (missing_file 3335, empty 3333, unreadable 3333)"
    )
    assert len(summary) == 1 + 3 * (3 + 1) + 1  # head, 3 examples and "... N more" per reason, the table
    assert "    empty: ... 3330 more" in summary and summary[-1].endswith(str(table))
    assert bad_files_summary([SkipReport(source="clean")], table) == ""  # nothing bad: nothing on screen
