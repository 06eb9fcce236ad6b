"""``DemoRun``: the state the demo's steps share (its own module, so the steps and ``demo`` both
import it and neither imports the other)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wav2vec_hf.recipes.demo_steps.scales import DEFAULT_SCALE, DemoScale, get_scale


@dataclass
class DemoRun:
    """State shared by the demo's steps.

    Attributes:
        output_dir: where everything is written.
        options: the command-line options (scale, device, seeds, sizes, switches).
        results: what each step reports, by step title (written to ``results.json``).
        state: objects handed from step to step (folders, scores); not written.
    """

    output_dir: Path
    options: dict[str, Any]
    results: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def corpus_dir(self) -> Path:
        """The built-in corpus folder."""
        return self.output_dir / "corpus"

    @property
    def scale(self) -> DemoScale:
        """The demo's sizes (``--scale``)."""
        return get_scale(self.options.get("scale") or DEFAULT_SCALE)

    @property
    def device(self) -> str:
        """``cpu`` or ``cuda``."""
        return self.options.get("device") or "cpu"

    @property
    def seeds(self) -> list[int]:
        """Fine-tuning seeds: ``--seeds N`` gives 0 .. N-1."""
        return list(range(int(self.options.get("seeds") or 2)))

    def minutes(self, split: str) -> float:
        """A corpus split's minutes: the command-line override, else the scale's."""
        value = self.options.get(f"{split}_minutes")
        return float(value) if value is not None else getattr(self.scale, f"{split}_minutes")


__all__ = ["DemoRun"]
