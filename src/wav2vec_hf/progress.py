"""Progress bars for the long steps of the commands (logits of a set, beam search, LM weight search).

One rule for every bar: library functions take ``progress: bool = False`` and draw nothing unless the
caller asks (tests and callers that parse the output stay clean); the commands pass ``progress=True``,
and even then a bar is drawn only when stderr is a terminal (tqdm's ``disable=None``), so logs and
pipes get no carriage-return noise.
"""

from __future__ import annotations


def progress_bar(*, total: float | None, desc: str, unit: str, enabled: bool = False, **options):
    """A tqdm bar on stderr, shown only when ``enabled`` and stderr is a terminal.

    Args:
        total: the amount of work (``unit``s), or ``None`` when unknown.
        desc: what is being done, e.g. ``"logits"`` (shown before the bar).
        unit: what is counted, e.g. ``"utt"`` or ``"frame"``.
        enabled: draw it at all; ``False`` gives a silent bar whose ``update`` and ``close`` do nothing.
        options: more tqdm options (``unit_scale``, ``postfix``...).

    Use it as a context manager (``with progress_bar(...) as bar:``) or ``close`` it.
    """
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=None if enabled else True,  # None: tqdm disables itself when stderr is no terminal
        dynamic_ncols=True,
        **options,
    )


__all__ = ["progress_bar"]
