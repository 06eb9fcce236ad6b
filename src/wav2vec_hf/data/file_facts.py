"""What validation learnt about each audio file, kept between runs: ``FileFacts``.

Validating a corpus reads every file's header (about 0.17 ms of CPU per file) and, for sets up to
``decode_limit_hours``, decodes every file. The facts it learns do not depend on the rules they are
judged by, only on the file, so they are stored per file and reused by the next run, by the other
ranks of this one, and under other rules (a new ``min_samples`` re-judges, it does not re-read):

* the header: frames, rate, channels, format, subtype, declared frames; or the ``AudioError`` that
  reading it raised (reason and message);
* the decode check: the frames that decode, or the ``AudioError`` decoding raised.

A fact is reused only while the file has the size and modification time (ns) it had when the fact
was learnt (``os.stat``: a few microseconds per file). A file modified within ``RACY_SECONDS`` of
the moment the facts are saved is not stored: a later change inside the same timestamp tick could
not be seen (git's "racily clean" rule). Missing files are never stored.

Storage: one ``.npz`` file per list of paths (named by a digest of the absolute paths, in order) in
the cache folder: ``$WAV2VEC_HF_VALIDATION_CACHE`` if set (``off`` disables it), else
``$WAV2VEC_HF_CACHE/validation``, else ``~/.cache/wav2vec_hf/validation``. Numbers are arrays (about
50 bytes per file); messages of bad files are one JSON string. The file is written to a temporary
name and renamed, so a reader (another rank) sees the old facts or the new ones, never half.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wav2vec_hf.data.audio import AudioError, AudioInfo

logger = logging.getLogger(__name__)

CACHE_ENV = "WAV2VEC_HF_VALIDATION_CACHE"
"""Environment variable: the cache folder, or ``off`` (also ``0``, ``false``, ``no``) to disable it."""
RACY_SECONDS = 2.0
"""Files modified this close to saving are not stored (their timestamp could hide a later change)."""
FORMAT_VERSION = 1

_UNKNOWN, _KNOWN, _ERROR = 0, 1, 2
_OFF = {"off", "0", "false", "no", "none", ""}


def default_cache_folder() -> Path | None:
    """The folder ``open_audio_source`` keeps file facts in (``None``: disabled), from the environment."""
    configured = os.environ.get(CACHE_ENV)
    if configured is not None:
        return None if configured.strip().lower() in _OFF else Path(configured).expanduser()
    base = os.environ.get("WAV2VEC_HF_CACHE")
    if base:
        return Path(base).expanduser() / "validation"
    return (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser()
        / "wav2vec_hf"
        / "validation"
    )


def resolve_cache_folder(cache: bool | str | os.PathLike[str] | None) -> Path | None:
    """``open_audio_source``'s ``validation_cache`` argument as a folder (``None``: no cache).

    ``None`` / ``True``: the default folder (``default_cache_folder``); ``False``: no cache; a path: that folder.
    """
    if cache is None or cache is True:
        return default_cache_folder()
    if cache is False:
        return None
    return Path(cache).expanduser()


def _stat(path: str) -> tuple[int, int]:
    try:
        stat = os.stat(path)
    except OSError:
        return -1, -1
    return stat.st_size, stat.st_mtime_ns


class FileFacts:
    """Header and decode facts of an ordered list of files, loaded from and saved to a cache folder.

    Entries are addressed by their index in ``paths``. Every lookup returns ``None`` when the fact
    is not known for the file as it is now (never learnt, or the file changed since).

    Args:
        paths: the files, in a fixed order (a manifest's).
        folder: the cache folder (created on ``save``).
    """

    def __init__(self, paths: Sequence[str], folder: str | os.PathLike[str]) -> None:
        self.paths = [os.path.abspath(path) for path in paths]
        digest = hashlib.sha256("\0".join(self.paths).encode("utf-8", "surrogateescape")).hexdigest()[:32]
        self.file = Path(folder) / f"{digest}.npz"
        n = len(self.paths)
        stats = [_stat(path) for path in self.paths]  # a few microseconds each: threads would cost more
        self.size = np.array([s for s, _ in stats], dtype=np.int64).reshape(n)
        self.mtime_ns = np.array([m for _, m in stats], dtype=np.int64).reshape(n)
        self._header_state = np.zeros(n, dtype=np.int8)
        self._frames = np.zeros(n, dtype=np.int64)
        self._rate = np.zeros(n, dtype=np.int32)
        self._channels = np.zeros(n, dtype=np.int16)
        self._declared = np.full(n, -1, dtype=np.int64)
        self._kind = np.zeros(n, dtype=np.int32)  # index into self._kinds: (format, subtype)
        self._kinds: list[tuple[str, str]] = []
        self._decode_state = np.zeros(n, dtype=np.int8)
        self._held = np.zeros(n, dtype=np.int64)
        self._errors: dict[str, list[str]] = {}  # "h<i>" / "d<i>" -> [path, reason, message]
        self.reused = 0
        self._lock = threading.Lock()  # validation asks from several threads: counter and kind table
        self._changed = False
        self._load()

    # ---------------------------------------------------------------- lookups

    def all_headers_known(self) -> bool:
        """Whether every file's header (or header error) is known: validation reads no file."""
        return bool(np.all(self._header_state != _UNKNOWN))

    def header(self, index: int) -> AudioInfo | AudioError | None:
        """The header of file ``index`` (or the error reading it raised), if known for the file as it is."""
        state = self._header_state[index]
        if state == _KNOWN:
            self._count_reuse()
            form, subtype = self._kinds[self._kind[index]]
            declared = int(self._declared[index])
            return AudioInfo(
                frames=int(self._frames[index]),
                sample_rate=int(self._rate[index]),
                channels=int(self._channels[index]),
                format=form,
                subtype=subtype,
                declared_frames=None if declared < 0 else declared,
            )
        if state == _ERROR:
            self._count_reuse()
            return self._error(f"h{index}")
        return None

    def decoded(self, index: int) -> int | AudioError | None:
        """The frames file ``index`` decodes to (or the error decoding raised), if known for the file as it is."""
        state = self._decode_state[index]
        if state == _KNOWN:
            return int(self._held[index])
        if state == _ERROR:
            return self._error(f"d{index}")
        return None

    def _count_reuse(self) -> None:
        with self._lock:
            self.reused += 1

    def _error(self, key: str) -> AudioError:
        path, reason, message = self._errors[key]
        if path:
            return AudioError(path, reason, message)
        error = AudioError(message)
        error.reason = reason
        return error

    # ---------------------------------------------------------------- learning

    def learn_header(self, index: int, fact: AudioInfo | AudioError) -> None:
        """Remember the header of file ``index`` (or the error reading it raised)."""
        if self.size[index] < 0:
            return  # missing (or not stat-able): nothing to key the fact on
        if isinstance(fact, AudioError):
            self._header_state[index] = _ERROR
            self._errors[f"h{index}"] = _error_parts(fact)
        else:
            self._header_state[index] = _KNOWN
            self._frames[index] = fact.frames
            self._rate[index] = fact.sample_rate
            self._channels[index] = fact.channels
            self._declared[index] = -1 if fact.declared_frames is None else fact.declared_frames
            kind = (fact.format, fact.subtype)
            with self._lock:
                if kind not in self._kinds:
                    self._kinds.append(kind)
                self._kind[index] = self._kinds.index(kind)
        self._changed = True

    def learn_decoded(self, index: int, fact: int | AudioError) -> None:
        """Remember what decoding file ``index`` gave: its frame count, or the error it raised."""
        if self.size[index] < 0:
            return
        if isinstance(fact, AudioError):
            self._decode_state[index] = _ERROR
            self._errors[f"d{index}"] = _error_parts(fact)
        else:
            self._decode_state[index] = _KNOWN
            self._held[index] = int(fact)
        self._changed = True

    # ---------------------------------------------------------------- storage

    def _load(self) -> None:
        try:
            if not self.file.is_file():
                return
            with np.load(self.file, allow_pickle=False) as stored:
                if int(stored["version"]) != FORMAT_VERSION or stored["size"].shape != self.size.shape:
                    return
                fresh = (
                    (stored["size"] == self.size) & (stored["mtime_ns"] == self.mtime_ns) & (self.size >= 0)
                )
                self._header_state = np.where(fresh, stored["header_state"], _UNKNOWN).astype(np.int8)
                self._decode_state = np.where(fresh, stored["decode_state"], _UNKNOWN).astype(np.int8)
                self._frames = stored["frames"].copy()
                self._rate = stored["rate"].copy()
                self._channels = stored["channels"].copy()
                self._declared = stored["declared"].copy()
                self._kind = stored["kind"].copy()
                self._held = stored["held"].copy()
                extra = json.loads(str(stored["extra"]))
        except (OSError, ValueError, KeyError) as error:  # unreadable or another version's layout
            logger.warning(
                "%s: validation cache not readable (%s); validating from scratch.", self.file, error
            )
            self._header_state[:] = _UNKNOWN
            self._decode_state[:] = _UNKNOWN
            return
        self._kinds = [tuple(kind) for kind in extra["kinds"]]
        self._errors = {
            key: parts
            for key, parts in extra["errors"].items()
            if (self._header_state if key[0] == "h" else self._decode_state)[int(key[1:])] == _ERROR
        }

    def save(self) -> Path | None:
        """Write the facts (atomically) when something new was learnt; returns the file, or ``None``.

        Facts of files modified within ``RACY_SECONDS`` of now are left out (see the module docstring).
        A cache folder that cannot be written is a warning, never an error: validation has its answer.
        """
        if not self._changed:
            return None
        racy = self.mtime_ns >= time.time_ns() - int(RACY_SECONDS * 1e9)
        header_state = np.where(racy, _UNKNOWN, self._header_state).astype(np.int8)
        decode_state = np.where(racy, _UNKNOWN, self._decode_state).astype(np.int8)
        errors = {
            key: parts
            for key, parts in self._errors.items()
            if (header_state if key[0] == "h" else decode_state)[int(key[1:])] == _ERROR
        }
        extra = json.dumps({"kinds": self._kinds, "errors": errors})
        partial = self.file.with_name(f".{self.file.stem}.partial-{os.getpid()}.npz")
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            np.savez(
                partial,
                version=np.int64(FORMAT_VERSION),
                size=self.size,
                mtime_ns=self.mtime_ns,
                header_state=header_state,
                decode_state=decode_state,
                frames=self._frames,
                rate=self._rate,
                channels=self._channels,
                declared=self._declared,
                kind=self._kind,
                held=self._held,
                extra=np.array(extra),
            )
            os.replace(partial, self.file)
        except OSError as error:
            logger.warning(
                "validation cache %s not written (%s); the next run validates again.", self.file, error
            )
            with contextlib.suppress(OSError):  # a folder we may not even look into: nothing of ours there
                partial.unlink(missing_ok=True)
            return None
        self._changed = False
        return self.file


def _error_parts(error: AudioError) -> list[str]:
    """``[path, reason, message]`` that rebuild ``error`` (message without the ``path: `` prefix)."""
    text = str(error)
    prefix = f"{error.path}: "
    if error.path and text.startswith(prefix):
        return [error.path, error.reason, text[len(prefix) :]]
    return ["", error.reason, text]


__all__ = ["CACHE_ENV", "FileFacts", "default_cache_folder", "resolve_cache_folder"]
