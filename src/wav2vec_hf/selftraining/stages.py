"""Resumable stages: each writes into its own folder and finishes by writing a marker file atomically.

A stage is finished when ``<folder>/STAGE_DONE.json`` exists; the marker holds the stage's summary
(what later stages and the results table need) and its wall time. A rerun returns the stored summary
without calling the stage again. A folder without the marker is left over from an interrupted run:
it is deleted and the stage runs from the start, so a killed run never mixes old and new files.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wav2vec_hf.json_files import write_json

logger = logging.getLogger(__name__)

MARKER_FILE = "STAGE_DONE.json"


class StopAfterStage(Exception):
    """Raised inside ``run_self_training`` after the stage named by ``stop_after`` finished."""


@dataclass
class StageRunner:
    """Runs named stages under ``root``, skipping finished ones.

    Attributes:
        root: the run's output folder; stage ``"round-1/decode"`` lives in ``root/round-1/decode``.
        stop_after: name of a stage after which ``StopAfterStage`` is raised (for interrupted runs).
        ran: names of the stages computed by this runner (in order).
        skipped: names of the stages found finished and not recomputed.
    """

    root: Path
    stop_after: str | None = None
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def folder(self, name: str) -> Path:
        return self.root / name

    def is_done(self, name: str) -> bool:
        return (self.folder(name) / MARKER_FILE).is_file()

    def run(self, name: str, stage: Callable[[Path], dict], *, resumable: bool = False) -> dict:
        """The summary of stage ``name``: read from its marker, or computed by ``stage(folder)``.

        ``stage`` gets an empty folder and returns a JSON-ready dict (its summary). A ``resumable``
        stage (fine-tuning: it continues from its own checkpoints) gets the unfinished output of an
        interrupted run back instead.
        """
        folder = self.folder(name)
        marker = folder / MARKER_FILE
        if marker.is_file():
            stored = json.loads(marker.read_text(encoding="utf-8"))
            self.skipped.append(name)
            logger.info("stage %s: finished earlier (%s), skipped", name, marker)
            return stored["summary"]
        if folder.exists() and resumable:
            logger.warning(
                "stage %s: continuing the unfinished output of an interrupted run in %s", name, folder
            )
        elif folder.exists():
            logger.warning(
                "stage %s: removing the unfinished output of an interrupted run in %s", name, folder
            )
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        logger.info("stage %s: running", name)
        summary = stage(folder)
        seconds = time.perf_counter() - started
        write_json(marker, {"stage": name, "seconds": seconds, "finished": time.time(), "summary": summary})
        self.ran.append(name)
        logger.info("stage %s: done in %.1f s", name, seconds)
        if self.stop_after == name:
            raise StopAfterStage(name)
        return summary

    def summary(self, name: str) -> dict | None:
        """The stored summary of a finished stage, else ``None``."""
        marker = self.folder(name) / MARKER_FILE
        if not marker.is_file():
            return None
        return json.loads(marker.read_text(encoding="utf-8"))["summary"]

    def seconds(self, name: str) -> float | None:
        """Wall time of a finished stage (from its marker), else ``None``."""
        marker = self.folder(name) / MARKER_FILE
        if not marker.is_file():
            return None
        return float(json.loads(marker.read_text(encoding="utf-8"))["seconds"])


__all__ = ["MARKER_FILE", "StageRunner", "StopAfterStage", "write_json"]
