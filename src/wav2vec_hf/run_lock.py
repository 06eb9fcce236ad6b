"""One run per output folder: the lock file that ``pretrain``, ``finetune``, ``self-train``, ``demo``
and ``build-lm`` hold on their output folder while they run.

Two runs writing into one folder destroy each other quietly (one reports the other's checkpoint as
its own result, one unlinks the other's ``metrics.jsonl``, a checkpoint rename fails half-way). So a
command takes ``OUTPUT/.wav2vec-hf.lock`` before it writes anything: the file is created atomically
(``O_CREAT | O_EXCL``) and holds the owner as JSON (pid, host, command line, start time). A second run
finds it and is refused with one line naming the owner and the fix; nothing of the first run is
touched. The lock is removed when the command ends, also on an error. A run killed with ``kill -9``
leaves the file behind: the next run on the same host sees that its pid is gone (or now belongs to a
younger process), says so and takes the lock over. A lock written on another host cannot be checked;
the message says which file to delete once that run is known to be over.

The lock lives in the command layer (``wav2vec_hf.commands``), not in the library functions
(``run_pretraining``, ``finetune_ctc``, ``run_self_training``, ``build_lm``, ``run_demo``): those are
called by the demo and by self-training on sub-folders of their own run, and by users' scripts, which
decide for themselves what a "run" is. Library callers who want the same guarantee use
``hold_run_lock`` around their call.

Multi-process runs (``torchrun`` / ``accelerate launch``) start one process per rank, all in one
output folder: only the main process (``RANK`` 0, or ``LOCAL_RANK`` 0 when ``RANK`` is unset) takes the
lock; the other ranks take none, so a run never refuses its own ranks.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from wav2vec_hf.errors import Wav2VecHFError

LOCK_NAME = ".wav2vec-hf.lock"
# A takeover of a stale lock is itself guarded by this file, so that two runs finding the same stale
# lock at once cannot both take it (the second would delete the first's fresh lock).
_TAKEOVER_SUFFIX = ".takeover"
_TAKEOVER_STALE_SECONDS = 30.0
# A lock file is created empty and filled at once: a reader that finds it empty waits this long.
_UNREADABLE_WAIT_SECONDS = 2.0

# Folders this process holds (resolved path -> [token, depth]): taking one again is allowed (nested).
_HELD: dict[Path, list] = {}


class RunLockError(Wav2VecHFError, RuntimeError):
    """The output folder is in use by another run (or its lock file cannot be read or written)."""


@dataclass(frozen=True)
class LockOwner:
    """What a lock file says about the run holding it."""

    pid: int | None
    host: str | None
    command: str | None
    started: str | None
    process_start: int | None = None
    token: str | None = None

    @property
    def who(self) -> str:
        """``pid@host, since START``."""
        since = f", since {self.started}" if self.started else ""
        return f"pid {self.pid}@{self.host}{since}"

    def is_stale(self) -> bool:
        """True when the owner is known to be gone: same host and its pid is not alive (or is reused)."""
        if self.pid is None or self.host != socket.gethostname():
            return False
        if not _pid_alive(self.pid):
            return True
        return self.process_start is not None and _process_start(self.pid) not in (None, self.process_start)


@dataclass
class RunLock:
    """A held lock (``path`` is None for a rank that is not the main process: it holds nothing)."""

    folder: Path
    path: Path | None
    token: str | None = None
    took_over: LockOwner | None = None


def is_main_process() -> bool:
    """False only in the non-main ranks of a ``torchrun`` / ``accelerate launch`` run (``RANK`` or
    ``LOCAL_RANK`` set and not 0)."""
    for variable in ("RANK", "LOCAL_RANK"):
        value = os.environ.get(variable)
        if value not in (None, ""):
            try:
                return int(value) == 0
            except ValueError:
                return True
    return True


def read_lock(folder: str | Path) -> LockOwner | None:
    """The owner recorded in ``folder``'s lock file; None when there is no lock file.

    Raises:
        RunLockError: the file exists but does not hold a lock record (after a short wait, as a
            lock being created is empty for a moment).
    """
    path = Path(folder) / LOCK_NAME
    deadline = time.monotonic() + _UNREADABLE_WAIT_SECONDS
    while True:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise RunLockError(
                f"{path}: cannot read this run lock ({error}); if no run is using {path.parent}, delete it"
            ) from error
        try:
            record = json.loads(text)
            if not isinstance(record, dict):
                raise ValueError("not an object")
            return LockOwner(
                pid=int(record["pid"]) if record.get("pid") is not None else None,
                host=record.get("host"),
                command=record.get("command"),
                started=record.get("started"),
                process_start=record.get("process_start"),
                token=record.get("token"),
            )
        except (ValueError, TypeError, KeyError):
            if time.monotonic() >= deadline:
                raise RunLockError(
                    f"{path}: this run lock is not a lock record; if no run is using {path.parent}, delete it"
                ) from None
            time.sleep(0.1)


def acquire_run_lock(folder: str | Path, command: str | None = None, *, create: bool = True) -> RunLock:
    """Take ``folder``'s run lock (creating ``folder``); see the module docstring.

    Args:
        folder: the run's output folder.
        command: what to record as the owner's command (default: this process's command line).
        create: create ``folder`` if missing; when False, a missing folder is not locked (the
            command reports it missing in its own words).

    Returns:
        The held lock, for ``release_run_lock``. In a non-main rank: a lock that holds nothing.

    Raises:
        RunLockError: another run holds the folder; the message names it and the fix.
    """
    folder = Path(folder)
    if not is_main_process() or (not create and not folder.is_dir()):
        return RunLock(folder=folder, path=None)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunLockError(f"output folder {folder}: cannot create it ({error})") from error
    key = folder.resolve()
    if key in _HELD:  # this process holds it already (a command calling another in-process)
        _HELD[key][1] += 1
        return RunLock(folder=folder, path=folder / LOCK_NAME, token=_HELD[key][0])
    path = folder / LOCK_NAME
    token = uuid.uuid4().hex
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": command if command is not None else shlex.join(sys.argv),
        "started": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
        "process_start": _process_start(os.getpid()),
        "token": token,
    }
    took_over = None
    for _ in range(5):
        if _create_exclusive(path, json.dumps(record, indent=1) + "\n"):
            _HELD[key] = [token, 1]
            return RunLock(folder=folder, path=path, token=token, took_over=took_over)
        owner = read_lock(folder)
        if owner is None:  # released between our try and our read: try again
            continue
        if not owner.is_stale():
            raise RunLockError(_busy_message(folder, owner))
        if _remove_stale(path, owner):
            took_over = owner
    raise RunLockError(
        f"{path}: could not take this run lock (it keeps changing hands); is another run starting in "
        f"{folder}? Wait for it, or choose another output folder"
    )


def release_run_lock(lock: RunLock) -> None:
    """Remove the lock file if this process still owns it (a lock taken over by another run stays)."""
    if lock.path is None:
        return
    key = lock.folder.resolve()
    held = _HELD.get(key)
    if held is not None:
        held[1] -= 1
        if held[1] > 0:
            return
        del _HELD[key]
    try:
        owner = read_lock(lock.folder)
    except RunLockError:
        return
    if owner is not None and owner.token == lock.token:
        with contextlib.suppress(FileNotFoundError):
            lock.path.unlink()


@contextlib.contextmanager
def hold_run_lock(
    folder: str | Path, command: str | None = None, prog: str | None = None, *, create: bool = True
) -> Iterator[RunLock]:
    """``with hold_run_lock(output_dir): ...``: hold the folder's run lock for the block.

    A stale lock that is taken over is reported on stderr (prefixed with ``prog``).
    """
    lock = acquire_run_lock(folder, command=command, create=create)
    if lock.took_over is not None:
        prefix = f"{prog}: " if prog else ""
        print(
            f"{prefix}note: {lock.path} was left by a run that is no longer running "
            f"({lock.took_over.who}); taking it over",
            file=sys.stderr,
        )
    try:
        yield lock
    finally:
        release_run_lock(lock)


def _busy_message(folder: Path, owner: LockOwner) -> str:
    command = f" ({owner.command})" if owner.command else ""
    fix = "wait for it to end or choose another output folder"
    if owner.host != socket.gethostname():  # its pid cannot be checked from here
        fix += f"; if that run is over, delete {folder / LOCK_NAME}"
    return f"output folder {folder} is in use by another run: {owner.who}{command}; {fix}"


def _create_exclusive(path: Path, content: str) -> bool:
    """Create ``path`` with ``content`` if it does not exist; False if it does."""
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError as error:
        raise RunLockError(
            f"{path}: cannot create the run lock ({error}); is {path.parent} writable?"
        ) from error
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content)
    return True


def _remove_stale(path: Path, owner: LockOwner) -> bool:
    """Delete ``path`` if it still holds the stale ``owner``'s record; True if this call deleted it."""
    guard = path.with_name(path.name + _TAKEOVER_SUFFIX)
    if not _create_exclusive(guard, str(os.getpid())):
        with contextlib.suppress(OSError):  # a takeover killed half-way leaves its guard behind
            if time.time() - guard.stat().st_mtime > _TAKEOVER_STALE_SECONDS:
                guard.unlink()
        time.sleep(0.1)
        return False
    try:
        current = read_lock(path.parent)
        if current is None or current != owner:  # someone else took it over meanwhile
            return False
        path.unlink()
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            guard.unlink()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OSError:
        return True
    return True


def _process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``); None where unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:  # the command name (field 2) may hold spaces and parentheses: split after the last ")"
        return int(text[text.rindex(")") + 2 :].split()[19])
    except (ValueError, IndexError):
        return None


__all__ = [
    "LOCK_NAME",
    "LockOwner",
    "RunLock",
    "RunLockError",
    "acquire_run_lock",
    "hold_run_lock",
    "is_main_process",
    "read_lock",
    "release_run_lock",
]
