"""Every bad file of a run in one table; on screen, counts and a few examples only.

A million-file manifest can hold thousands of bad files: one log line each would bury the run's
output, and five examples per reason lose the rest. ``write_bad_files`` writes every bad file
(``SkipReport.failures``) with its reason to ``OUTPUT_DIR/bad_files.tsv``; ``bad_files_summary``
gives the few lines for the screen: counts by reason, the first examples, the table's path.

The table is tab-separated, one header line, then one row per bad file:
``path  reason  source  message`` (tabs and line breaks inside a message become spaces).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from wav2vec_hf.data.validation import SkipReport

BAD_FILES_NAME = "bad_files.tsv"
COLUMNS = ("path", "reason", "source", "message")
SCREEN_EXAMPLES = 3
"""Example files shown on screen per reason (the table holds every one)."""


def _cell(text: str) -> str:
    return " ".join(str(text).split())


def bad_file_rows(reports: Iterable[SkipReport]) -> list[tuple[str, str, str, str]]:
    """Every bad file of ``reports`` as ``(path, reason, source, message)``, each (path, reason)
    once (several processes, epochs or splits may meet the same file)."""
    rows, seen = [], set()
    for report in reports:
        for reason, path, message in report.failures:
            if (path, reason) in seen:
                continue
            seen.add((path, reason))
            rows.append((_cell(path), reason, _cell(report.source), _cell(message)))
    return rows


def write_bad_files(path: str | os.PathLike, reports: Iterable[SkipReport]) -> Path:
    """Write every bad file of ``reports`` to the table ``path`` (atomically: a reader never sees
    half a table) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(COLUMNS), *("\t".join(row) for row in bad_file_rows(reports))]
    partial = path.with_name(f".{path.name}.tmp")
    partial.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path


def bad_files_summary(
    reports: Iterable[SkipReport], report_file: str | os.PathLike | None, examples: int = SCREEN_EXAMPLES
) -> str:
    """A few lines for the screen: per report its count of bad files by reason, the first
    ``examples`` messages of each reason, then where the table of every bad file is.

    The number of lines is bounded by the reasons met (one line per report, at most ``examples + 1``
    per reason, one for the table), never by the number of bad files.
    """
    lines = []
    for report in reports:
        if not report.failed_count:
            continue
        of = f" of {report.seen}" if report.seen >= report.failed_count else ""
        counts = Counter(report.counts)
        by_reason = ", ".join(f"{reason} {count}" for reason, count in counts.most_common())
        lines.append(f"data: {report.source or 'data'}: {report.failed_count}{of} bad ({by_reason})")
        for reason, _ in counts.most_common():
            shown = report.examples.get(reason, [])[:examples]
            lines.extend(f"    {reason}: {_cell(message)}" for _, message in shown)
            if report.counts[reason] > len(shown):
                lines.append(f"    {reason}: ... {report.counts[reason] - len(shown)} more")
    if lines and report_file is not None:
        lines.append(f"data: every bad file, with its reason: {report_file}")
    return "\n".join(lines)


__all__ = ["BAD_FILES_NAME", "bad_file_rows", "bad_files_summary", "write_bad_files"]
