"""Shared pieces of the pretraining-loop tests: the tiny corpus (built once per session folder) and
``run`` (one loop run with Accelerate's process-wide state reset afterwards)."""

from __future__ import annotations

from pathlib import Path

from wav2vec_hf.pretraining.arguments import parse_arguments
from wav2vec_hf.pretraining.loop import run_pretraining

_CORPORA: dict[Path, Path] = {}


def build_tiny_corpus(base: Path) -> Path:
    """The built-in corpus with 3 min of unlabelled and 0.5 min of dev speech under ``base`` (cached)."""
    from wav2vec_hf.recipes.corpus import build_corpus

    base = Path(base)
    if base not in _CORPORA:
        _CORPORA[base] = build_corpus(
            base / "pretraining-corpus",
            unlabeled_minutes=3.0,
            labeled_minutes=0.1,
            dev_minutes=0.5,
            test_minutes=0.1,
            lm_sentences=10,
            progress=False,
        ).root
    return _CORPORA[base]


def combined_table(corpus: Path, real: Path, target: Path) -> Path:
    """One unlabelled table: the corpus's unlabelled split and the real unlabelled set (absolute paths)."""
    rows = ["path\tnum_samples\tsample_rate"]
    lines = (corpus / "unlabeled.tsv").read_text().splitlines()
    root = Path(lines[0])
    for line in lines[1:]:
        relative, frames = line.split("\t")[:2]
        rows.append(f"{root / relative}\t{frames}\t16000")
    header, *real_rows = (real / "unlabeled.tsv").read_text().splitlines()
    columns = header.split("\t")
    for line in real_rows:
        row = dict(zip(columns, line.split("\t")))
        rows.append(f"{real / row['path']}\t{row['num_samples']}\t{row['sample_rate']}")
    target.write_text("\n".join(rows) + "\n")
    return target


def run(argv: list[str]):
    """``run_pretraining(parse_arguments(argv))`` with the Hub publisher wired as the ``pretrain``
    command wires it, then reset Accelerate's singletons for the next run."""
    from accelerate.state import AcceleratorState, GradientState

    from wav2vec_hf.hub.export_publisher import publisher_for

    try:
        return run_pretraining(parse_arguments(argv), export_publisher=publisher_for)
    finally:
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
